/**
 * How long one `balancer.apply(change)` blocks, for every policy: the initial full set and 1% churn.
 *
 * Scenario (deterministic, xorshift32 with fixed seeds), for each size N:
 * - the initial set: N endpoints `10.a.b.c:port`, weight 1-10;
 * - a chain of churn changes from it: each removes N/200 endpoints of the current set (chosen at
 *   random) and adds N/200 new ones (1% of the entries touched: 50 removed + 50 added at 10,000),
 *   computed with `Change.diff` before any timing.
 *
 * Every sample goes through the public API, as an application's discovery stream drives it: one
 * `Balancer.makeWith({ policy })` per trial, then `Effect.runSync(balancer.apply(change))` timed
 * with `performance.now()`, first of the full set (`Change.diff([], initial)`), then of each churn
 * change in turn. Trials run the policies interleaved (the starting policy rotates), and the
 * first trial is timed too: the first apply of a policy in a process runs its code cold (before
 * the JIT has compiled it), and that apply blocks the event loop as much as any other.
 *
 * Every policy runs at 10,000 endpoints, where the target is that no single apply (initial or
 * churn, the first included) takes more than 50 ms. RingHash and Maglev, which rebuild their whole
 * index on every change, also run at 50,000 and 100,000 (no target; the figures are in
 * docs/performance.md).
 *
 * Run: `sh scripts/node24.sh bench/apply.ts`, `node_modules/.bin/bun bench/apply.ts`,
 * `node_modules/.bin/deno run -A bench/apply.ts`. Options (environment):
 * - `APPLY_SIZES=10000,50000,100000` the sizes (any list; sizes other than 10,000 run only the
 *   policies that rebuild on every change unless `APPLY_ONLY` selects others);
 * - `APPLY_ONLY=<regex>` only the policies whose name matches;
 * - `APPLY_TRIALS=<n>` / `APPLY_CHURNS=<n>` trials per policy and churn changes per trial
 *   (default 5 and 10 at 10,000 endpoints, 3 and 4 above).
 */
import {
  Balancer,
  Change,
  Endpoint,
  LeastPending,
  Maglev,
  PeakEwma,
  type Policy,
  RingHash,
  RoundRobin,
  WeightedRandom,
  WeightedRoundRobin
} from "@switchyard/core"
import { Effect } from "effect"
import * as os from "node:os"
import process from "node:process"
import { runtime, xorshift32 } from "./shared.ts"

const sizes = (process.env["APPLY_SIZES"] ?? "10000,50000,100000").split(",").map(Number)
const only = process.env["APPLY_ONLY"] === undefined ? undefined : new RegExp(process.env["APPLY_ONLY"])
const targetSize = 10_000
const targetMs = 50

interface Case {
  readonly name: string
  readonly policy: () => Policy.Policy
  /** Rebuilds its whole index on every change: also run at the sizes above 10,000. */
  readonly rebuilds: boolean
}

const cases: ReadonlyArray<Case> = [
  { name: "RoundRobin", policy: () => RoundRobin.make(), rebuilds: false },
  { name: "WeightedRoundRobin", policy: () => WeightedRoundRobin.make(), rebuilds: false },
  { name: "WeightedRandom", policy: () => WeightedRandom.make(), rebuilds: false },
  { name: "WeightedRandom.uniform", policy: () => WeightedRandom.uniform(), rebuilds: false },
  { name: "LeastPending", policy: () => LeastPending.make(), rebuilds: false },
  { name: "PeakEwma", policy: () => PeakEwma.make(), rebuilds: false },
  { name: "RingHash", policy: () => RingHash.make(), rebuilds: true },
  { name: "Maglev", policy: () => Maglev.make(), rebuilds: true }
]

// -----------------------------------------------------------------------------
// data (deterministic)
// -----------------------------------------------------------------------------

interface Scenario {
  readonly size: number
  readonly churn: number
  readonly full: Change.Change
  readonly changes: ReadonlyArray<Change.Change>
}

const scenario = (size: number, churns: number): Scenario => {
  const rand = xorshift32(0x5eed + size)
  const used = new Set<string>()
  const fresh = (): Endpoint.Endpoint => {
    let address: string
    do {
      address = `10.${rand() % 256}.${rand() % 256}.${1 + (rand() % 254)}:${8000 + (rand() % 100)}`
    } while (used.has(address))
    used.add(address)
    return Endpoint.makeUnsafe({ address, weight: 1 + (rand() % 10) })
  }
  const initial = Array.from({ length: size }, fresh)
  const churn = Math.max(1, Math.round(size / 200))
  const changes: Array<Change.Change> = []
  let current: ReadonlyArray<Endpoint.Endpoint> = initial
  for (let k = 0; k < churns; k++) {
    const removed = new Set<number>()
    while (removed.size < churn) removed.add(rand() % current.length)
    const next = [...current.filter((_, i) => !removed.has(i)), ...Array.from({ length: churn }, fresh)]
    const change = Change.diff(current, next)
    if (change.added.length !== churn || change.removed.length !== churn || change.updated.length !== 0) {
      throw new Error(`scenario ${size}: change ${k} is not ${churn} removed + ${churn} added`)
    }
    changes.push(change)
    current = next
  }
  return { size, churn, full: Change.diff([], initial), changes }
}

