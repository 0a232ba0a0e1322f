import { assert, describe, it } from "@effect/vitest"
import { Endpoint, Policy, WeightedRandom } from "@switchyard/core"
import { TestPicker } from "@switchyard/core/testing"
import { Effect, Random } from "effect"
import * as fc from "fast-check"
import * as alias from "../src/internal/alias.ts"
import { harness } from "./harness.ts"
import { params } from "./seed.ts"

/** A seeded uniform double in [0, 1) from Effect's own `Random` (what the balancer passes). */
const effectRandom = (seed: number): () => number => {
  const random = Effect.runSync(
    Effect.gen(function*() {
      return yield* Random.Random
    }).pipe(Random.withSeed(seed))
  )
  return () => random.nextDoubleUnsafe()
}

/** Draws u = (j + 0.5) / k for j = 0, 1, …: a grid over [0, 1) in place of random numbers. */
const grid = (k: number): () => number => {
  let j = 0
  return () => ((j++ % k) + 0.5) / k
}

const ep = (id: number, weight: number) =>
  Endpoint.makeUnsafe({ address: `10.${(id >> 16) & 255}.${(id >> 8) & 255}.${id & 255}:80`, weight })

/** Picks `count` times; the share of each slot (by index). Fails on a slot not in the set. */
const shares = (picker: Policy.Picker, slots: ReadonlyArray<Policy.Slot>, count: number): Array<number> => {
  const counts = new Array<number>(slots.length).fill(0)
  for (let j = 0; j < count; j++) {
    const slot = picker.pick(-1)
    if (slot === undefined || slots[slot.index] !== slot) return assert.fail(`pick ${j} returned a slot not in the set`)
    counts[slot.index]!++
  }
  return counts.map((c) => c / count)
}

const weightShares = (slots: ReadonlyArray<Policy.Slot>) => {
  const total = slots.reduce((sum, slot) => sum + slot.endpoint.weight, 0)
  return slots.map((slot) => slot.endpoint.weight / total)
}

const weights = fc.array(fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 1000 })), {
  minLength: 1,
  maxLength: 20
})

