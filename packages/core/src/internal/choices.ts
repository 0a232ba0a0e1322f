/**
 * Power of two choices over the balancer's per-slot costs (Mitzenmacher, "The Power of Two Choices
 * in Randomized Load Balancing", 2001): sample two distinct slots at random and take the one with
 * the lower `cost` (the policy's load metric, see `Load`), a tie going to the first sample, itself
 * random. The one implementation behind `LeastPending`, `PeakEwma` and the panic mode of the
 * policy wrappers. Both samples come from one random double (`sample.ts`); with fewer than two
 * slots nothing is drawn. `explain` draws exactly as `pick` does.
 */
import type * as Load from "../Load.ts"
import type * as Policy from "../Policy.ts"
import * as sample from "./sample.ts"

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

/** A power-of-two-choices policy over `load`. */
export const policy = (name: string, load: Load.Load): Policy.Policy => ({
  name,
  load,
  make: (context) => {
    const slots = context.slots
    const random = context.random
    const note = `two random candidates; the lower ${load.unit} wins, a tie goes to the first`
    return {
      pick: () => pick(slots, random),
      explain: () => explain(slots, random, load, context.now(), name, note),
      added: noop,
      removed: noop,
      updated: noop,
      rebalanced: noop
    }
  }
})

const noop = (): void => {}
