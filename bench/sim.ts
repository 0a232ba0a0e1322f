/**
 * The load-balancing simulator's comparison tables: every healthy built-in scenario (the hard ones
 * included) with every policy, then the load-aware policies' p99 relative to the oracle's as the
 * median over `--seeds` seeds (default 5) with `ShortestExpectedDelay`'s targets, then every
 * scenario with a faulty backend with the three load-aware policies under four
 * client setups (plain; retries; outlier detection + retries; and, for the black hole, + a
 * per-try timeout and hedging), one seed, with each run's p99 relative to the oracle's and the
 * acceptance targets checked.
 *
 * Run: `pnpm sim` (or `npm run sim`), `sh scripts/node24.sh bench/sim.ts [--seed N]`,
 * `node_modules/.bin/bun bench/sim.ts`, `node_modules/.bin/deno run -A bench/sim.ts`
 * (`--seeds 1` for the first seed only; about 3 minutes on Node with 5).
 * The simulation is deterministic: the same seed prints the same table on every runtime (only the
 * elapsed time at the end differs). The scenarios and the model are documented in
 * `packages/core/src/testing/Simulator.ts`; `packages/core/test/Simulator.test.ts` asserts the
 * targets with the same seed and sizes.
 */
import {
  LeastPending,
  Maglev,
  PeakEwma,
  Policy,
  RingHash,
  RoundRobin,
  ShortestExpectedDelay,
  WeightedRandom,
  WeightedRoundRobin
} from "@switchyard/core"
import * as OutlierDetection from "@switchyard/core/OutlierDetection"
import { Simulator } from "@switchyard/core/testing"
import process from "node:process"

/** The policies compared; one line each. The oracle is always run as the baseline. */
const policies: Record<string, Policy.Policy> = {
  "round-robin": RoundRobin.make(),
  "least-pending": LeastPending.make(),
  "peak-ewma": PeakEwma.make(),
  "shortest-expected-delay": ShortestExpectedDelay.make(),
  "weighted-round-robin": WeightedRoundRobin.make(),
  "weighted-random": WeightedRandom.make(),
  "uniform-random": WeightedRandom.uniform(),
  "ring-hash": RingHash.make(),
  "maglev": Maglev.make()
}

/** p99 relative to the oracle's: the acceptance targets (and stretch goals) of the issue. */
const targets: ReadonlyArray<{
  readonly scenario: string
  readonly policy: string | "every policy"
  readonly max: number
  readonly stretch?: number
}> = [
  { scenario: "homogeneous", policy: "every policy", max: 1.06 },
  { scenario: "oneSlow", policy: "peak-ewma", max: 1.1, stretch: 1.05 },
  { scenario: "oneSlow", policy: "least-pending", max: 2.5 },
  { scenario: "drifting", policy: "peak-ewma", max: 2.5, stretch: 2.0 }
]

/** The load-aware policies run through the failure scenarios, built fresh for each run. */
const failurePolicies: Record<string, () => Policy.Policy> = {
  "least-pending": () => LeastPending.make(),
  "peak-ewma": () => PeakEwma.make(),
  "shortest-expected-delay": () => ShortestExpectedDelay.make()
}

/**
 * The client setups of the failure section. Retries: `Retry`'s defaults (3 attempts, backoff
 * 50 ms × 2ⁿ⁻¹ jittered ×0.8–1.2, capped at 1 s) and Finagle's budget. Per-try timeout 100 ms (2.5× a healthy backend's p99, 10× its
 * median); hedge after 30 ms (about a healthy response's p95, where "The Tail at Scale" hedges).
 * Outlier detection with its defaults (Envoy's).
 */
const timeout = 100
const hedge = 30
const setups: ReadonlyArray<{
  readonly label: string
  readonly outlierDetection: boolean
  readonly client: Simulator.Client
  /** Run only on the black hole. */
  readonly blackHoleOnly?: boolean
}> = [
  { label: "plain", outlierDetection: false, client: {} },
  { label: "retries", outlierDetection: false, client: { retry: { maxAttempts: 3 } } },
  { label: "OD + retries", outlierDetection: true, client: { retry: { maxAttempts: 3 } } },
  {
    label: "OD + retries + timeout",
    outlierDetection: true,
    client: { retry: { maxAttempts: 3 }, timeout },
    blackHoleOnly: true
  },
  {
    label: "OD + retries + timeout + hedge",
    outlierDetection: true,
    client: { retry: { maxAttempts: 3 }, timeout, hedge },
    blackHoleOnly: true
  }
]

