/**
 * Peak-EWMA latency estimation, after Finagle's `PeakEwma` load metric and tower's
 * `PeakEwma` (Linkerd): the estimate jumps up to any larger sample at once, and otherwise moves
 * toward samples with weight `1 - exp(-Δt/τ)`; between samples it decays toward zero with the
 * same time constant, so an endpoint that stopped being picked is eventually probed again.
 *
 * Times and latencies are milliseconds; an estimate of `-1` means "no sample yet".
 */

/** The estimate after a sample `rtt` observed at `now`. */
export const observe = (estimate: number, stamp: number, rtt: number, now: number, tau: number): number => {
  if (estimate < 0 || rtt > estimate) return rtt
  const w = Math.exp(-Math.max(now - stamp, 0) / tau)
  return estimate * w + rtt * (1 - w)
}

/** The estimate as seen at `now`, decayed toward zero since `stamp`; `fallback` when unmeasured. */
export const current = (estimate: number, stamp: number, now: number, tau: number, fallback: number): number =>
  estimate < 0 ? fallback : estimate * Math.exp(-Math.max(now - stamp, 0) / tau)
