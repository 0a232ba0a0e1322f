import { assert, describe, it } from "@effect/vitest"
import { PeakEwma, ShortestExpectedDelay } from "@switchyard/core"
import { Simulator } from "@switchyard/core/testing"

/**
 * `ShortestExpectedDelay`'s targets in the simulator, on seed 1 (`bench/sim.ts` checks the median
 * over five seeds): p99 relative to the oracle's.
 */
const seed = 1

const p99VsOracle = (scenario: Simulator.Scenario, policy = ShortestExpectedDelay.make()): number => {
  const rows = Simulator.compare({ scenario, policies: { policy }, seed })
  return rows.find((row) => row.label === "policy")!.p99VsOracle
}

describe("ShortestExpectedDelay in the simulator (seed 1)", () => {
  for (
    const [scenario, max] of [
      [Simulator.heterogeneous, 1.15],
      [Simulator.driftingHard, 2.0],
      [Simulator.oneSlow, 1.05],
      [Simulator.homogeneous, 1.03]
    ] as const
  ) {
    it(`${scenario.name}: p99 within ${max}× the oracle's`, () => {
      const ratio = p99VsOracle(scenario)
      assert.isAtMost(ratio, max, `${scenario.name}: ${ratio.toFixed(3)}×`)
    })
  }

  it("degradeAndRecover: p99 no worse than peak-ewma's", () => {
    const ours = p99VsOracle(Simulator.degradeAndRecover)
    const anchor = p99VsOracle(Simulator.degradeAndRecover, PeakEwma.make())
    assert.isAtMost(ours, anchor, `${ours.toFixed(3)}× vs peak-ewma's ${anchor.toFixed(3)}×`)
  })
})
