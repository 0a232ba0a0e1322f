/**
 * The laws of changes, events and discovery sources, as checks you can run on your own code.
 *
 * Each `check*` function returns the list of violations it found (empty when the law holds), so
 * it works in any test runner. {@link changeProperties} wraps the change laws as fast-check
 * properties, and {@link checkDiscovery} checks a whole `Discovery` implementation.
 *
 * **Example** (checking your own discovery source)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Laws } from "@switchyard/core/testing"
 *
 * const program = Laws.checkDiscovery(myDiscovery, "api", { updates: 5 })
 * // fails with a LawViolation listing every broken law
 * ```
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import * as Change from "../Change.ts"
import type * as Discovery from "../Discovery.ts"
import * as DiscoveryEvent from "../DiscoveryEvent.ts"
import * as Endpoint from "../Endpoint.ts"
import * as Arbitraries from "./Arbitraries.ts"

/**
 * One or more laws did not hold.
 *
 * @category errors
 * @since 0.1.0
 */
export class LawViolation extends Data.TaggedError("LawViolation")<{
  readonly violations: ReadonlyArray<string>
}> {
  override get message(): string {
    return `${this.violations.length} law violation(s):\n${this.violations.map((v) => `  - ${v}`).join("\n")}`
  }
}

// -----------------------------------------------------------------------------
// change laws
// -----------------------------------------------------------------------------

/**
 * The laws of one change against the sets it was computed from: `apply(prev, change)` equals
 * `next`, `all` equals `next`, added/updated/removed are pairwise disjoint and each is what its
 * name says.
 *
 * @category laws
 * @since 0.1.0
 */
export const checkChange = (
  prev: ReadonlyArray<Endpoint.Endpoint>,
  next: ReadonlyArray<Endpoint.Endpoint>,
  change: Change.Change
): ReadonlyArray<string> => {
  const violations: Array<string> = []
  const before = byAddress(prev)
  const after = byAddress(next)
  if (!Change.sameSet(Change.apply(prev, change), next)) violations.push("apply(prev, change) differs from next")
  if (!Change.sameSet(change.all, next)) violations.push("change.all differs from next")
  if (new Set(change.all.map((e) => e.address)).size !== change.all.length) {
    violations.push("change.all holds an address twice")
  }
  const seen = new Map<string, string>()
  for (
    const [name, list] of [["added", change.added], ["updated", change.updated], ["removed", change.removed]] as const
  ) {
    for (const endpoint of list) {
      const other = seen.get(endpoint.address)
      if (other !== undefined) violations.push(`${endpoint.address} is in both ${other} and ${name}`)
      seen.set(endpoint.address, name)
    }
  }
  for (const e of change.added) if (before.has(e.address)) violations.push(`added ${e.address} was already in prev`)
  for (const e of change.removed) if (after.has(e.address)) violations.push(`removed ${e.address} is still in next`)
  for (const e of change.updated) {
    const old = before.get(e.address)
    if (old === undefined) violations.push(`updated ${e.address} was not in prev`)
    else if (Endpoint.sameAttributes(old, e)) violations.push(`updated ${e.address} did not change`)
  }
  for (const [address, e] of after) {
    const old = before.get(address)
    if (old !== undefined && !Endpoint.sameAttributes(old, e) && !change.updated.some((u) => u.address === address)) {
      violations.push(`${address} changed but is not in updated`)
    }
  }
  return violations
}

/**
 * The laws of `Change.diff` on two sets: {@link checkChange} on `diff(prev, next)`, and
 * `diff(x, x)` empty for both sets.
 *
 * @category laws
 * @since 0.1.0
 */
export const checkDiff = (
  prev: ReadonlyArray<Endpoint.Endpoint>,
  next: ReadonlyArray<Endpoint.Endpoint>
): ReadonlyArray<string> => {
  const violations = [...checkChange(prev, next, Change.diff(prev, next))]
  for (const x of [prev, next]) if (!Change.isEmpty(Change.diff(x, x))) violations.push("diff(x, x) is not empty")
  return violations
}

/**
 * `Change.compose` agrees with applying its parts in turn, along a sequence of sets: the changes
 * are the `diff`s between consecutive sets, so each is consistent with the set it applies to (the
 * law's precondition; see `Change.compose`).
 *
 * @category laws
 * @since 0.1.0
 */
export const checkCompose = (sets: ReadonlyArray<ReadonlyArray<Endpoint.Endpoint>>): ReadonlyArray<string> => {
  if (sets.length === 0) return []
  const violations: Array<string> = []
  const first = sets[0]!
  let composed = Change.empty()
  let stepwise = first
  for (let i = 1; i < sets.length; i++) {
    const change = Change.diff(sets[i - 1]!, sets[i]!)
    composed = Change.compose(composed, change)
    stepwise = Change.apply(stepwise, change)
    if (!Change.sameSet(stepwise, sets[i]!)) violations.push(`applying diffs one by one missed set ${i}`)
    if (!Change.sameSet(Change.apply(first, composed), sets[i]!)) {
      violations.push(`apply(first, compose of diffs up to ${i}) differs from set ${i}`)
    }
  }
  return violations
}

/**
 * Events fold into a snapshot, the snapshot turns back into events, and those events fold into
 * the same snapshot; `toEvents` is stable under that round trip.
 *
 * @category laws
 * @since 0.1.0
 */
