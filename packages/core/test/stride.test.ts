import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as stride from "../src/internal/stride.ts"
import { params } from "./seed.ts"

interface Item {
  readonly id: number
  weight: number
}

const weightOf = (item: Item): number => item.weight
const phaseOf = (item: Item): number => (item.id * 0.6180339887498949) % 1
const items = (weights: ReadonlyArray<number>): Array<Item> => weights.map((weight, id) => ({ id, weight }))
const build = (schedule: stride.Schedule<Item>, set: ReadonlyArray<Item>): void =>
  stride.build(schedule, set, weightOf, phaseOf)

/** Takes `count` turns and returns the position of the entry that took each. */
const turns = (schedule: stride.Schedule<Item>, count: number): Int32Array => {
  const at = new Int32Array(count)
  for (let t = 0; t < count; t++) {
    stride.next(schedule)
    at[t] = (schedule.cursor + schedule.size - 1) % schedule.size
  }
  return at
}

/** Takes `count` turns: fails unless every window of Σweight consecutive turns gives each item exactly its weight. */
const assertExactWindows = (schedule: stride.Schedule<Item>, set: ReadonlyArray<Item>, count: number): void => {
  const total = set.reduce((sum, item) => sum + item.weight, 0)
  const ids = new Map(set.map((item, i) => [item, i]))
  const picks = new Int32Array(count)
  const inWindow = new Int32Array(set.length)
  for (let t = 0; t < count; t++) {
    const item = stride.next(schedule)
    const i = item === undefined ? undefined : ids.get(item)
    if (i === undefined) return assert.fail(`turn ${t} went to an item not in the set`)
    picks[t] = i
    inWindow[i]!++
    if (t >= total) inWindow[picks[t - total]!]!--
    if (t >= total - 1) {
      for (let k = 0; k < set.length; k++) {
        if (inWindow[k] !== set[k]!.weight) {
          assert.fail(`item ${k} (w=${set[k]!.weight}) took ${inWindow[k]} turns in the window ending at ${t}`)
        }
      }
    }
  }
}

/** Small weights with a few heavy ones, so that some sets split their heaviest items. */
const skewed = fc.array(
  fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 6 }) }, fc.integer({ min: 7, max: 60 })),
  {
    minLength: 1,
    maxLength: 24
  }
)

