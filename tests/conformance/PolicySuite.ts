/**
 * The conformance suite of a picking policy, written once and run for every policy and wrapper
 * switchyard ships (`tests/policies.test.ts`) — and for yours: the picker laws of
 * `Laws.pickerProperties` (a pick is always of the set, never a removed endpoint; `explain` picks
 * as `pick` does, with the same random draws; weighted shares, for weighted policies), and the
 * hot-path rule that a pick allocates nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import { Endpoint, type Policy } from "@switchyard/core"
import { Laws, TestPicker } from "@switchyard/core/testing"
import * as fc from "fast-check"
import process from "node:process"

/** What a policy hands the suite. */
export interface PolicyUnderTest {
  readonly name: string
  /** Builds the policy afresh (each run gets its own state). */
  readonly make: () => Policy.Policy
  /** The tolerance of the weighted-share law, for policies that follow weights. */
  readonly weighted?: number | undefined
  /** The fast-check seed and runs. */
  readonly params: { readonly seed: number; readonly numRuns: number }
}

const heapUsed = (): number => process.memoryUsage().heapUsed

export const policySuite = (policy: PolicyUnderTest): void => {
  describe(`policy conformance: ${policy.name}`, () => {
    for (const law of Laws.pickerProperties(policy.make, { weighted: policy.weighted })) {
      it(`law: ${law.name}`, () => {
        fc.assert(law.property, policy.params)
      })
    }

    it("a pick allocates nothing: 200,000 picks over 100 endpoints grow the heap by less than one small object each", () => {
      const endpoints = Array.from({ length: 100 }, (_, i) => Endpoint.makeUnsafe(`10.8.${i >> 8}.${i & 255}:80`))
      // a random source that allocates nothing itself: a double returned through a call that the
      // JIT does not inline is boxed (16 bytes), whatever the policy does, so a varying source
      // would measure the source, not the policy
      const t = TestPicker.make(policy.make(), endpoints, { random: () => 0.37 })
      const picker = t.picker
      let sink = 0
      // small integers throughout: a number outside the 31-bit range is itself an allocation
      for (let k = 0; k < 300_000; k++) sink = (sink + (picker.pick(k & 0x3fffffff)?.index ?? 0)) & 0xffff // warm-up
      // the least growth of three rounds: a collection during a round can only lower it
      let least = Infinity
      for (let round = 0; round < 3; round++) {
        const before = heapUsed()
        for (let k = 0; k < 200_000; k++) sink = (sink + (picker.pick((k * 40503) & 0x3fffffff)?.index ?? 0)) & 0xffff
        least = Math.min(least, heapUsed() - before)
      }
      assert.isAbove(sink, -1)
      // 200,000 allocations of even 16 bytes would be 3.2 MB
      assert.isBelow(least, 1_000_000, `the heap grew by ${least} bytes over 200,000 picks`)
    })
  })
}
