/**
 * The load-balancing simulator's comparison table: every built-in scenario, every policy, one
 * seed, with each policy's p99 relative to the oracle's and the acceptance targets checked.
 *
 * Run: `pnpm sim` (or `npm run sim`), `sh scripts/node24.sh bench/sim.ts [--seed N]`,
 * `node_modules/.bin/bun bench/sim.ts`, `node_modules/.bin/deno run -A bench/sim.ts`.
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
  WeightedRandom,
  WeightedRoundRobin
} from "@switchyard/core"
import { Simulator } from "@switchyard/core/testing"
import process from "node:process"

/** The policies compared; one line each. The oracle is always run as the baseline. */
const policies: Record<string, Policy.Policy> = {
  "round-robin": RoundRobin.make(),
  "least-pending": LeastPending.make(),
  "peak-ewma": PeakEwma.make(),
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

const seedFlag = process.argv.indexOf("--seed")
const seed = seedFlag >= 0 ? Number(process.argv[seedFlag + 1]) : 1

const started = performance.now()
const rows: Array<Simulator.Row> = []
for (const scenario of Object.values(Simulator.scenarios)) {
  rows.push(...Simulator.compare({ scenario, policies, seed }))
}
const elapsed = (performance.now() - started) / 1000

const lines: Array<string> = ["Scenarios:"]
for (const scenario of Object.values(Simulator.scenarios)) lines.push(`  ${scenario.name}: ${scenario.description}`)
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
lines.push(
  "",
  `${rows.length} runs in ${elapsed.toFixed(1)} s; ${failed === 0 ? "all targets hold" : `${failed} failed`}`
)
console.log(lines.join("\n"))
