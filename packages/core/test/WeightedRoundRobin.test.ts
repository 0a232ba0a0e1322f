import { assert, describe, it } from "@effect/vitest"
import { Endpoint, Policy, WeightedRoundRobin } from "@switchyard/core"
import { TestPicker } from "@switchyard/core/testing"
import * as fc from "fast-check"
import { harness } from "./harness.ts"
import { params } from "./seed.ts"

const ep = (id: number, weight: number) =>
  Endpoint.makeUnsafe({ address: `10.${(id >> 16) & 255}.${(id >> 8) & 255}.${id & 255}:80`, weight })

/**
 * Picks `count` times and checks every window of `Σweight` consecutive picks (sliding by one):
 * each endpoint is picked exactly `weight` times.
 */
const checkWindows = (picker: Policy.Picker, slots: ReadonlyArray<Policy.Slot>, count: number): void => {
  const n = slots.length
  const window = slots.reduce((sum, slot) => sum + slot.endpoint.weight, 0)
  const picks = new Int32Array(count)
  const inWindow = new Int32Array(n)
  const check = (i: number) => {
    if (inWindow[i] !== slots[i]!.endpoint.weight) {
      assert.fail(
        `${slots[i]!.endpoint.address} (w=${slots[i]!.endpoint.weight}) picked ${inWindow[i]} times in a window`
      )
    }
  }
  for (let j = 0; j < count; j++) {
    const slot = picker.pick(-1)
    if (slot === undefined || slots[slot.index] !== slot) assert.fail(`pick ${j} returned a slot not in the set`)
    picks[j] = slot.index
    inWindow[slot.index]!++
    if (j >= window) {
      const leaving = picks[j - window]!
      inWindow[leaving]!--
      check(leaving)
      check(slot.index)
    } else if (j === window - 1) {
      for (let i = 0; i < n; i++) check(i)
    }
  }
}

const weightedSet = fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 20 })
/** A weighted set, often with one endpoint heavy enough (up to 200) to be split. */
const withHeavy = fc.tuple(weightedSet, fc.integer({ min: 0, max: 200 })).map(([weights, heavy]) =>
  heavy > 10 ? [...weights, heavy] : weights
)

