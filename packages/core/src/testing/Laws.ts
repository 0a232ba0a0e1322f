/**
 * The laws of changes, events and discovery sources, as checks you can run on your own code.
 *
 * Each `check*` function returns the list of violations it found (empty when the law holds), so
 * it works in any test runner. {@link changeProperties} wraps the change laws as fast-check
 * properties, {@link checkDiscovery} checks a whole `Discovery` implementation, and
 * {@link pickerProperties} gives the laws every picking policy (yours included) must obey.
 *
 * **Example** (checking your own discovery source)
 *
 * ```ts
 * import type { Discovery } from "@switchyard/core"
 * import { Laws } from "@switchyard/core/testing"
 *
 * declare const myDiscovery: Discovery.Discovery
 *
 * const program = Laws.checkDiscovery(myDiscovery, "api", { updates: 5 })
 * // fails with a LawViolation listing every broken law
 * ```
 *
 * @stability unstable
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
import type * as Policy from "../Policy.ts"
import * as Arbitraries from "./Arbitraries.ts"
import * as TestPicker from "./TestPicker.ts"

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

// -----------------------------------------------------------------------------
// picker laws
// -----------------------------------------------------------------------------

/**
 * One step of a picker script: a pick (with a request hash, or none), a change of the set, a
 * request outcome on a live slot, or time passing.
 *
 * @category laws
 * @since 0.1.0
 */
export type PickerStep =
  | { readonly _tag: "Pick"; readonly hash: number }
  | { readonly _tag: "Add"; readonly address: number; readonly weight: number }
  | { readonly _tag: "Remove"; readonly at: number }
  | { readonly _tag: "Reweight"; readonly at: number; readonly weight: number }
  | { readonly _tag: "Outcome"; readonly at: number; readonly success: boolean; readonly latency: number }
  | { readonly _tag: "Wait"; readonly millis: number }

/**
 * Scripts for {@link checkPicker}: a first set of 1 to 8 endpoints, then up to 60 steps.
 *
 * @category laws
 * @since 0.1.0
 */
export const pickerScript: fc.Arbitrary<{
  readonly first: ReadonlyArray<number>
  readonly steps: ReadonlyArray<PickerStep>
  readonly seed: number
}> = fc.record({
  first: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 8 }),
  steps: fc.array(
    fc.oneof(
      {
        weight: 6,
        arbitrary: fc.oneof(fc.constant(-1), fc.nat({ max: 4294967295 })).map((hash): PickerStep => ({
          _tag: "Pick",
          hash
        }))
      },
      fc.record({ address: fc.nat({ max: 12 }), weight: fc.integer({ min: 1, max: 5 }) }).map((
        r
      ): PickerStep => ({ _tag: "Add", ...r })),
      fc.nat().map((at): PickerStep => ({ _tag: "Remove", at })),
      fc.record({ at: fc.nat(), weight: fc.integer({ min: 1, max: 5 }) }).map((r): PickerStep => ({
        _tag: "Reweight",
        ...r
      })),
      {
        weight: 3,
        arbitrary: fc.record({ at: fc.nat(), success: fc.boolean(), latency: fc.integer({ min: 0, max: 200 }) }).map((
          r
        ): PickerStep => ({ _tag: "Outcome", ...r }))
      },
      fc.integer({ min: 1, max: 20_000 }).map((millis): PickerStep => ({ _tag: "Wait", millis }))
    ),
    { maxLength: 60 }
  ),
  seed: fc.integer()
})

const pickerEndpoint = (address: number, weight: number): Endpoint.Endpoint =>
  Endpoint.makeUnsafe({ address: `10.9.0.${address + 1}:80`, weight })

/**
 * Plays a script on two pickers of `policy` built alike with the same seeded randomness: one
 * picks with `pick`, the other with `explain`. Returns the violations of the picker laws:
 *
 * - a pick returns a slot of the current set (never a removed one), and returns nothing only when
 *   the set is empty or the policy excludes some of it;
 * - `explain(h)` chooses what `pick(h)` chooses, with the same random draws, and has the same effect
 *   on the picker's state (the two pickers stay in step through the whole script).
 *
 * @category laws
 * @since 0.1.0
 */