describe("WeightedRandom", () => {
  it("one draw picks a column, its fraction picks the column or its alias", () => {
    // weights 1 and 3: column 0 keeps a with probability 1/2, else b; column 1 is all b
    const draws = [0.1, 0.3, 0.7, 0.2499]
    let j = 0
    const { picker } = harness(WeightedRandom.make(), [ep(1, 1), ep(2, 3)], () => draws[j++]!)
    const names = draws.map(() => picker.pick(-1)!.endpoint.address)
    assert.deepStrictEqual(names, ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.2:80", "10.0.0.1:80"])
    j = 0
    const explained = picker.explain(-1)
    assert.strictEqual(explained.chosen, "10.0.0.1:80")
    assert.deepStrictEqual(explained.candidates, [
      { address: Endpoint.makeUnsafe("10.0.0.1:80").address, score: 0.5 },
      { address: Endpoint.makeUnsafe("10.0.0.2:80").address, score: 0.5 }
    ])
  })

  it("an empty set picks nothing, for both policies", () => {
    for (const policy of [WeightedRandom.make(), WeightedRandom.uniform()]) {
      const { picker } = harness(policy, [], () => 0.5)
      assert.isUndefined(picker.pick(-1))
      assert.isUndefined(picker.explain(-1).chosen)
    }
  })

  it("property: the alias table gives every index exactly its weight share (to 1e-12)", () => {
    const anyWeights = fc.array(fc.integer({ min: 1, max: Endpoint.maxWeight }), { minLength: 1, maxLength: 200 })
    fc.assert(
      fc.property(fc.oneof(weights, anyWeights), (ws) => {
        const table = alias.make()
        alias.build(table, ws.length, ws)
        const n = ws.length
        const total = ws.reduce((a, b) => a + b, 0)
        const mass = new Array<number>(n).fill(0)
        for (let c = 0; c < n; c++) {
          const keep = table.prob[c]!
          assert.isTrue(keep >= 0 && keep <= 1)
          mass[c]! += keep / n
          mass[table.alias[c]!]! += (1 - keep) / n
        }
        for (let i = 0; i < n; i++) assert.approximately(mass[i]!, ws[i]! / total, 1e-12)
      }),
      params(1000)
    )
  })

  it("property: over a grid of draws, shares match the weights after any batch of changes (±2n/k)", () => {
    const batch = fc.record({
      removals: fc.array(fc.nat(), { maxLength: 3 }),
      updates: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 10 })), { maxLength: 3 }),
      additions: fc.array(fc.integer({ min: 1, max: 10 }), { maxLength: 3 })
    })
    const small = fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 10 })
    fc.assert(
      fc.property(small, fc.array(batch, { minLength: 1, maxLength: 3 }), (initial, batches) => {
        const k = 2000
        const h = harness(WeightedRandom.make(), initial.map((w, i) => ep(i, w)), grid(k))
        let nextId = initial.length
        for (const b of batches) {
          for (const r of b.removals) if (h.slots.length > 0) h.remove(h.slots[r % h.slots.length]!.endpoint.address)
          for (const [u, w] of b.updates) {
            if (h.slots.length > 0) {
              h.update(Endpoint.makeUnsafe({ address: h.slots[u % h.slots.length]!.endpoint.address, weight: w }))
            }
          }
          for (const w of b.additions) h.add(ep(nextId++, w))
          h.picker.rebalanced()
          if (h.slots.length === 0) {
            assert.isUndefined(h.picker.pick(-1))
            continue
          }
          // k draws starting at the grid's beginning: each column contributes within one draw
          const observed = shares(h.picker, h.slots, k)
          const expected = weightShares(h.slots)
          for (let i = 0; i < h.slots.length; i++) {
            assert.approximately(observed[i]!, expected[i]!, (2 * h.slots.length) / k)
          }
        }
      }),
      params(1000)
    )
  })

  it("property: shares are within ±1% (absolute) of the weight shares over 100,000 seeded random picks", () => {
    // 100,000 picks: the standard deviation of a share is at most 0.5/√100000 ≈ 0.0016, so ±0.01
    // is over 6σ (a failure chance below 1e-9 per endpoint). 50 runs: each run is 100,000 picks,
    // and the exact distribution is checked over 1000 runs above.
    fc.assert(
      fc.property(weights, fc.integer(), (ws, seed) => {
        const h = harness(WeightedRandom.make(), ws.map((w, i) => ep(i, w)), TestPicker.seeded(seed))
        const observed = shares(h.picker, h.slots, 100_000)
        const expected = weightShares(h.slots)
        for (let i = 0; i < ws.length; i++) assert.approximately(observed[i]!, expected[i]!, 0.01)
      }),
      params(50)
    )
  })

  it("property: uniform picks every endpoint exactly k/n times over a grid, and within ±1% over 100,000 random picks", () => {
    fc.assert(
      fc.property(weights, fc.integer(), (ws, seed) => {
        const n = ws.length
        const exact = harness(WeightedRandom.uniform(), ws.map((w, i) => ep(i, w)), grid(n * 100))
        for (const share of shares(exact.picker, exact.slots, n * 100)) assert.strictEqual(share, 1 / n)
        const random = harness(WeightedRandom.uniform(), ws.map((w, i) => ep(i, w)), TestPicker.seeded(seed))
        for (const share of shares(random.picker, random.slots, 100_000)) assert.approximately(share, 1 / n, 0.01)
      }),
      params(50)
    )
  })

  it("picks are reproducible from a seeded Effect Random", () => {
    const run = (seed: number) => {
      const { picker } = harness(WeightedRandom.make(), [ep(1, 1), ep(2, 2), ep(3, 7)], effectRandom(seed))
      return Array.from({ length: 200 }, () => picker.pick(-1)!.endpoint.address).join(",")
    }
    assert.strictEqual(run(42), run(42))
    assert.notStrictEqual(run(42), run(43))
  })

  it("property: explain chooses what pick chooses for the same draw", () => {
    fc.assert(
      fc.property(weights, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (ws, u) => {
        for (const policy of [WeightedRandom.make(), WeightedRandom.uniform()]) {
          const { picker } = harness(policy, ws.map((w, i) => ep(i, w)), () => u)
          assert.strictEqual(picker.explain(-1).chosen, picker.pick(-1)!.endpoint.address)
        }
      }),
      params(1000)
    )
  })
})