/** The failure targets of the issue, checked on the setups they name. */
const failureTargets: ReadonlyArray<{
  readonly scenario: string
  readonly setup: string
  readonly what: string
  readonly holds: (report: Simulator.Report) => boolean
  readonly measured: (report: Simulator.Report) => string
}> = [
  {
    scenario: "oneFailing",
    setup: "OD + retries",
    what: "success ≥ 99.9% and tries/request ≤ 1.2×",
    holds: (r) => r.successRate >= 0.999 && r.tries.amplification <= 1.2,
    measured: (r) => `success ${(r.successRate * 100).toFixed(3)}%, ${r.tries.amplification.toFixed(3)}×`
  },
  {
    scenario: "oneBlackHole",
    setup: "OD + retries + timeout + hedge",
    what: `p99 ≤ timeout + hedge delay = ${timeout + hedge} ms`,
    holds: (r) => r.latency.p99 <= timeout + hedge,
    measured: (r) => `p99 ${r.latency.p99.toFixed(1)} ms, success ${(r.successRate * 100).toFixed(3)}%`
  }
]

/**
 * The targets of the latency-aware policy, p99 / oracle p99 as the median over `--seeds` seeds
 * (seed, seed + 1, …): an absolute bound, or "no worse than peak-ewma" on the same seeds.
 */
const medianTargets: ReadonlyArray<{ readonly scenario: string; readonly max: number | "peak-ewma" }> = [
  { scenario: "homogeneous", max: 1.03 },
  { scenario: "oneSlow", max: 1.05 },
  { scenario: "drifting", max: "peak-ewma" },
  { scenario: "driftingHard", max: 2.0 },
  { scenario: "heterogeneous", max: 1.15 },
  { scenario: "degradeAndRecover", max: "peak-ewma" }
]
/** The policies of the seed-median table. */
const medianPolicies: Record<string, () => Policy.Policy> = {
  "least-pending": () => LeastPending.make(),
  ...failurePolicies
}

const seedFlag = process.argv.indexOf("--seed")
const seed = seedFlag >= 0 ? Number(process.argv[seedFlag + 1]) : 1
const seedsFlag = process.argv.indexOf("--seeds")
const seedCount = seedsFlag >= 0 ? Number(process.argv[seedsFlag + 1]) : 5

const started = performance.now()
const healthy = { ...Simulator.scenarios, ...Simulator.hardScenarios }
const rows: Array<Simulator.Row> = []
for (const scenario of Object.values(healthy)) {
  rows.push(...Simulator.compare({ scenario, policies, seed }))
}
// the seed medians: the first seed's runs are the table's, the others are run here
const ratios = new Map<string, Array<number>>() // `${scenario}/${policy}` → p99 / oracle p99 per seed
for (const scenario of Object.values(healthy)) {
  for (let k = 0; k < seedCount; k++) {
    const s = seed + k
    const found = k === 0 ? rows.filter((r) => r.report.scenario === scenario.name) : []
    const runs = k === 0 ? found : Simulator.compare({
      scenario,
      policies: Object.fromEntries(Object.entries(medianPolicies).map(([name, make]) => [name, make()])),
      seed: s
    })
    for (const row of runs) {
      if (row.label === "oracle" || !(row.label in medianPolicies)) continue
      const key = `${scenario.name}/${row.label}`
      ratios.set(key, [...(ratios.get(key) ?? []), row.p99VsOracle])
    }
  }
}
const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
// failures: the oracle once per scenario (it runs on the healthy backends, without client options)
const failureRows: Array<Simulator.Row & { readonly setup: string }> = []
for (const scenario of Object.values(Simulator.failureScenarios)) {
  const baseline = Simulator.run({ scenario, policy: Simulator.oracle, seed })
  failureRows.push({ label: "oracle", setup: "", report: baseline, p99VsOracle: 1 })
  const blackHole = scenario.backends.some((b) => b.blackHole === true)
  for (const [name, make] of Object.entries(failurePolicies)) {
    for (const setup of setups) {
      if (setup.blackHoleOnly === true && !blackHole) continue
      const policy = setup.outlierDetection ? OutlierDetection.make(make()) : make()
      const report = Simulator.run({ scenario, policy, seed, client: setup.client })
      failureRows.push({
        label: `${name}: ${setup.label}`,
        setup: setup.label,
        report,
        p99VsOracle: report.latency.p99 / baseline.latency.p99
      })
    }
  }
}
const elapsed = (performance.now() - started) / 1000

