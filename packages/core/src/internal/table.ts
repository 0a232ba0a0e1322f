/**
 * The slot table and the lease: the one engine under the `Balancer`, the test kit's `TestPicker`
 * and the `Simulator`. It owns one `Slot` per endpoint address and the policy's picker over them,
 * applies changes to both (a slot survives every change that keeps its address; removal swaps the
 * last slot into the gap), and keeps each slot's load: pending requests, the peak-EWMA latency
 * estimate, counts, and the policy's load metric in `slot.cost`.
 *
 * An endpoint removed while requests to it are in flight keeps its slot until they end ("draining"),
 * so its pending count stays truthful; if its address comes back meanwhile, the same slot rejoins.
 *
 * Pure: time and randomness are passed in (`now` in ms of `Clock`, the context's `random`).
 */
import type * as Change from "../Change.ts"
import type * as Endpoint from "../Endpoint.ts"
import * as Load from "../Load.ts"
import * as Policy from "../Policy.ts"
import * as ewma from "./ewma.ts"

/** A slot table over one policy's picker. */
export interface Table {
  /** The live slots, in the picker's `context.slots` order. */
  readonly slots: ReadonlyArray<Policy.Slot>
  readonly picker: Policy.Picker
  /** The policy's load metric (`Load.pending` when it has none). */
  readonly load: Load.Load
  /** The live slot of `address`. */
  readonly slot: (address: string) => Policy.Slot | undefined
  /** Applies a change: removals, updates, additions, then one `rebalanced`. */
  readonly apply: (change: Change.Change, now: number) => void
  /** Adds an endpoint (updates it when its address is live), without `rebalanced`. */
  readonly add: (endpoint: Endpoint.Endpoint, now: number) => Policy.Slot
  /** Removes an address, without `rebalanced`. */
  readonly remove: (address: string) => void
  /** Updates a live endpoint's weight, tags, zone or priority, without `rebalanced`. */
  readonly update: (endpoint: Endpoint.Endpoint) => void
  /** Ends a batch of `add` / `remove` / `update`. */
  readonly rebalanced: () => void
  /** A request to `slot` starts: pending + 1. */
  readonly acquire: (slot: Policy.Slot) => void
  /**
   * A request to `slot` ends: pending − 1. An `outcome` (a request that completed, as opposed to
   * one interrupted) also updates the latency estimate and the counts and reaches the picker.
   */
  readonly release: (slot: Policy.Slot, outcome: Policy.Outcome | undefined) => void
  /**
   * The next slot of a round of distinct picks (`Balancer.picks()`, what retries and hedges go
   * to) after the round's first: the picker's own pick when it is new to the round (up to three
   * tries), else the first slot the round has not had and the picker accepts, from a random
   * start. It is counted as a pick and added to the round; `undefined` once the round has had
   * every eligible slot (all but those the picker excludes).
   */
  readonly nextDistinct: (round: Round) => Policy.Slot | undefined
}

/**
 * A built-in picker's own `Balancer.pickUnsafe`: given the balancer's way to throw `InvalidHash`,
 * a function that checks the hash as `pickUnsafe` does, picks as `pick` does and returns the
 * endpoint. The balancer hands it out as its `pickUnsafe` (untraced).
 *
 * Why: JavaScriptCore keeps one call profile per function literal, so the one `pickUnsafe` literal
 * of every balancer in a program calls every policy's `pick` from one call site, which it then
 * calls without inlining (measured on Bun 1.4: 2-3× the plain loop at 3-10,000 endpoints). A
 * literal written in the policy's own module is called only with that policy's picker: the
 * caller's loop inlines it and the pick under it. V8 is unaffected either way.
 */
export type PickUnsafe = (invalid: (hash: number) => never) => (hash?: number) => Endpoint.Endpoint | undefined

// by picker object, so that a copy of a picker with another `pick` (`{ ...inner, pick }`, as a
// user's wrapper may write) never inherits its original's fast path
const fastPicks = new WeakMap<Policy.Picker, PickUnsafe>()

/** Registers `picker`'s own `pickUnsafe` (see {@link PickUnsafe}). */
export const fast = (picker: Policy.Picker, pickUnsafe: PickUnsafe): void => {
  fastPicks.set(picker, pickUnsafe)
}

/** The `pickUnsafe` registered for exactly this picker object, if any. */
export const fastOf = (picker: Policy.Picker): PickUnsafe | undefined => fastPicks.get(picker)

