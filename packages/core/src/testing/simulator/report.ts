/**
 * Plain-text tables of simulator results, re-exported by `Simulator`.
 */
import type { Report, Row } from "./model.ts"

/**
 * A plain-text table of comparison rows, one block per scenario: p50 / p99 / p999 latency (ms),
 * throughput (requests per second of simulated time), utilisation, p99 relative to the oracle,
 * and each backend's share of the requests (%, in address order).
 *
 * @category running
 * @since 0.1.0
 */
export const format = (rows: ReadonlyArray<Row>): string =>
  table(rows, "policy", [
    ["p50 ms", 8, (r) => fixed(r.latency.p50, 1)],
    ["p99 ms", 8, (r) => fixed(r.latency.p99, 1)],
    ["p999 ms", 8, (r) => fixed(r.latency.p999, 1)],
    ["req/s", 8, (r) => fixed(r.throughput, 0)],
    ["util", 5, (r) => `${fixed(r.utilization * 100, 0)}%`],
    ["p99/oracle", 10, (_, row) => `${fixed(row.p99VsOracle, 3)}×`],
    [" share % by backend", 0, (r) => " " + r.backends.map((b) => fixed(b.share * 100, 1).padStart(4)).join(" ")]
  ])

/**
 * A plain-text table of runs with failures, one block per scenario: the success rate, p50 / p99 /
 * p999 of the successful requests' end-to-end latency (ms), p99 relative to the oracle, tries
 * per request, the retries, hedges and per-try timeouts sent, requests failed for want of a
 * budget token, on the retry policy's deadline or left unanswered, and the share of tries sent to faulty backends.
 *
 * @category running
 * @since 0.1.0
 */
export const formatFailures = (rows: ReadonlyArray<Row>): string =>
  table(rows, "run", [
    ["success %", 9, (r) => fixed(r.successRate * 100, 3)],
    ["p50 ms", 7, (r) => fixed(r.latency.p50, 1)],
    ["p99 ms", 8, (r) => fixed(r.latency.p99, 1)],
    ["p999 ms", 8, (r) => fixed(r.latency.p999, 1)],
    ["p99/oracle", 10, (_, row) => `${fixed(row.p99VsOracle, 3)}×`],
    ["tries/req", 9, (r) => `${fixed(r.tries.amplification, 3)}×`],
    ["retries", 7, (r) => String(r.tries.retries)],
    ["hedges", 7, (r) => String(r.tries.hedges)],
    ["timeouts", 8, (r) => String(r.tries.timeouts)],
    ["no token", 8, (r) => String(r.tries.budgetExhausted)],
    ["deadline", 8, (r) => String(r.tries.deadlines)],
    ["hung", 5, (r) => String(r.tries.unanswered)],
    ["to faulty %", 11, (r) => {
      let picks = 0
      let faulty = 0
      for (const b of r.backends) {
        picks += b.picks
        if (b.failureRate > 0 || b.blackHole) faulty += b.picks
      }
      return fixed(picks > 0 ? faulty / picks * 100 : 0, 2)
    }]
  ])

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

/** A column: its heading, its width (right-aligned; 0 for the last, free one) and its cell. */
type Column = readonly [heading: string, width: number, cell: (report: Report, row: Row) => string]

/** One block per scenario: a title line, the headings, then a line per row. */
const table = (rows: ReadonlyArray<Row>, label: string, columns: ReadonlyArray<Column>): string => {
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
      lines.push([label.padEnd(labelWidth), ...columns.map(([heading, width]) => heading.padStart(width))].join(" "))
    }
    lines.push(
      [row.label.padEnd(labelWidth), ...columns.map(([, width, cell]) => cell(r, row).padStart(width))].join(" ")
    )
  }
  return lines.join("\n")
}

const fixed = (x: number, digits: number): string => Number.isFinite(x) ? x.toFixed(digits) : String(x)