const lines: Array<string> = ["Scenarios:"]
for (const scenario of Object.values(healthy)) lines.push(`  ${scenario.name}: ${scenario.description}`)
lines.push("", Simulator.format(rows), "", "Targets (p99 / oracle p99):")
let failed = 0
for (const target of targets) {
  const subjects = rows.filter((r) =>
    r.report.scenario === target.scenario && r.label !== "oracle" &&
    (target.policy === "every policy" || r.label === target.policy)
  )
  for (const row of subjects) {
    const ok = row.p99VsOracle <= target.max
    if (!ok) failed++
    const stretch = target.stretch === undefined
      ? ""
      : `; stretch ≤ ${target.stretch}: ${row.p99VsOracle <= target.stretch ? "met" : "missed"}`
    lines.push(
      `  ${ok ? "ok  " : "FAIL"} ${target.scenario} ${row.label}: ${
        row.p99VsOracle.toFixed(3)
      }× (≤ ${target.max}${stretch})`
    )
  }
}
const seedList = Array.from({ length: seedCount }, (_, k) => seed + k).join(", ")
lines.push("", `p99 / oracle p99, median over seeds ${seedList}:`)
const names = Object.keys(medianPolicies)
lines.push(`  ${"scenario".padEnd(18)}${names.map((name) => name.padStart(25)).join("")}`)
for (const scenario of Object.values(healthy)) {
  const cells = names.map((name) => median(ratios.get(`${scenario.name}/${name}`) ?? [NaN]).toFixed(3).padStart(25))
  lines.push(`  ${scenario.name.padEnd(18)}${cells.join("")}`)
}
lines.push("", "Targets of shortest-expected-delay (median p99 / oracle p99):")
for (const target of medianTargets) {
  const measured = median(ratios.get(`${target.scenario}/shortest-expected-delay`) ?? [NaN])
  const bound = target.max === "peak-ewma" ? median(ratios.get(`${target.scenario}/peak-ewma`) ?? [NaN]) : target.max
  const ok = measured <= bound
  if (!ok) failed++
  const what = target.max === "peak-ewma" ? `≤ peak-ewma's ${bound.toFixed(3)}×` : `≤ ${bound}`
  lines.push(`  ${ok ? "ok  " : "FAIL"} ${target.scenario}: ${measured.toFixed(3)}× (${what})`)
}
lines.push("", "Failure scenarios:")
for (const scenario of Object.values(Simulator.failureScenarios)) {
  lines.push(`  ${scenario.name}: ${scenario.description}`)
}
lines.push(
  `  setups: retries = Retry's defaults (3 attempts on distinct backends, backoff from 50 ms ×2, jittered), Finagle's budget;`,
  `  OD = OutlierDetection.make(policy) (Envoy's defaults); timeout = ${timeout} ms per try; hedge after ${hedge} ms`,
  `  (success % and latency over the requests that ended in the window; hung = left unanswered by a black hole;`,
  `  to faulty % = share of all tries sent to the faulty backend)`,
  "",
  Simulator.formatFailures(failureRows),
  "",
  "Failure targets:"
)
for (const target of failureTargets) {
  for (const row of failureRows) {
    if (row.report.scenario !== target.scenario || row.setup !== target.setup) continue
    const ok = target.holds(row.report)
    if (!ok) failed++
    lines.push(
      `  ${ok ? "ok  " : "FAIL"} ${target.scenario} ${row.label}: ${target.measured(row.report)} (${target.what})`
    )
  }
}
lines.push("", "shortest-expected-delay vs peak-ewma on every failure setup (p99 within 1%, success rate no lower):")
for (const row of failureRows) {
  if (!row.label.startsWith("shortest-expected-delay: ")) continue
  const anchor = failureRows.find((r) =>
    r.report.scenario === row.report.scenario && r.label === `peak-ewma: ${row.setup}`
  )!
  const ok = row.p99VsOracle <= anchor.p99VsOracle * 1.01 && row.report.successRate >= anchor.report.successRate
  if (!ok) failed++
  lines.push(
    `  ${ok ? "ok  " : "FAIL"} ${row.report.scenario} ${row.setup}: ${row.p99VsOracle.toFixed(3)}× vs ${
      anchor.p99VsOracle.toFixed(3)
    }×, success ${(row.report.successRate * 100).toFixed(3)}% vs ${(anchor.report.successRate * 100).toFixed(3)}%`
  )
}
lines.push(
  "",
  `${rows.length + failureRows.length} runs in ${elapsed.toFixed(1)} s; ${
    failed === 0 ? "all targets hold" : `${failed} failed`
  }`
)
console.log(lines.join("\n"))
