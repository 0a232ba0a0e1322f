import { assert, describe, it } from "@effect/vitest"
import { Change, Endpoint, LeastPending, Policy, RoundRobin } from "@switchyard/core"
import { Arbitraries, Laws, TestPicker } from "@switchyard/core/testing"
import * as fc from "fast-check"
import { params } from "./seed.ts"

describe("TestPicker", () => {
  it("seeded draws are in [0, 1) and repeat for the same seed", () => {
    const a = TestPicker.seeded(7)
    const b = TestPicker.seeded(7)
    const xs = Array.from({ length: 1000 }, a)
    assert.deepStrictEqual(xs, Array.from({ length: 1000 }, b))
    assert.isTrue(xs.every((x) => x >= 0 && x < 1))
    assert.notDeepEqual(xs, Array.from({ length: 1000 }, TestPicker.seeded(8)))
  })

  it("property: slots track the set through any sequence of changes, indices stay exact, and a removed endpoint is never picked", () => {
    fc.assert(
      fc.property(Arbitraries.setSequence({ minLength: 2, maxLength: 6 }), fc.nat(), (sets, seed) => {
        for (const policy of [RoundRobin.make(), LeastPending.make()]) {
          const t = TestPicker.make(policy, Endpoint.dedupe(sets[0]!), { random: TestPicker.seeded(seed) })
          let current = t.endpoints()
          for (const next of sets.slice(1)) {
            const change = Change.diff(current, next)
            t.apply(change)
            current = change.all
            assert.isTrue(Change.sameSet(t.endpoints(), current))
            t.slots.forEach((slot, i) => assert.strictEqual(slot.index, i))
            const allowed = new Set(current.map((e) => e.address))
            for (let i = 0; i < 10; i++) {
              const picked = t.pick()
              if (current.length === 0) assert.isUndefined(picked)
              else assert.isTrue(allowed.has(picked!.endpoint.address))
            }
          }
        }
      }),
      params(1000)
    )
  })

  it("the picker laws catch an explain that draws where pick does not, and a pick outside the set", () => {
    // the drift the old PeakEwma had: explain drew a random number with one endpoint, pick did not
    const drifting = (): Policy.Policy => {
      const inner = LeastPending.make()
      return {
        ...inner,
        make: (context) => {
          const picker = inner.make(context)
          return {
            ...picker,
            explain: (hash) => {
              if (context.slots.length === 1) context.random()
              return picker.explain(hash)
            }
          }
        }
      }
    }
    const violations = Laws.checkPicker(drifting, { first: [1], steps: [{ _tag: "Pick", hash: -1 }], seed: 1 })
    assert.deepStrictEqual(violations, ["step 0: explain drew 1 random numbers, pick 0"])
    const stale = (): Policy.Policy => ({
      name: "stale",
      make: (context) => {
        let remembered: Policy.Slot | undefined
        return {
          ...Policy.stateless,
          pick: () => (remembered ??= context.slots[0]),
          explain: () => ({
            policy: "stale",
            chosen: (remembered ??= context.slots[0])?.endpoint.address,
            candidates: [],
            note: ""
          })
        }
      }
    })
    const found = Laws.checkPicker(stale, {
      first: [1, 1],
      steps: [{ _tag: "Pick", hash: -1 }, { _tag: "Remove", at: 0 }, { _tag: "Pick", hash: -1 }],
      seed: 1
    })
    assert.isTrue(found.some((v) => v.includes("not in the set")), found.join("; "))
  })
})
