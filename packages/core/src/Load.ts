/**
 * Load metrics: how loaded an endpoint is, kept apart from how an endpoint is chosen (tower's
 * `load` beside its `balance`; Finagle's `Balancer with PeakEwma with P2C`). A metric keeps one
 * number per slot, `slot.cost` (lower is better), which the balancer refreshes whenever what it
 * depends on changes — a request acquired or released, a latency sample recorded — so a picker
 * compares two numbers and reads no clock. `LeastPending` and `PeakEwma` are power of two choices
 * over these costs, and the panic mode of `OutlierDetection` uses the policy's metric too.
 *
 * **Details**
 *
 * - {@link pending}: requests in flight (nntp-proxy's pending counts; tower's `PendingRequests`).
 * - {@link peakEwma}: the peak-EWMA latency estimate × (pending + 1) (Finagle's and tower's
 *   `PeakEwma`). The balancer keeps the estimate in the slot (`latency`, `stamp`), with the
 *   metric's `decayMillis` as time constant. The cost stored is the logarithm of the estimate
 *   undecayed to a fixed epoch, plus `ln(pending + 1)`: since every estimate decays by the same
 *   factor between two moments, comparing two stored costs compares the two real costs at any
 *   moment, without reading the clock or computing an `exp` per pick.
 *
 * @stability experimental
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as ewma from "./internal/ewma.ts"
import * as option from "./internal/option.ts"
import type * as Options from "./Options.ts"
import * as Policy from "./Policy.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * A load metric.
 *
 * @category models
 * @since 0.1.0
 */
export interface Load {
  readonly name: string
  /** The time constant of the latency estimate the balancer keeps in each slot, in ms. */
  readonly decayMillis: number
  /** Refreshes `slot.cost` from the slot's pending count and latency estimate. Allocation-free. */
  readonly update: (slot: Policy.Slot) => void
  /** The slot's load at `now` (ms of `Clock`), in {@link Load.unit}: for explanations and snapshots. */
  readonly current: (slot: Policy.Slot, now: number) => number
  /** What {@link Load.current} measures, for explanations. */
  readonly unit: string
  /** Set when the metric was built from invalid options (a policy over it refuses to start). */
  readonly error?: Options.OptionError | undefined
}

/**
 * The time constant of the latency estimate for metrics that do not set one: 10 s (Finagle).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultDecay: Duration.Duration = Duration.seconds(10)

/**
 * The latency assumed for an endpoint with no sample yet: 30 ms (tower / Linkerd `DEFAULT_RTT`).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultLatency: Duration.Duration = Duration.millis(30)

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Requests in flight through the balancer.
 *
 * @category constructors
 * @since 0.1.0
 */
export const pending: Load = {
  name: "pending",
  decayMillis: Duration.toMillis(defaultDecay),
  update: (slot) => {
    slot.cost = slot.pending
  },
  current: (slot) => slot.pending,
  unit: "pending requests"
}

/**
 * Peak-EWMA latency × (pending + 1).
 *
 * **Details**
 *
 * - The estimate jumps at once to any sample larger than itself and otherwise moves toward samples
 *   with weight `1 − exp(−Δt/τ)`; between samples it decays toward zero with the same time
 *   constant, so an endpoint that stopped getting traffic because it was slow is tried again
 *   after a while (Finagle's behaviour).
 * - `decay` (τ) defaults to **10 seconds** (Finagle, Linkerd). An endpoint with no sample yet
 *   starts at `defaultLatency` (**30 ms**, tower's and Linkerd's `DEFAULT_RTT`), stamped when it
 *   joined, and that start decays like a sample (tower's `RttEstimate`).
 * - Invalid options (`decay` not a finite duration > 0, `defaultLatency` not a finite duration ≥ 0)
 *   give a metric whose `error` makes a policy over it refuse to start.
 *
 * @category constructors
 * @since 0.1.0
 */
export const peakEwma = (options?: {
  readonly decay?: Duration.Input | undefined
  readonly defaultLatency?: Duration.Input | undefined
}): Load => {
  const tau = option.millis("decay", options?.decay, Duration.toMillis(defaultDecay), { min: 0, minInclusive: false })
  const fallback = option.millis("defaultLatency", options?.defaultLatency, Duration.toMillis(defaultLatency))
  const invalid = option.isInvalid(tau) ? tau : option.isInvalid(fallback) ? fallback : undefined
  if (invalid !== undefined) {
    const error = option.error("peak-ewma", invalid)
    return { ...pending, name: "peak-ewma", error }
  }
  const t = tau as number
  const start = fallback as number
  return {
    name: "peak-ewma",
    decayMillis: t,
    update: (slot) => {
      const estimate = slot.latency < 0 ? start : slot.latency
      slot.cost = Math.log(estimate) + slot.stamp / t + lnPlusOne(slot.pending)
    },
    current: (slot, now) =>
      ewma.current(slot.latency < 0 ? start : slot.latency, slot.stamp, now, t, start) * (slot.pending + 1),
    unit: `latency estimate (ms) × (pending + 1), τ = ${t} ms`
  }
}

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

/** `ln(1 + p)` for p pending requests: a table read below 4096. */
const lnTable = Float64Array.from({ length: 4096 }, (_, p) => Math.log(1 + p))

const lnPlusOne = (p: number): number => p < 4096 ? lnTable[p]! : Math.log(1 + p)