/** Whether `hash` is a request hash: an unsigned 32-bit integer (`-1` is the pickers' "none", never a user's). */
export const isHash = (hash: number): boolean => typeof hash === "number" && hash >>> 0 === hash

/** The slots a round of distinct picks has handed out. */
export interface Round {
  readonly has: (slot: Policy.Slot) => boolean
  readonly add: (slot: Policy.Slot) => void
  readonly size: () => number
}

/**
 * A table over `policy`, its picker built with `context` plus the table's slots; empty at first.
 * `dropped` hears of each address whose slot is gone for good (removed with nothing in flight, or
 * drained).
 */
export const make = (
  policy: Policy.Policy,
  context: Omit<Policy.Host, "slots">,
  dropped?: (address: string) => void
): Table => {
  const slots: Array<Policy.Slot> = []
  const byAddress = new Map<string, Policy.Slot>()
  // removed slots with requests in flight: revived if their address comes back, dropped at 0
  const draining = new Map<string, Policy.Slot>()
  const load = policy.load ?? Load.pending
  const tau = load.decayMillis
  const picker = policy.make({ ...context, slots })

  const update = (endpoint: Endpoint.Endpoint): void => {
    const slot = byAddress.get(endpoint.address)
    if (slot === undefined) return
    const previous = slot.endpoint
    slot.endpoint = endpoint
    picker.updated(slot, previous)
  }
  const add = (endpoint: Endpoint.Endpoint, now: number): Policy.Slot => {
    const existing = byAddress.get(endpoint.address)
    if (existing !== undefined) {
      update(endpoint)
      return existing
    }
    const revived = draining.get(endpoint.address)
    if (revived !== undefined) draining.delete(endpoint.address)
    const slot = revived ?? Policy.makeSlot(endpoint, now)
    slot.endpoint = endpoint
    slot.index = slots.length
    load.update(slot)
    slots.push(slot)
    byAddress.set(endpoint.address, slot)
    picker.added(slot)
    return slot
  }
  const remove = (address: string): void => {
    const slot = byAddress.get(address)
    if (slot === undefined) return
    const last = slots.pop()!
    if (last !== slot) {
      slots[slot.index] = last
      last.index = slot.index
    }
    byAddress.delete(address)
    picker.removed(slot)
    slot.index = -1
    if (slot.pending > 0) draining.set(address, slot)
    else dropped?.(address)
  }
  return {
    slots,
    picker,
    load,
    slot: (address) => byAddress.get(address),
    apply: (change, now) => {
      for (const endpoint of change.removed) remove(endpoint.address)
      for (const endpoint of change.updated) update(endpoint)
      for (const endpoint of change.added) add(endpoint, now)
      picker.rebalanced()
    },
    add,
    remove,
    update,
    rebalanced: () => picker.rebalanced(),
    acquire: (slot) => {
      slot.pending++
      load.update(slot)
    },
    release: (slot, outcome) => {
      slot.pending--
      if (slot.index < 0 && slot.pending === 0 && draining.get(slot.endpoint.address) === slot) {
        draining.delete(slot.endpoint.address)
        dropped?.(slot.endpoint.address)
      }
      if (outcome !== undefined) {
        slot.latency = ewma.observe(slot.latency, slot.stamp, outcome.latency, outcome.now, tau)
        slot.stamp = outcome.now
        if (outcome.success) slot.successes++
        else slot.failures++
      }
      load.update(slot)
      if (outcome !== undefined) picker.observe?.(slot, outcome)
    },
    nextDistinct: (round) => {
      if (round.size() >= slots.length - (picker.excluded?.() ?? 0)) return undefined
      let next: Policy.Slot | undefined
      for (let attempt = 0; attempt < 3 && next === undefined; attempt++) {
        const candidate = picker.pick(-1)
        if (candidate !== undefined && !round.has(candidate)) next = candidate
      }
      const n = slots.length
      const start = next === undefined ? Math.floor(context.random() * n) : 0
      for (let i = 0; i < n && next === undefined; i++) {
        const candidate = slots[(start + i) % n]!
        if (!round.has(candidate) && (picker.accepts?.(candidate) ?? true)) next = candidate
      }
      if (next === undefined) return undefined
      round.add(next)
      next.picks++
      return next
    }
  }
}