export const checkPicker = (
  policy: () => Policy.Policy,
  script: { readonly first: ReadonlyArray<number>; readonly steps: ReadonlyArray<PickerStep>; readonly seed: number }
): Array<string> => {
  const violations: Array<string> = []
  let now = 0
  const twin = () => {
    const seeded = TestPicker.seeded(script.seed)
    const counter = { draws: 0 }
    const random = () => {
      counter.draws++
      return seeded()
    }
    const picker = TestPicker.make(policy(), script.first.map((w, i) => pickerEndpoint(i, w)), {
      random,
      now: () => now
    })
    return { picker, counter }
  }
  const p = twin()
  const q = twin()
  script.steps.forEach((step, i) => {
    const both = [p.picker, q.picker]
    switch (step._tag) {
      case "Pick": {
        const before = [p.counter.draws, q.counter.draws]
        const picked = p.picker.pick(step.hash)
        const explained = q.picker.picker.explain(step.hash)
        const drawsPick = p.counter.draws - before[0]!
        const drawsExplain = q.counter.draws - before[1]!
        if (explained.chosen !== picked?.endpoint.address) {
          violations.push(
            `step ${i}: explain chose ${explained.chosen ?? "nothing"}, pick ${picked?.endpoint.address ?? "nothing"}`
          )
        }
        if (drawsPick !== drawsExplain) {
          violations.push(`step ${i}: explain drew ${drawsExplain} random numbers, pick ${drawsPick}`)
        }
        const slots = p.picker.slots
        if (picked !== undefined && slots[picked.index] !== picked) {
          violations.push(`step ${i}: pick returned ${picked.endpoint.address}, which is not in the set`)
        }
        if (picked === undefined && slots.length > 0 && (p.picker.picker.excluded?.() ?? 0) === 0) {
          violations.push(`step ${i}: pick returned nothing from a set of ${slots.length} with none excluded`)
        }
        const chosen = explained.chosen === undefined ? undefined : q.picker.slot(explained.chosen)
        if (chosen !== undefined) chosen.picks++
        return
      }
      case "Add":
        for (const t of both) t.add(pickerEndpoint(step.address, step.weight))
        return
      case "Remove": {
        const slots = p.picker.slots
        if (slots.length === 0) return
        const address = slots[step.at % slots.length]!.endpoint.address
        for (const t of both) t.remove(address)
        return
      }
      case "Reweight": {
        const slots = p.picker.slots
        if (slots.length === 0) return
        const endpoint = slots[step.at % slots.length]!.endpoint
        for (const t of both) t.update({ ...endpoint, weight: step.weight })
        return
      }
      case "Outcome": {
        const slots = p.picker.slots
        if (slots.length === 0) return
        const address = slots[step.at % slots.length]!.endpoint.address
        const outcome = step.success
          ? { success: true, latency: step.latency, now }
          : { success: false, error: "failed", latency: step.latency, now }
        for (const t of both) {
          const slot = t.slot(address)!
          t.acquire(slot)
          t.release(slot, outcome)
        }
        return
      }
      case "Wait":
        now += step.millis
        return
    }
  })
  return violations
}

/**
 * Checks that `policy` gives every endpoint of a fixed set its weight's share of `picks` picks
 * without a request hash: `|share − weight / Σweight| ≤ tolerance` for each. Returns violations.
 *
 * @category laws
 * @since 0.1.0
 */
export const checkWeightedShares = (
  policy: () => Policy.Policy,
  weights: ReadonlyArray<number>,
  options: { readonly seed: number; readonly picks: number; readonly tolerance: number }
): Array<string> => {
  const t = TestPicker.make(policy(), weights.map((w, i) => pickerEndpoint(i, w)), {
    random: TestPicker.seeded(options.seed)
  })
  const counts = new Map<string, number>()
  for (let k = 0; k < options.picks; k++) {
    const slot = t.pick()
    if (slot !== undefined) counts.set(slot.endpoint.address, (counts.get(slot.endpoint.address) ?? 0) + 1)
  }
  const total = weights.reduce((a, b) => a + b, 0)
  const violations: Array<string> = []
  weights.forEach((w, i) => {
    const address = pickerEndpoint(i, w).address
    const share = (counts.get(address) ?? 0) / options.picks
    if (Math.abs(share - w / total) > options.tolerance) {
      violations.push(`${address} (weight ${w} of ${total}) got ${(share * 100).toFixed(2)}% of picks`)
    }
  })
  return violations
}

/**
 * The picker laws as fast-check properties for `policy` (a function, so each run builds fresh
 * state): {@link checkPicker} over {@link pickerScript}s, and, with `weighted`, the weighted-share
 * law {@link checkWeightedShares} over sets of 1 to 6 endpoints of weights 1 to 5 (20,000 picks,
 * the given absolute tolerance). Run them with `fc.assert(property, { seed, numRuns })`.
 *
 * @category laws
 * @since 0.1.0
 */
export const pickerProperties = (
  policy: () => Policy.Policy,
  options?: { readonly weighted?: number | undefined }
): ReadonlyArray<{ readonly name: string; readonly property: fc.IPropertyWithHooks<any> }> => {
  const properties: Array<{ readonly name: string; readonly property: fc.IPropertyWithHooks<any> }> = [
    {
      name: "picks only slots of the set, never a removed one; explain picks as pick does, with the same draws",
      property: fc.property(pickerScript, (script) => expectNone(checkPicker(policy, script)))
    }
  ]
  const tolerance = options?.weighted
  if (tolerance !== undefined) {
    properties.push({
      name: `every endpoint gets its weight's share of picks (±${tolerance})`,
      property: fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 6 }),
        fc.integer(),
        (weights, seed) => expectNone(checkWeightedShares(policy, weights, { seed, picks: 20_000, tolerance }))
      )
    })
  }
  return properties
}
