/**
 * A change in the set of endpoints of one service (CloudWeGo Volo's `Change<K>`):
 * `{ key, all, added, updated, removed }`.
 *
 * **Laws** (property-tested, and checkable on your own code with `Laws` from
 * `@switchyard/core/testing`):
 * - `apply(prev, diff(prev, next))` equals `next` as a set of endpoints;
 * - `diff(x, x)` is empty;
 * - `added`, `updated` and `removed` are pairwise disjoint by address;
 * - `diff(prev, next).all` equals `next` (duplicates merged);
 * - `apply(apply(x, a), b)` equals `apply(x, compose(a, b))` when `a` is consistent with `x` and
 *   `b` with `apply(x, a)`: a change is consistent with the set it is applied to when its `added`
 *   endpoints are not in that set and its `updated` and `removed` ones are. Every change `diff`
 *   makes is consistent with its `prev`, and so is every change a discovery watch emits, with the
 *   set before it.
 *
 * @stability unstable
 * @since 0.1.0
 */
import { dual } from "effect/Function"
import * as Endpoint from "./Endpoint.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * The difference between two snapshots of a service's endpoints.
 *
 * **Details**
 *
 * - `key` names the endpoint set (the discovery `key(target)`), as in Volo.
 * - `all` is the complete new set, so a consumer that only wants "the current endpoints" can
 *   ignore the rest.
 * - `added` holds endpoints whose address was not in the previous set; `updated` holds the new
 *   value of endpoints whose address stayed but whose weight, tags, zone or priority changed;
 *   `removed` holds the previous value of endpoints that left.
 *
 * @category models
 * @since 0.1.0
 */
export interface Change {
  readonly key: string
  readonly all: ReadonlyArray<Endpoint.Endpoint>
  readonly added: ReadonlyArray<Endpoint.Endpoint>
  readonly updated: ReadonlyArray<Endpoint.Endpoint>
  readonly removed: ReadonlyArray<Endpoint.Endpoint>
}

// -----------------------------------------------------------------------------
// guards
// -----------------------------------------------------------------------------

/**
 * Whether a change changes nothing.
 *
 * @category guards
 * @since 0.1.0
 */
export const isEmpty = (change: Change): boolean =>
  change.added.length === 0 && change.updated.length === 0 && change.removed.length === 0

/**
 * Whether two endpoint lists hold the same endpoints (by address, with equal fields), ignoring
 * order. Duplicate addresses count once, the last occurrence winning.
 *
 * @category guards
 * @since 0.1.0
 */
export const sameSet = (a: ReadonlyArray<Endpoint.Endpoint>, b: ReadonlyArray<Endpoint.Endpoint>): boolean => {
  const left = index(a)
  const right = index(b)
  if (left.size !== right.size) return false
  for (const [address, endpoint] of left) {
    const other = right.get(address)
    if (other === undefined || !Endpoint.sameAttributes(endpoint, other)) return false
  }
  return true
}

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * The empty change of an empty set.
 *
 * @category constructors
 * @since 0.1.0
 */
export const empty = (key = ""): Change => ({ key, all: [], added: [], updated: [], removed: [] })