describe("WeightedRoundRobin", () => {
  it("takes turns in a fixed order: weights 3 and 1 give a a a b, then repeat", () => {
    // a phase of 0 (every random draw 0) puts b just after its turn: it comes again in the third round
    const { picker } = harness(WeightedRoundRobin.make(), [ep(1, 3), ep(2, 1)], () => 0)
    const order = Array.from({ length: 12 }, () => picker.pick(-1)!.endpoint.address === "10.0.0.1:80" ? "a" : "b")
    assert.strictEqual(order.join(""), "aaabaaabaaab")
    const explained = picker.explain(-1)
    assert.strictEqual(explained.chosen, "10.0.0.1:80")
    assert.deepStrictEqual(explained.candidates.map((c) => [c.address, c.score]), [["10.0.0.1:80", 0], [
      "10.0.0.2:80",
      3
    ]])
    // explain took the turn, as pick would: the schedule goes on with a, a, b
    const after = Array.from({ length: 3 }, () => picker.pick(-1)!.endpoint.address === "10.0.0.1:80" ? "a" : "b")
    assert.strictEqual(after.join(""), "aab")
  })

  it("an empty set picks nothing; removing the last endpoint empties it", () => {
    const h = harness(WeightedRoundRobin.make(), [], () => 0.5)
    assert.isUndefined(h.picker.pick(-1))
    assert.strictEqual(h.picker.explain(-1).note, "no endpoints")
    h.add(ep(1, 2))
    h.picker.rebalanced()
    assert.strictEqual(h.picker.pick(-1)?.endpoint.address, "10.0.0.1:80")
    h.remove("10.0.0.1:80")
    h.picker.rebalanced()
    assert.isUndefined(h.picker.pick(-1))
  })

  it("an endpoint far heavier than the rest is split, and the windows stay exact", () => {
    const weights = [5_000, ...Array.from({ length: 200 }, (_, i) => 1 + (i % 3))]
    const { picker, slots } = harness(WeightedRoundRobin.make(), weights.map((w, i) => ep(i, w)), TestPicker.seeded(7))
    const entries = /over 201 endpoints \((\d+) entries/.exec(picker.explain(-1).note)
    assert.isAbove(Number(entries?.[1]), 201, "the heavy endpoint has several entries")
    checkWindows(picker, slots, 3 * weights.reduce((a, b) => a + b, 0))
  })

  it("a pick between a removal and rebalanced() never returns the removed endpoint", () => {
    const h = harness(WeightedRoundRobin.make(), [ep(1, 5), ep(2, 1), ep(3, 1)], () => 0.5)
    h.remove("10.0.0.1:80")
    for (let i = 0; i < 20; i++) assert.notStrictEqual(h.picker.pick(-1)?.endpoint.address, "10.0.0.1:80")
    h.picker.rebalanced()
    checkWindows(h.picker, h.slots, 10)
  })

  it("property: every window of Σweight consecutive picks gives each endpoint exactly its weight (10,000 picks)", () => {
    fc.assert(
      fc.property(weightedSet, fc.integer(), (weights, seed) => {
        const { picker, slots } = harness(
          WeightedRoundRobin.make(),
          weights.map((w, i) => ep(i, w)),
          TestPicker.seeded(seed)
        )
        checkWindows(picker, slots, 10_000)
      }),
      params(1000)
    )
  })

  it("property: after any batch of changes, removed and absent endpoints are never picked and the windows that follow are exact", () => {
    const batch = fc.record({
      removals: fc.array(fc.nat(), { maxLength: 4 }),
      updates: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 40 })), { maxLength: 4 }),
      additions: fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 4 }),
      picks: fc.integer({ min: 0, max: 50 })
    })
    fc.assert(
      fc.property(
        withHeavy,
        fc.array(batch, { minLength: 1, maxLength: 5 }),
        fc.integer(),
        (weights, batches, seed) => {
          const h = harness(WeightedRoundRobin.make(), weights.map((w, i) => ep(i, w)), TestPicker.seeded(seed))
          let nextId = weights.length
          const gone = new Set<string>()
          for (const b of batches) {
            for (let i = 0; i < b.picks; i++) h.picker.pick(-1)
            for (const r of b.removals) {
              if (h.slots.length === 0) break
              const address = h.slots[r % h.slots.length]!.endpoint.address
              h.remove(address)
              gone.add(address)
            }
            for (const [u, w] of b.updates) {
              if (h.slots.length === 0) break
              const slot = h.slots[u % h.slots.length]!
              h.update(Endpoint.makeUnsafe({ address: slot.endpoint.address, weight: w }))
            }
            for (const w of b.additions) h.add(ep(nextId++, w))
            h.picker.rebalanced()
            if (h.slots.length === 0) {
              assert.isUndefined(h.picker.pick(-1))
              continue
            }
            const total = h.slots.reduce((sum, slot) => sum + slot.endpoint.weight, 0)
            checkWindows(h.picker, h.slots, 3 * total)
            for (const slot of h.slots) assert.isFalse(gone.has(slot.endpoint.address))
          }
        }
      ),
      params(1000)
    )
  })

  it("property: after a weight change the very next windows follow the new weight exactly", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 30 }),
        fc.integer(),
        (from, to, warmup, seed) => {
          const h = harness(WeightedRoundRobin.make(), [ep(0, from), ep(1, 5), ep(2, 3)], TestPicker.seeded(seed))
          for (let i = 0; i < warmup; i++) h.picker.pick(-1)
          h.update(ep(0, to))
          h.picker.rebalanced()
          checkWindows(h.picker, h.slots, 4 * (to + 8))
        }
      ),
      params(1000)
    )
  })
})