export const checkEventsRoundTrip = (events: ReadonlyArray<DiscoveryEvent.DiscoveryEvent>): ReadonlyArray<string> => {
  const violations: Array<string> = []
  const snapshot = DiscoveryEvent.fromEvents(events)
  const again = DiscoveryEvent.fromEvents(DiscoveryEvent.toEvents(snapshot))
  if (!DiscoveryEvent.equivalent(snapshot, again)) violations.push("fromEvents(toEvents(s)) differs from s")
  const stepwise = events.reduce(DiscoveryEvent.fold, DiscoveryEvent.emptySnapshot)
  if (!DiscoveryEvent.equivalent(snapshot, stepwise)) violations.push("fold one by one differs from fromEvents")
  const reEvents = DiscoveryEvent.toEvents(again).map(DiscoveryEvent.format)
  const events1 = DiscoveryEvent.toEvents(snapshot).map(DiscoveryEvent.format)
  if (reEvents.join("\n") !== events1.join("\n")) violations.push("toEvents is not stable under a round trip")
  for (const entry of snapshot.values()) {
    if (entry.endpoint.address !== entry.endpoint.address.trim()) violations.push("snapshot holds a bad address")
  }
  return violations
}

/**
 * The change laws as fast-check properties over switchyard's arbitraries, ready for
 * `fc.assert(property, { seed, numRuns })`.
 *
 * @category laws
 * @since 0.1.0
 */
export const changeProperties = (): ReadonlyArray<
  { readonly name: string; readonly property: fc.IPropertyWithHooks<any> }
> => [
  {
    name: "diff/apply: apply(prev, diff(prev, next)) = next, all = next, parts disjoint",
    property: fc.property(
      Arbitraries.setSequence({ minLength: 2, maxLength: 2 }),
      ([prev, next]) => expectNone(checkDiff(prev!, next!))
    )
  },
  {
    name: "compose agrees with apply along a sequence",
    property: fc.property(Arbitraries.setSequence({ maxLength: 6 }), (sets) => expectNone(checkCompose(sets)))
  },
  {
    name: "events -> snapshot -> events round trip",
    property: fc.property(
      Arbitraries.eventScript(),
      (script) => expectNone(checkEventsRoundTrip(script.map((s) => s.event)))
    )
  }
]

// -----------------------------------------------------------------------------
// discovery laws
// -----------------------------------------------------------------------------

/**
 * Checks a `Discovery` implementation against the discovery laws, on the first `updates`
 * updates of `target` (with `drive` run alongside to make them happen, e.g. `TestClock.adjust`):
 *
 * - the first `Changed` carries the full set: everything in `added`, nothing updated or removed;
 * - every change carries `key(target)`, obeys the change laws against the previous good set, and
 *   (after the first) is not empty;
 * - a `Rejected` update keeps exactly the previous good set;
 * - `discover(target)` answers a set without duplicate addresses.
 *
 * Fails with a {@link LawViolation} listing what broke.
 *
 * @category laws
 * @since 0.1.0
 */
export const checkDiscovery = <Target>(
  discovery: Discovery.Discovery<Target>,
  target: Target,
  options: { readonly updates: number; readonly drive?: Effect.Effect<void> | undefined }
): Effect.Effect<ReadonlyArray<Discovery.Update>, LawViolation | Discovery.DiscoveryError> =>
  Effect.gen(function*() {
    const fiber = yield* discovery.updates(target).pipe(
      Stream.take(options.updates),
      Stream.runCollect,
      Effect.forkChild
    )
    if (options.drive !== undefined) yield* options.drive
    const updates = yield* Fiber.join(fiber)
    const violations = checkUpdates(discovery.key(target), updates)
    const current = yield* Effect.result(discovery.discover(target))
    if (current._tag === "Success" && new Set(current.success.map((e) => e.address)).size !== current.success.length) {
      violations.push("discover answered a set with a duplicate address")
    }
    if (violations.length > 0) return yield* new LawViolation({ violations })
    return updates
  })

/**
 * The discovery laws on a recorded list of updates (see {@link checkDiscovery}).
 *
 * @category laws
 * @since 0.1.0
 */
export const checkUpdates = (key: string, updates: ReadonlyArray<Discovery.Update>): Array<string> => {
  const violations: Array<string> = []
  let good: ReadonlyArray<Endpoint.Endpoint> | undefined
  updates.forEach((update, i) => {
    if (update._tag === "Rejected") {
      if (!Change.sameSet(update.kept, good ?? [])) {
        violations.push(`update ${i}: a rejected update did not keep the last good set`)
      }
      if (update.error.kept !== (good ?? []).length) {
        violations.push(`update ${i}: error.kept is not the size of the last good set`)
      }
      return
    }
    const change = update.change
    if (change.key !== key) {
      violations.push(`update ${i}: key ${JSON.stringify(change.key)} is not ${JSON.stringify(key)}`)
    }
    if (good === undefined) {
      if (change.updated.length + change.removed.length > 0 || !Change.sameSet(change.added, change.all)) {
        violations.push(`update ${i}: the first change does not carry the full set as added`)
      }
    } else {
      if (Change.isEmpty(change)) violations.push(`update ${i}: an empty change was emitted`)
      for (const v of checkChange(good, change.all, change)) violations.push(`update ${i}: ${v}`)
    }
    good = change.all
  })
  return violations
}

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

const byAddress = (endpoints: ReadonlyArray<Endpoint.Endpoint>) => new Map(endpoints.map((e) => [e.address, e]))

const expectNone = (violations: ReadonlyArray<string>): void => {
  if (violations.length > 0) throw new LawViolation({ violations })
}
