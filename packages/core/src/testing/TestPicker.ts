/**
 * Drives a policy's picker outside a balancer, through the balancer's own slot table
 * (`internal/table.ts`): one slot per endpoint in a shared array, removals swap the last slot into
 * the gap, then `added` / `removed` / `updated` calls and one `rebalanced` per batch; `acquire` /
 * `release` are the balancer's lease (pending counts, latency estimate, the policy's load metric,
 * `observe`). For testing your own `Policy` (or a wrapper) synchronously, with a seeded random
 * source and a clock you control.
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
 * @stability unstable
 * @since 0.1.0
 */
import * as Change from "../Change.ts"
import type * as Endpoint from "../Endpoint.ts"
import * as slotTable from "../internal/table.ts"
import type * as Policy from "../Policy.ts"

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
  /** A request to `slot` starts, as `Balancer.use` begins one: pending + 1, the load refreshed. */
  readonly acquire: (slot: Policy.Slot) => void
  /**
   * A request to `slot` ends, as `Balancer.use` releases one: with an `outcome` (a completed
   * request) the latency estimate and counts are updated and the picker observes it; without one
   * (an interruption) only pending − 1.
   */
  readonly release: (slot: Policy.Slot, outcome?: Policy.Outcome | undefined) => void
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
  const now = options?.now ?? (() => 0)
  const table = slotTable.make(policy, { random: options?.random ?? seeded(1), now })
  const end = (batch: boolean | undefined) => {
    if (batch !== true) table.rebalanced()
  }
  const apply = (change: Change.Change) => table.apply(change, now())
  apply(Change.diff([], endpoints))
  return {
    slots: table.slots,
    picker: table.picker,
    slot: table.slot,
    pick: (hash = -1) => {
      const slot = table.picker.pick(hash)
      if (slot !== undefined) slot.picks++
      return slot
    },
    apply,
    add: (endpoint, options) => {
      const slot = table.add(endpoint, now())
      end(options?.batch)
      return slot
    },
    remove: (address, options) => {
      table.remove(address)
      end(options?.batch)
    },
    update: (endpoint, options) => {
      table.update(endpoint)
      end(options?.batch)
    },
    rebalanced: table.rebalanced,
    acquire: table.acquire,
    release: (slot, outcome) => table.release(slot, outcome),
    endpoints: () => table.slots.map((slot) => slot.endpoint)
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