// -----------------------------------------------------------------------------
// measurement
// -----------------------------------------------------------------------------

interface Row {
  readonly name: string
  /** The very first apply of this policy in the process (cold code), also in `initial`. */
  first: number
  readonly initial: Array<number>
  readonly churn: Array<number>
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
const max = (values: ReadonlyArray<number>): number => values.reduce((a, b) => Math.max(a, b), 0)
const fmtMs = (ms: number): string => ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`

/** Milliseconds that `Effect.runSync(balancer.apply(change))` took. */
const timeApply = (balancer: Balancer.Balancer, change: Change.Change): number => {
  const start = performance.now()
  Effect.runSync(balancer.apply(change))
  return performance.now() - start
}

const seen = new Set<string>()
const run = (s: Scenario, selected: ReadonlyArray<Case>, trials: number): Array<Row> => {
  const rows: Array<Row> = selected.map((c) => ({ name: c.name, first: Number.NaN, initial: [], churn: [] }))
  const last = s.changes.length === 0 ? s.full.all : s.changes[s.changes.length - 1]!.all
  for (let trial = 0; trial < trials; trial++) {
    for (let j = 0; j < selected.length; j++) {
      const k = (trial + j) % selected.length
      const c = selected[k]!
      const row = rows[k]!
      const balancer = Effect.runSync(Balancer.makeWith({ policy: c.policy() }))
      const initial = timeApply(balancer, s.full)
      row.initial.push(initial)
      if (!seen.has(c.name)) {
        seen.add(c.name)
        row.first = initial
      }
      for (const change of s.changes) row.churn.push(timeApply(balancer, change))
      if (trial === 0 && !Change.sameSet(Effect.runSync(balancer.endpoints), last)) {
        throw new Error(`${c.name} at ${s.size}: the balancer does not hold the scenario's last set`)
      }
    }
  }
  return rows
}

// -----------------------------------------------------------------------------
// main
// -----------------------------------------------------------------------------

console.log(`runtime: ${runtime()} on ${os.cpus()[0]?.model ?? "unknown cpu"} (${os.cpus().length} cpus)`)
console.log(`Maglev default table sizes: ${sizes.map((n) => `${n} → ${Maglev.defaultTableSize(n)}`).join(", ")}`)
const verdicts: Array<string> = []
for (const size of sizes) {
  const selected = cases.filter((c) => only !== undefined ? only.test(c.name) : size === targetSize || c.rebuilds)
  if (selected.length === 0) continue
  const large = size > targetSize
  const trials = Number(process.env["APPLY_TRIALS"] ?? (large ? 3 : 5))
  const churns = Number(process.env["APPLY_CHURNS"] ?? (large ? 4 : 10))
  const s = scenario(size, churns)
  console.log()
  console.log(
    `Balancer.apply at ${size.toLocaleString("en-US")} endpoints (weights 1-10): ${trials} trials, each a fresh ` +
      `balancer, the full set, then ${churns} churn changes (${s.churn} removed + ${s.churn} added)`
  )
  const rows = run(s, selected, trials)
  const width = Math.max(6, ...rows.map((r) => r.name.length))
  const header =
    `  ${"policy".padEnd(width)} | first (cold) | initial max | initial median | churn max | churn median` +
    (size === targetSize ? ` | every apply ≤ ${targetMs} ms` : "")
  console.log(header)
  for (const row of rows) {
    const worst = Math.max(max(row.initial), max(row.churn))
    const verdict = worst <= targetMs ? "met" : "MISSED"
    console.log(
      `  ${row.name.padEnd(width)} | ${(Number.isNaN(row.first) ? "-" : fmtMs(row.first)).padStart(12)} | ` +
        `${fmtMs(max(row.initial)).padStart(11)} | ${fmtMs(median(row.initial)).padStart(14)} | ` +
        `${fmtMs(max(row.churn)).padStart(9)} | ${fmtMs(median(row.churn)).padStart(12)}` +
        (size === targetSize ? ` | ${verdict} (worst ${fmtMs(worst)})` : "")
    )
    if (size === targetSize) verdicts.push(`${verdict === "met" ? "met   " : "MISSED"}  ${row.name}: ${fmtMs(worst)}`)
  }
}
if (verdicts.length > 0) {
  console.log()
  console.log(`target: no apply at ${targetSize.toLocaleString("en-US")} endpoints blocks for more than ${targetMs} ms`)
  for (const v of verdicts) console.log(`  ${v}`)
}