describe("internal/stride", () => {
  it("property: every window of Σweight consecutive turns gives each item exactly its weight", () => {
    fc.assert(
      fc.property(skewed, (weights) => {
        const set = items(weights)
        const schedule = stride.make<Item>()
        build(schedule, set)
        assertExactWindows(schedule, set, 3 * weights.reduce((a, b) => a + b, 0) + 50)
      }),
      params(500)
    )
  })

  it("property: over any r consecutive rounds an entry takes ⌊r·w/max⌋ or ⌈r·w/max⌉ turns", () => {
    fc.assert(
      fc.property(skewed, fc.integer({ min: 1, max: 40 }), (weights, r) => {
        const schedule = stride.make<Item>()
        build(schedule, items(weights))
        const { size, max } = schedule
        const entryWeights = Array.from(schedule.current.weights.subarray(0, size))
        // the turns of each entry, round by round, over 2·max + r rounds from the start of a round
        schedule.cursor = 0
        const rounds = 2 * max + r
        const taken = Array.from({ length: size }, () => new Int32Array(rounds))
        let round = 0
        let last = -1
        while (round < rounds) {
          stride.next(schedule)
          const at = (schedule.cursor + size - 1) % size
          if (at <= last) round++
          if (round >= rounds) break
          taken[at]![round]!++
          last = at
        }
        for (let e = 0; e < size; e++) {
          const w = entryWeights[e]!
          for (let from = 0; from + r <= rounds - 1; from++) {
            let count = 0
            for (let k = from; k < from + r; k++) count += taken[e]![k]!
            assert.isAtLeast(count, Math.floor(r * w / max), `entry ${e} (w=${w}/${max}), rounds ${from}+${r}`)
            assert.isAtMost(count, Math.ceil(r * w / max), `entry ${e} (w=${w}/${max}), rounds ${from}+${r}`)
          }
        }
      }),
      params(200)
    )
  })

  it("property: whatever the weights, at most 1.5·n entries and ≤ 3 + n/Σw probes per turn over a cycle", () => {
    const weight = fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 2 ** 31 - 1 }))
    fc.assert(
      fc.property(fc.array(weight, { minLength: 1, maxLength: 300 }), (weights) => {
        const schedule = stride.make<Item>()
        build(schedule, items(weights))
        const n = weights.length
        const total = weights.reduce((a, b) => a + b, 0)
        assert.isAtMost(schedule.size, Math.floor(1.5 * n))
        // a cycle is `max` rounds of `size` probes, for Σw turns
        assert.isAtMost(schedule.size * schedule.max / total, 3 + n / total)
        // every entry weight is in [1, max], every credit in [−max, 0)
        for (let e = 0; e < schedule.size; e++) {
          const w = schedule.current.weights[e]!
          const c = schedule.current.credits[e]!
          assert.isTrue(w >= 1 && w <= schedule.max && c >= -schedule.max && c < 0, `entry ${e}: w=${w} c=${c}`)
        }
        // each item's entries add up to its weight
        const sums = new Map<Item, number>()
        for (let e = 0; e < schedule.size; e++) {
          const item = schedule.current.items[e]!
          sums.set(item, (sums.get(item) ?? 0) + schedule.current.weights[e]!)
        }
        for (const [item, sum] of sums) assert.strictEqual(sum, item.weight)
        assert.strictEqual(sums.size, n)
      }),
      params(500)
    )
  })

  it("counts the probes: 10,000 items of weight 1 and one of 1,000,000 take ≤ 4 probes per turn", () => {
    const set = items([1_000_000, ...Array.from({ length: 10_000 }, () => 1)])
    const schedule = stride.make<Item>()
    build(schedule, set)
    const total = 1_010_000
    let probes = 0
    let cursor = schedule.cursor
    for (let t = 0; t < total; t++) {
      stride.next(schedule)
      probes += (schedule.cursor - cursor + schedule.size) % schedule.size || schedule.size
      cursor = schedule.cursor
    }
    // Σw turns are `max` rounds from the cursor, less the rejected probes after the last turn
    assert.isAtMost(probes, schedule.size * schedule.max)
    assert.isAbove(probes, schedule.size * (schedule.max - 1))
    assert.isAtMost(probes / total, 4)
  })

  it("a split item's entries are spread through the round, not side by side", () => {
    const set = items([1_000, ...Array.from({ length: 99 }, (_, i) => 1 + (i % 3))])
    const schedule = stride.make<Item>()
    build(schedule, set)
    const at: Array<number> = []
    for (let e = 0; e < schedule.size; e++) if (schedule.current.items[e] === set[0]) at.push(e)
    const k = at.length
    assert.isAbove(k, 1)
    const gaps = at.map((p, i) => ((at[(i + 1) % k]! - p + schedule.size - 1) % schedule.size) + 1)
    const even = schedule.size / k
    for (const gap of gaps) assert.isTrue(gap >= Math.floor(even) - 1 && gap <= Math.ceil(even) + 1, `gap ${gap}`)
  })

  it("property: rebuilding an unchanged set changes nothing, even after every turn", () => {
    fc.assert(
      fc.property(skewed, fc.integer({ min: 1, max: 200 }), (weights, count) => {
        const a = stride.make<Item>()
        const b = stride.make<Item>()
        const set = items(weights)
        build(a, set)
        build(b, set)
        const once = turns(a, count)
        const rebuilt = new Int32Array(count)
        for (let t = 0; t < count; t++) {
          build(b, set)
          rebuilt[t] = turns(b, 1)[0]!
        }
        assert.deepStrictEqual(rebuilt, once)
      }),
      params(300)
    )
  })

  it("no drift from frequent changes: a heavy item toggling in and out every few turns leaves the others their shares", () => {
    const stable = items([1, 2, 3, 5, 8])
    const heavy: Item = { id: 99, weight: 40 }
    const schedule = stride.make<Item>()
    build(schedule, stable)
    const counts = new Map<Item, number>()
    let present = false
    for (let t = 0; t < 200_000; t++) {
      if (t % 7 === 0) {
        present = !present
        build(schedule, present ? [...stable, heavy] : stable)
      }
      const item = stride.next(schedule)!
      counts.set(item, (counts.get(item) ?? 0) + 1)
    }
    const stableTotal = stable.reduce((sum, item) => sum + (counts.get(item) ?? 0), 0)
    for (const item of stable) {
      const share = (counts.get(item) ?? 0) / stableTotal
      assert.approximately(share, item.weight / 19, 0.01, `item w=${item.weight}`)
    }
  })

  it("upcoming shows the next turns without taking them", () => {
    const set = items([3, 1, 2])
    const schedule = stride.make<Item>()
    build(schedule, set)
    const next = stride.upcoming(schedule, 8, 1000)
    assert.deepStrictEqual(next.map((n) => n.item.id).sort(), [0, 1, 2])
    const taken = Array.from({ length: 6 }, () => stride.next(schedule)!)
    for (const { before, item } of next) assert.strictEqual(taken.indexOf(item), before)
  })
})
