/**
 * Plain-text tables of simulator results, re-exported by `Simulator`.
 */
import type { Row } from "./model.ts"

/**
 * A plain-text table of comparison rows, one block per scenario: p50 / p99 / p999 latency (ms),
 * throughput (requests per second of simulated time), utilisation, p99 relative to the oracle,
 * and each backend's share of the requests (%, in address order).
 *
 * @category running
 * @since 0.1.0
 */
export const format = (rows: ReadonlyArray<Row>): string => {
  const lines: Array<string> = []
  let scenario: string | undefined
  const labelWidth = Math.max(6, ...rows.map((r) => r.label.length))
  for (const row of rows) {
    const r = row.report
    if (r.scenario !== scenario) {
      scenario = r.scenario
      if (lines.length > 0) lines.push("")
      lines.push(
        `${r.scenario} (seed ${r.seed}; ${fixed(r.window / 1000, 1)} s measured after ${
          fixed(r.warmup / 1000, 1)
        } s warm-up; ${r.backends.length} backends)`
      )
      lines.push(
        [
          "policy".padEnd(labelWidth),
          "p50 ms".padStart(8),
          "p99 ms".padStart(8),
          "p999 ms".padStart(8),
          "req/s".padStart(8),
          "util".padStart(5),
          "p99/oracle".padStart(10),
          " share % by backend"
        ].join(" ")
      )
    }
    lines.push(
      [
        row.label.padEnd(labelWidth),
        fixed(r.latency.p50, 1).padStart(8),
        fixed(r.latency.p99, 1).padStart(8),
        fixed(r.latency.p999, 1).padStart(8),
        fixed(r.throughput, 0).padStart(8),
        `${fixed(r.utilization * 100, 0)}%`.padStart(5),
        `${fixed(row.p99VsOracle, 3)}×`.padStart(10),
        " " + r.backends.map((b) => fixed(b.share * 100, 1).padStart(4)).join(" ")
      ].join(" ")
    )
  }
  return lines.join("\n")
}

/**
 * A plain-text table of runs with failures, one block per scenario: the success rate, p50 / p99 /
 * p999 of the successful requests' end-to-end latency (ms), p99 relative to the oracle, tries
 * per request, the retries, hedges and per-try timeouts sent, requests failed for want of a
 * budget token or left unanswered, and the share of tries sent to faulty backends.
 *
 * @category running
 * @since 0.1.0
 */
export const formatFailures = (rows: ReadonlyArray<Row>): string => {
  const lines: Array<string> = []
  let scenario: string | undefined
  const labelWidth = Math.max(6, ...rows.map((r) => r.label.length))
  for (const row of rows) {
    const r = row.report
    if (r.scenario !== scenario) {
      scenario = r.scenario
      if (lines.length > 0) lines.push("")
      lines.push(
        `${r.scenario} (seed ${r.seed}; ${fixed(r.window / 1000, 1)} s measured after ${
          fixed(r.warmup / 1000, 1)
        } s warm-up; ${r.backends.length} backends)`
      )
      lines.push(
        [
          "run".padEnd(labelWidth),
          "success %".padStart(9),
          "p50 ms".padStart(7),
          "p99 ms".padStart(8),
          "p999 ms".padStart(8),
          "p99/oracle".padStart(10),
          "tries/req".padStart(9),
          "retries".padStart(7),
          "hedges".padStart(7),
          "timeouts".padStart(8),
          "no token".padStart(8),
          "hung".padStart(5),
          "to faulty %".padStart(11)
        ].join(" ")
      )
    }
    let picks = 0
    let faulty = 0
    for (const b of r.backends) {
      picks += b.picks
      if (b.failureRate > 0 || b.blackHole) faulty += b.picks
    }
    lines.push(
      [
        row.label.padEnd(labelWidth),
        fixed(r.successRate * 100, 3).padStart(9),
        fixed(r.latency.p50, 1).padStart(7),
        fixed(r.latency.p99, 1).padStart(8),
        fixed(r.latency.p999, 1).padStart(8),
        `${fixed(row.p99VsOracle, 3)}×`.padStart(10),
        `${fixed(r.tries.amplification, 3)}×`.padStart(9),
        String(r.tries.retries).padStart(7),
        String(r.tries.hedges).padStart(7),
        String(r.tries.timeouts).padStart(8),
        String(r.tries.budgetExhausted).padStart(8),
        String(r.tries.unanswered).padStart(5),
        fixed(picks > 0 ? faulty / picks * 100 : 0, 2).padStart(11)
      ].join(" ")
    )
  }
  return lines.join("\n")
}

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

const fixed = (x: number, digits: number): string => Number.isFinite(x) ? x.toFixed(digits) : String(x)
