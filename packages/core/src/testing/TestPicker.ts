/**
 * Drives a policy's picker outside a balancer, exactly the way `Balancer.apply` does: one slot per
 * endpoint in a shared array, removals swap the last slot into the gap, then `added` / `removed` /
 * `updated` calls and one `rebalanced` per batch. For testing your own `Policy` (or a wrapper)
 * synchronously, with a seeded random source and a clock you control.
 *
 * **Example**
 *
 * ```ts
 * import { Endpoint, RoundRobin } from "@switchyard/core"
 * import { TestPicker } from "@switchyard/core/testing"
 *
 * const t = TestPicker.make(RoundRobin.make(), [Endpoint.makeUnsafe("a:1"), Endpoint.makeUnsafe("b:1")], {
 *   random: TestPicker.seeded(42)
 * })
 * t.pick()?.endpoint.address // "a:1" or "b:1"
 * t.remove("a:1")            // only "b:1" can be picked now
 * ```
 *
 * @since 0.1.0
 */
import * as Change from "../Change.ts"
import type * as Endpoint from "../Endpoint.ts"
import * as Policy from "../Policy.ts"

/**
 * A picker under test and the slots it picks from.
 *
 * @category models
 * @since 0.1.0
 */
export interface TestPicker {
  /** The slots, in the balancer's order. */
  readonly slots: ReadonlyArray<Policy.Slot>
  readonly picker: Policy.Picker
  /** The slot of an address, if it is in the set. */
  readonly slot: (address: string) => Policy.Slot | undefined
  /** Picks (`hash` -1 by default) and counts the pick on the slot, as the balancer does. */
  readonly pick: (hash?: number) => Policy.Slot | undefined
  /** Applies a change as one batch (ending with `rebalanced`). */
  readonly apply: (change: Change.Change) => void
  /** Adds one endpoint (a batch of its own unless `batch` is set). */
  readonly add: (endpoint: Endpoint.Endpoint, options?: { readonly batch?: boolean | undefined }) => Policy.Slot
  /** Removes one address (a batch of its own unless `batch` is set). */
  readonly remove: (address: string, options?: { readonly batch?: boolean | undefined }) => void
  /** Replaces an endpoint's fields (a batch of its own unless `batch` is set). */
  readonly update: (endpoint: Endpoint.Endpoint, options?: { readonly batch?: boolean | undefined }) => void
  /** Ends a batch: calls the picker's `rebalanced`. */
  readonly rebalanced: () => void
  /** The endpoints in the set now. */
  readonly endpoints: () => ReadonlyArray<Endpoint.Endpoint>
}

/**
 * Builds the picker over an empty set, then adds `endpoints` as one batch, as a balancer's first
 * change does.
 *
 * **Details**
 *
 * `random` defaults to {@link seeded}`(1)`, `now` to a clock stopped at 0.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  policy: Policy.Policy,
  endpoints: ReadonlyArray<Endpoint.Endpoint>,
  options?: {
    readonly random?: (() => number) | undefined
    readonly now?: (() => number) | undefined
  }
): TestPicker => {
  const slots: Array<Policy.Slot> = []
  const byAddress = new Map<string, Policy.Slot>()
  const picker = policy.make({ slots, random: options?.random ?? seeded(1), now: options?.now ?? (() => 0) })
  const end = (batch: boolean | undefined) => {
    if (batch !== true) picker.rebalanced()
  }
  const add = (endpoint: Endpoint.Endpoint, options?: { readonly batch?: boolean | undefined }) => {
    const existing = byAddress.get(endpoint.address)
    if (existing !== undefined) {
      update(endpoint, options)
      return existing
    }
    const slot = Policy.makeSlot(endpoint)
    slot.index = slots.length
    slots.push(slot)
    byAddress.set(endpoint.address, slot)
    picker.added(slot)
    end(options?.batch)
    return slot
  }
  const remove = (address: string, options?: { readonly batch?: boolean | undefined }) => {
    const slot = byAddress.get(address)
    if (slot === undefined) return
    const last = slots.pop()!
    if (last !== slot) {
      slots[slot.index] = last
      last.index = slot.index
    }
    slot.index = -1
    byAddress.delete(address)
    picker.removed(slot)
    end(options?.batch)
  }
  const update = (endpoint: Endpoint.Endpoint, options?: { readonly batch?: boolean | undefined }) => {
    const slot = byAddress.get(endpoint.address)
    if (slot === undefined) return
    const previous = slot.endpoint
    slot.endpoint = endpoint
    picker.updated(slot, previous)
    end(options?.batch)
  }
  const apply = (change: Change.Change) => {
    for (const endpoint of change.removed) remove(endpoint.address, { batch: true })
    for (const endpoint of change.updated) update(endpoint, { batch: true })
    for (const endpoint of change.added) add(endpoint, { batch: true })
    picker.rebalanced()
  }
  apply(Change.diff([], endpoints))
  return {
    slots,
    picker,
    slot: (address) => byAddress.get(address),
    pick: (hash = -1) => {
      const slot = picker.pick(hash)
      if (slot !== undefined) slot.picks++
      return slot
    },
    apply,
    add,
    remove,
    update,
    rebalanced: () => picker.rebalanced(),
    endpoints: () => slots.map((slot) => slot.endpoint)
  }
}

/**
 * A seeded uniform double in [0, 1) (mulberry32): fast and identical on every runtime. Use it, or
 * a seeded Effect `Random`'s `nextDoubleUnsafe`, as the picker's `random`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const seeded = (seed: number): () => number => {
  let state = seed | 0
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