/**
 * The change that takes `prev` to `next`, in O(|prev| + |next|).
 *
 * **Details**
 *
 * Both lists are read as sets keyed by address; duplicates are merged with the last occurrence
 * winning (see `Endpoint.dedupe`). `added` and `updated` follow the order of `next`, `removed`
 * the order of `prev`.
 *
 * **Example**
 *
 * ```ts
 * import { Change, Endpoint } from "@switchyard/core"
 *
 * const a = Endpoint.makeUnsafe("10.0.0.1:80")
 * const b = Endpoint.makeUnsafe("10.0.0.2:80")
 * const change = Change.diff([a], [a, b], { key: "api" })
 * // change.added = [b], change.updated = [], change.removed = []
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const diff = (
  prev: ReadonlyArray<Endpoint.Endpoint>,
  next: ReadonlyArray<Endpoint.Endpoint>,
  options?: { readonly key?: string | undefined }
): Change => {
  const key = options?.key ?? ""
  // One map of `prev`; every address met in `next` is marked `seen` in it, so a second
  // occurrence (a duplicate) is noticed without building a second map, and what stays
  // unmarked at the end was removed.
  const before = new Map<string, Endpoint.Endpoint | typeof seen>()
  for (let i = 0; i < prev.length; i++) before.set(prev[i]!.address, prev[i]!)
  const added: Array<Endpoint.Endpoint> = []
  const updated: Array<Endpoint.Endpoint> = []
  for (let i = 0; i < next.length; i++) {
    const endpoint = next[i]!
    const old = before.get(endpoint.address)
    if (old === seen) return diff(prev, Endpoint.dedupe(next), options)
    before.set(endpoint.address, seen)
    if (old === undefined) added.push(endpoint)
    else if (!Endpoint.sameAttributes(old, endpoint)) updated.push(endpoint)
  }
  const removed: Array<Endpoint.Endpoint> = []
  if (before.size > next.length) {
    for (const entry of before.values()) if (entry !== seen) removed.push(entry)
  }
  const all = next
  return { key, all, added, updated, removed }
}

// -----------------------------------------------------------------------------
// combinators
// -----------------------------------------------------------------------------

/**
 * Applies a change to a set: removes `removed`, replaces `updated`, appends `added`.
 *
 * **Details**
 *
 * Survivors keep their order in `prev`; added endpoints follow in the change's order. A removal
 * or update of an address that is not in `prev` is ignored, and an `added` endpoint whose address
 * is already present replaces it, so applying a change built for a different set never produces
 * duplicates. It is dual: `pipe(endpoints, Change.apply(change))`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const apply: {
  (change: Change): (prev: ReadonlyArray<Endpoint.Endpoint>) => ReadonlyArray<Endpoint.Endpoint>
  (prev: ReadonlyArray<Endpoint.Endpoint>, change: Change): ReadonlyArray<Endpoint.Endpoint>
} = dual(2, (prev: ReadonlyArray<Endpoint.Endpoint>, change: Change): ReadonlyArray<Endpoint.Endpoint> => {
  if (isEmpty(change)) return prev
  const next = index(prev)
  for (const endpoint of change.removed) next.delete(endpoint.address)
  for (const endpoint of change.updated) if (next.has(endpoint.address)) next.set(endpoint.address, endpoint)
  for (const endpoint of change.added) next.set(endpoint.address, endpoint)
  return Array.from(next.values())
})

/**
 * One change with the effect of `first` followed by `second`:
 * `apply(apply(x, first), second)` equals `apply(x, compose(first, second))`, for changes that
 * are consistent with the sets they apply to (see the module's laws): `first` with `x`, `second`
 * with `apply(x, first)`, as changes from `diff` and from a discovery watch always are.
 *
 * **Details**
 *
 * Per address: added then removed cancels out; added then updated is added with the newer value;
 * removed then added is an update; updated then removed is removed. `key` and `all` come from
 * `second`.
 *
 * **Gotchas**
 *
 * A `Change` holds new values only (as Volo's does), so after "updated, then removed" the value
 * from before `first` is no longer known. An address removed and then added back is therefore
 * reported as `updated` even when its fields came back unchanged: applying the result is still
 * exact, it just is not always minimal. Use `diff(x, z)` when you hold both sets.
 *
 * The law needs the changes to be consistent. With `x = [p]`, `first` adding `p` again (it is
 * already in `x`) and `second` removing it, applying them in turn gives `[]`, but their
 * composition cancels out ("added then removed") and leaves `[p]`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const compose = (first: Change, second: Change): Change => {
  interface Net {
    readonly kind: "added" | "updated" | "removed"
    readonly endpoint: Endpoint.Endpoint
  }
  const net = new Map<string, Net>()
  for (const endpoint of first.removed) net.set(endpoint.address, { kind: "removed", endpoint })
  for (const endpoint of first.updated) net.set(endpoint.address, { kind: "updated", endpoint })
  for (const endpoint of first.added) net.set(endpoint.address, { kind: "added", endpoint })
  for (const endpoint of second.removed) {
    const before = net.get(endpoint.address)
    if (before?.kind === "added") net.delete(endpoint.address)
    else if (before?.kind !== "removed") net.set(endpoint.address, { kind: "removed", endpoint })
  }
  for (const endpoint of second.updated) {
    const before = net.get(endpoint.address)
    net.set(endpoint.address, { kind: before?.kind === "added" ? "added" : "updated", endpoint })
  }
  for (const endpoint of second.added) {
    const before = net.get(endpoint.address)
    net.set(endpoint.address, { kind: before === undefined || before.kind === "added" ? "added" : "updated", endpoint })
  }
  const added: Array<Endpoint.Endpoint> = []
  const updated: Array<Endpoint.Endpoint> = []
  const removed: Array<Endpoint.Endpoint> = []
  for (const entry of net.values()) {
    if (entry.kind === "added") added.push(entry.endpoint)
    else if (entry.kind === "updated") updated.push(entry.endpoint)
    else removed.push(entry.endpoint)
  }
  return { key: second.key, all: second.all, added, updated, removed }
}

/**
 * A readable multi-line rendering of a change, for logs and the demo:
 *
 * ```text
 * api: 3 endpoints (+1 ~1 -0)
 *   + 10.0.0.3:80 w=1
 *   ~ 10.0.0.1:80 w=5
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const format = (change: Change): string => {
  const head = `${change.key === "" ? "(no key)" : change.key}: ${change.all.length} endpoint${
    change.all.length === 1 ? "" : "s"
  } (+${change.added.length} ~${change.updated.length} -${change.removed.length})`
  const lines = [
    ...change.added.map((e) => `  + ${Endpoint.format(e)}`),
    ...change.updated.map((e) => `  ~ ${Endpoint.format(e)}`),
    ...change.removed.map((e) => `  - ${Endpoint.format(e)}`)
  ]
  return [head, ...lines].join("\n")
}

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

/** Marks an address of `prev` that `next` also has. */
const seen: unique symbol = Symbol.for("@switchyard/core/Change/seen")

const index = (endpoints: ReadonlyArray<Endpoint.Endpoint>): Map<string, Endpoint.Endpoint> => {
  const map = new Map<string, Endpoint.Endpoint>()
  for (let i = 0; i < endpoints.length; i++) map.set(endpoints[i]!.address, endpoints[i]!)
  return map
}
