/**
 * The eligible subset behind the policy wrappers (`Health`, `OutlierDetection`): the inner policy
 * is built over a context of its own whose `slots` is a separate array holding only the eligible
 * slots, so the inner picker never sees an excluded endpoint (gRPC's `outlier_detection` policy
 * reports ejected subchannels as `TRANSIENT_FAILURE` to its child for the same effect, gRFC A50).
 *
 * - Inclusion and exclusion are O(1): swap-remove, with each slot's position in a
 *   `Map<Slot, number>`. The inner array's order is its own; inner pickers must not (and the
 *   built-in ones do not) read `Slot.index`, which is the position in the balancer's array.
 * - The outer picker's `added` / `removed` / `updated` open a batch and `rebalanced` closes it:
 *   the inner picker gets the changes that concern eligible slots, then one `rebalanced`. An
 *   inclusion or exclusion outside a batch (a probe passed, a host was ejected on an outcome) is
 *   told to the inner picker at once, followed by its own `rebalanced`.
 * - The inner context is the outer one with `slots` replaced, so `random`, `now`, `fork`,
 *   `resubscribe` (and anything else a host puts there) reach the inner policy unchanged, and
 *   wrappers nest.
 * - {@link all} is the fallback for panic mode: power of two choices by the policy's load metric
 *   over every slot of the outer context, allocation-free.
 */
import type * as Endpoint from "../Endpoint.ts"
import * as Load from "../Load.ts"
import type * as Policy from "../Policy.ts"
import * as choices from "./choices.ts"

/** An inner picker over the eligible slots, and the operations that keep the two in step. */
export interface Subset {
  /** The inner picker, built by the inner policy over {@link Subset.slots}. */
  readonly inner: Policy.Picker
  /** The eligible slots: the inner picker's `context.slots`. */
  readonly slots: ReadonlyArray<Policy.Slot>
  /** Whether `slot` is eligible. */
  readonly has: (slot: Policy.Slot) => boolean
  /** Makes `slot` eligible (nothing if it is); the inner picker hears of it now or at the batch end. */
  readonly include: (slot: Policy.Slot) => void
  /** Makes `slot` ineligible (nothing if it is not eligible); as `include`. */
  readonly exclude: (slot: Policy.Slot) => void
  /** The outer `added`: opens a batch, and includes the slot when `eligible`. */
  readonly added: (slot: Policy.Slot, eligible: boolean) => void
  /** The outer `removed`: opens a batch and excludes the slot. */
  readonly removed: (slot: Policy.Slot) => void
  /** The outer `updated`: opens a batch and forwards the update when the slot is eligible. */
  readonly updated: (slot: Policy.Slot, previous: Endpoint.Endpoint) => void
  /** The outer `rebalanced`: closes the batch with the inner `rebalanced`. */
  readonly rebalanced: () => void
}

/** Builds `policy` over an eligible subset of `context.slots`, empty at first. */
export const make = (policy: Policy.Policy, context: Policy.Host): Subset => {
  const slots: Array<Policy.Slot> = []
  const positions = new Map<Policy.Slot, number>()
  const inner = policy.make({ ...context, slots })
  let batch = false
  const settle = (): void => {
    if (!batch) inner.rebalanced()
  }
  const add = (slot: Policy.Slot): boolean => {
    if (positions.has(slot)) return false
    positions.set(slot, slots.length)
    slots.push(slot)
    inner.added(slot)
    return true
  }
  const remove = (slot: Policy.Slot): boolean => {
    const at = positions.get(slot)
    if (at === undefined) return false
    positions.delete(slot)
    const last = slots.pop()!
    if (last !== slot) {
      slots[at] = last
      positions.set(last, at)
    }
    inner.removed(slot)
    return true
  }
  return {
    inner,
    slots,
    has: (slot) => positions.has(slot),
    include: (slot) => {
      if (add(slot)) settle()
    },
    exclude: (slot) => {
      if (remove(slot)) settle()
    },
    added: (slot, eligible) => {
      batch = true
      if (eligible) add(slot)
    },
    removed: (slot) => {
      batch = true
      remove(slot)
    },
    updated: (slot, previous) => {
      batch = true
      if (positions.has(slot)) inner.updated(slot, previous)
    },
    rebalanced: () => {
      batch = false
      inner.rebalanced()
    }
  }
}

/** A picker over every slot of `context` for panic mode: two random slots, the lower cost wins. */
export interface All {
  readonly pick: () => Policy.Slot | undefined
  readonly explain: (policy: string, note: string) => Policy.Explanation
}

/**
 * The panic-mode picker over `context.slots`: the one power of two choices (`choices.ts`) by the
 * balancer's per-slot cost, the policy's load metric (`load`, default pending requests).
 */
export const all = (context: Policy.Host, load: Load.Load | undefined): All => {
  const slots = context.slots
  const random = context.random
  const metric = load ?? Load.pending
  return {
    pick: () => choices.pick(slots, random),
    explain: (policy, note) => choices.explain(slots, random, metric, context.now(), policy, note)
  }
}
