import { assert, describe, it } from "@effect/vitest"
import { Endpoint, Policy, WeightedRoundRobin } from "@switchyard/core"
import { TestPicker } from "@switchyard/core/testing"
import * as fc from "fast-check"
import * as edf from "../src/internal/edf.ts"
import { harness } from "./harness.ts"
import { params } from "./seed.ts"

const ep = (id: number, weight: number) =>
  Endpoint.makeUnsafe({ address: `10.${(id >> 16) & 255}.${(id >> 8) & 255}.${id & 255}:80`, weight })

/**
 * Picks `count` times and checks every window of `Σweight` consecutive picks (sliding by one):
 * each endpoint is picked `weight` times, ±1.
 */
const checkWindows = (picker: Policy.Picker, slots: ReadonlyArray<Policy.Slot>, count: number): void => {
  const n = slots.length
  const window = slots.reduce((sum, slot) => sum + slot.endpoint.weight, 0)
  const picks = new Int32Array(count)
  const inWindow = new Int32Array(n)
  const check = (i: number) => {
    if (Math.abs(inWindow[i]! - slots[i]!.endpoint.weight) > 1) {
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

describe("WeightedRoundRobin", () => {
  it("interleaves by deadline: weights 3 and 1 give a b a a, then repeat", () => {
    const { picker } = harness(WeightedRoundRobin.make(), [ep(1, 3), ep(2, 1)], () => 0)
    const order = Array.from({ length: 12 }, () => picker.pick(-1)!.endpoint.address === "10.0.0.1:80" ? "a" : "b")
    assert.strictEqual(order.join(""), "abaaabaaabaa")
    const explained = picker.explain(-1)
    assert.strictEqual(explained.chosen, "10.0.0.1:80")
    assert.deepStrictEqual(explained.candidates.map((c) => c.address), ["10.0.0.1:80", "10.0.0.2:80"])
    // explain took the turn, as pick would: the schedule goes on with b, a, a
    const after = Array.from({ length: 3 }, () => picker.pick(-1)!.endpoint.address === "10.0.0.1:80" ? "a" : "b")
    assert.strictEqual(after.join(""), "baa")
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

  it("property: the EDF heap keeps its invariants and pops in (deadline, insertion) order", () => {
    type Op = { op: "insert"; key: number } | { op: "remove"; at: number } | { op: "rekey"; at: number; key: number }
    const key = fc.integer({ min: 0, max: 20 }).map((k) => k / 4)
    const ops = fc.array(
      fc.oneof(
        fc.record({ op: fc.constant("insert" as const), key }),
        fc.record({ op: fc.constant("remove" as const), at: fc.nat() }),
        fc.record({ op: fc.constant("rekey" as const), at: fc.nat(), key })
      ),
      { maxLength: 60 }
    )
    fc.assert(
      fc.property(ops, (script: ReadonlyArray<Op>) => {
        const heap = edf.make<{ key: number; id: number }>()
        // the entries in the heap, with the heap id each got
        const live: Array<{ key: number; id: number; handle: number }> = []
        let id = 0
        for (const step of script) {
          if (step.op === "insert") {
            const item = { key: step.key, id: id++, handle: -1 }
            item.handle = edf.insert(heap, item, step.key)
            live.push(item)
          } else if (live.length > 0) {
            const item = live[step.at % live.length]!
            if (step.op === "remove") {
              edf.remove(heap, item.handle)
              live.splice(live.indexOf(item), 1)
              assert.isFalse(edf.has(heap, item.handle))
            } else {
              item.key = step.key
              edf.rekey(heap, item.handle, step.key)
            }
          }
          assert.isTrue(edf.isValid(heap))
          for (const entry of live) assert.strictEqual(edf.keyOf(heap, entry.handle), entry.key)
        }
        // ids grow with insertion order, so (key, id) is the expected schedule order
        const expected = [...live].sort((a, b) => a.key - b.key || a.id - b.id).map((item) => item.id)
        assert.deepStrictEqual(edf.smallest(heap, live.length).map((handle) => heap.items[handle]!.id), expected)
        const popped: Array<number> = []
        while (heap.size > 0) {
          const top = heap.ids[0]!
          popped.push(heap.items[top]!.id)
          edf.remove(heap, top)
          assert.isTrue(edf.isValid(heap))
        }
        assert.deepStrictEqual(popped, expected)
      }),
      params(1000)
    )
  })

  it("property: every window of Σweight consecutive picks gives each endpoint its weight, ±1 (10,000 picks)", () => {
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

  it("property: after any batch of changes, removed and absent endpoints are never picked and the next windows are still exact ±1", () => {
    const batch = fc.record({
      removals: fc.array(fc.nat(), { maxLength: 4 }),
      updates: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 10 })), { maxLength: 4 }),
      additions: fc.array(fc.integer({ min: 1, max: 10 }), { maxLength: 4 }),
      picks: fc.integer({ min: 0, max: 50 })
    })
    fc.assert(
      fc.property(
        weightedSet,
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

  it("property: after a weight change the very next windows follow the new weight, ±1", () => {
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
