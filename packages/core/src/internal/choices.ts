/**
 * Power of two choices over the balancer's per-slot costs (Mitzenmacher, "The Power of Two Choices
 * in Randomized Load Balancing", 2001): sample two distinct slots at random and take the one with
 * the lower `cost` (the policy's load metric, see `Load`), a tie going to the first sample, itself
 * random. The one implementation behind `LeastPending`, `PeakEwma` and the panic mode of the
 * policy wrappers. Both samples come from one random double (`sample.ts`); with fewer than two
 * slots nothing is drawn. `explain` draws exactly as `pick` does.
 *
 * {@link best} is the d-choices variant (Mitzenmacher's d ≥ 2; Azar, Broder, Karlin and Upfal,
 * "Balanced Allocations", 1994) over a per-slot time per request kept by the picker:
 * `ShortestExpectedDelay`'s loop.
 */
import type * as Load from "../Load.ts"
import type * as Policy from "../Policy.ts"
import * as sample from "./sample.ts"
import * as table from "./table.ts"

/** The chosen slot of `slots`, or `undefined` when there is none. O(1), allocation-free. */
export const pick = (slots: ReadonlyArray<Policy.Slot>, random: () => number): Policy.Slot | undefined => {
  const n = slots.length
  if (n < 2) return slots[0]
  const u = random()
  const i = sample.first(u, n)
  const a = slots[i]!
  const b = slots[sample.second(u, n, i)]!
  return b.cost < a.cost ? b : a
}

/** {@link pick}, with the same draws, saying why: the two candidates and their loads at `now`. */
export const explain = (
  slots: ReadonlyArray<Policy.Slot>,
  random: () => number,
  load: Load.Load,
  now: number,
  policy: string,
  note: string
): Policy.Explanation => {
  const n = slots.length
  if (n === 0) return { policy, chosen: undefined, candidates: [], note: `${note}; no endpoints` }
  const candidate = (slot: Policy.Slot): Policy.Candidate => ({
    address: slot.endpoint.address,
    score: load.current(slot, now)
  })
  if (n === 1) {
    const only = slots[0]!
    return { policy, chosen: only.endpoint.address, candidates: [candidate(only)], note: `${note}; one endpoint` }
  }
  const u = random()
  const i = sample.first(u, n)
  const a = slots[i]!
  const b = slots[sample.second(u, n, i)]!
  const chosen = b.cost < a.cost ? b : a
  return { policy, chosen: chosen.endpoint.address, candidates: [candidate(a), candidate(b)], note }
}

/**
 * Best of `d` distinct random slots by {@link score}, lower wins, a tie going to the first
 * candidate drawn; with `d ≥ n`, every slot, in order from a random start (one draw). Otherwise the
 * candidates are a partial Fisher-Yates shuffle of `order`, a permutation of `[0, n)` the caller
 * keeps (any permutation will do, the shuffle leaves one): they are always distinct, and after the
 * pick they are `order[0]` to `order[d - 1]` (which is how `explain` lists them without a second
 * loop on the hot path). One random double serves several candidates, each drawn from the fraction
 * the one before left (as in `sample.ts`), while their joint outcomes number at most 2^40: one draw
 * per pick of 5 among 100, two among 10,000. The index of the chosen slot, `-1` when there is none.
 * O(min(d, n)), allocation-free.
 */
export const best = (
  slots: ReadonlyArray<Policy.Slot>,
  unit: Float64Array,
  d: number,
  order: Int32Array,
  random: () => number
): number => {
  const n = slots.length
  if (n < 2) return n - 1
  let chosen = -1
  let least = Infinity
  if (d >= n) {
    const start = sample.first(random(), n)
    for (let k = 0; k < n; k++) {
      const i = start + k < n ? start + k : start + k - n
      const s = unit[i]! * (slots[i]!.pending + 1)
      if (s < least || chosen < 0) {
        chosen = i
        least = s
      }
    }
    return chosen
  }
  let u = random()
  let span = 1
  for (let j = 0; j < d; j++) {
    // one double serves several candidates: each takes an index from it and leaves the fraction
    // (as `sample.ts` does for two), until the choices drawn from it reach 2^40 and 13 bits are left
    const m = n - j
    span *= m
    if (span > SPAN) {
      u = random()
      span = m
    }
    const k = sample.first(u, m)
    u = u * m - k
    const r = j + k
    const i = order[r]!
    order[r] = order[j]!
    order[j] = i
    const s = unit[i]! * (slots[i]!.pending + 1)
    if (s < least || chosen < 0) {
      chosen = i
      least = s
    }
  }
  return chosen
}

/** The candidates {@link best} examined in its last pick over `n` slots: their indices. */
export const examined = (n: number, d: number, order: Int32Array): ReadonlyArray<number> =>
  d >= n ? Array.from({ length: n }, (_, i) => i) : Array.from(order.subarray(0, d))

/** What {@link best} compares for slot `i`: its time per request × (pending + 1). */
export const score = (slots: ReadonlyArray<Policy.Slot>, unit: Float64Array, i: number): number =>
  unit[i]! * (slots[i]!.pending + 1)

/** How many equally likely outcomes one random double is used for in `best`: 2^40. */
const SPAN = 2 ** 40

/** A power-of-two-choices policy over `load`. */
export const policy = (name: string, load: Load.Load): Policy.Policy => ({
  name,
  load,
  make: (context) => {
    const slots = context.slots
    const random = context.random
    const note = `two random candidates; the lower ${load.unit} wins, a tie goes to the first`
    const picker: Policy.Picker = {
      pick: () => pick(slots, random),
      explain: () => explain(slots, random, load, context.now(), name, note),
      added: noop,
      removed: noop,
      updated: noop,
      rebalanced: noop
    }
    // `pick` written out (see `table.PickUnsafe`): its call to `random` is then one that only
    // balancers make, always to their one random function, which JavaScriptCore inlines
    table.fast(picker, (invalid) => (hash) => {
      if (hash !== undefined && !table.isHash(hash)) invalid(hash)
      const n = slots.length
      if (n < 2) return slots[0]?.endpoint
      const u = random()
      const i = sample.first(u, n)
      const a = slots[i]!
      const b = slots[sample.second(u, n, i)]!
      return (b.cost < a.cost ? b : a).endpoint
    })
    return picker
  }
})

const noop = (): void => {}
