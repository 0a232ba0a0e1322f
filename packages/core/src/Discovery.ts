/**
 * The discovery port (CloudWeGo Volo's `Discover`): where are the instances of a service, and
 * how do they change.
 *
 * A `Discovery` has `key(target)`, `discover(target)` (one snapshot) and `watch(target)`, a
 * `Stream` of `Change`s whose first element carries the full set. Constructors here: a static
 * list, a `SubscriptionRef`, and polling any effect on a `Schedule`. Adapters add DNS, files and
 * etcd; your own source plugs in through {@link make}.
 *
 * **The last good set is never lost.** An update that fails to fetch or to decode does not touch
 * the set a watcher serves: `watch` skips it, logs a warning, and counts it in the
 * `switchyard_discovery_rejected_total` metric; `updates` also hands it to you as a typed
 * `Rejected` element. The same failure repeated (a poll that keeps failing the same way) is
 * counted every time but reported once, until a good update arrives. The next good update is
 * diffed against the last good set, so recovery is one normal `Change`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Change from "./Change.ts"
import * as Endpoint from "./Endpoint.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * A source of endpoints for targets of type `Target` (a service name by default).
 *
 * @category models
 * @since 0.1.0
 */
export interface Discovery<in Target = string> {
  /** The key that identifies the endpoint set of `target`; carried by every `Change`. */
  readonly key: (target: Target) => string
  /** The current endpoints of `target`, fetched once. */
  readonly discover: (target: Target) => Effect.Effect<ReadonlyArray<Endpoint.Endpoint>, DiscoveryError>
  /**
   * Every update of `target`, good or bad: a `Changed` for each update that differs from the last
   * good set (the first one always, carrying the full set), a `Rejected` for each update that
   * failed and was skipped (a failure identical to the previous one, with no good update between,
   * is counted but not repeated). Fails only when the source itself breaks for good.
   */
  readonly updates: (target: Target) => Stream.Stream<Update, DiscoveryError>
  /** The changes of `target`: `updates` without the rejected ones. */
  readonly watch: (target: Target) => Stream.Stream<Change.Change, DiscoveryError>
}

/**
 * What a watcher does with one update from its source.
 *
 * @category models
 * @since 0.1.0
 */
export type Update = Changed | Rejected

/**
 * A good update that changed the set (or the first good one).
 *
 * @category models
 * @since 0.1.0
 */
export interface Changed {
  readonly _tag: "Changed"
  readonly change: Change.Change
}

/**
 * A bad update, skipped. `kept` is the last good set, which stays in force.
 *
 * @category models
 * @since 0.1.0
 */
export interface Rejected {
  readonly _tag: "Rejected"
  readonly error: DiscoveryError
  readonly kept: ReadonlyArray<Endpoint.Endpoint>
}

/**
 * Discovery failed for `key`.
 *
 * **Details**
 *
 * `reason` says how: `"Decode"` (the source answered, but the answer is not a valid list of
 * endpoints; `detail` names the field and value), `"Fetch"` (asking the source failed), or
 * `"Source"` (the source broke and will not recover). `kept` is how many endpoints the watcher
 * kept serving.
 *
 * @category errors
 * @since 0.1.0
 */
export class DiscoveryError extends Schema.TaggedError<DiscoveryError>()("DiscoveryError", {
  key: Schema.String,
  reason: Schema.Literals(["Decode", "Fetch", "Source"]),
  detail: Schema.String,
  kept: Schema.Number
}) {
  override get message(): string {
    const what = this.reason === "Decode" ? "an update failed to decode" : this.reason === "Fetch"
      ? "fetching an update failed"
      : "the source failed"
    return `discovery ${
      JSON.stringify(this.key)
    }: ${what}: ${this.detail}; kept the last good set of ${this.kept} endpoint${this.kept === 1 ? "" : "s"}`
  }
}

/**
 * What a custom source yields for each update: the raw payload (decoded with
 * `Endpoint.decodeAll`), or why fetching it failed.
 *
 * @category models
 * @since 0.1.0
 */
export type Payload = Result.Result<unknown, unknown>

/**
 * Counts rejected updates, by `key` and `reason`.
 *
 * @category models
 * @since 0.1.0
 */
export const rejectedTotal = Metric.counter("switchyard_discovery_rejected_total", {
  description: "discovery updates that failed to fetch or decode and were skipped (the last good set was kept)",
  incremental: true
})

/**
 * The size of the set a watcher serves, by `key`.
 *
 * @category models
 * @since 0.1.0
 */
export const endpointsGauge = Metric.gauge("switchyard_discovery_endpoints", {
  description: "endpoints in the last good set of a discovery watcher"
})

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Builds a discovery from a source of raw payloads; everything else (decoding, diffing, keeping
 * the last good set, metrics) is done for you.
 *
 * **When to use**
 *
 * To plug in your own source (a registry client, a config service). `fetch` answers
 * `discover`; `payloads` is the live feed for `watch`, one `Payload` per update. A source that can
 * only be polled can use {@link polling} instead.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Result, Stream } from "effect"
 * import { Discovery } from "@switchyard/core"
 *
 * const fromConfig = Discovery.make({
 *   fetch: (service: string) => Effect.succeed([`${service}.internal:80`]),
 *   payloads: (service) => Stream.make(Result.succeed([`${service}.internal:80`]))
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <Target = string, E = never, E2 = never>(options: {
  readonly fetch: (target: Target) => Effect.Effect<unknown, E>
  readonly payloads: (target: Target) => Stream.Stream<Payload, E2>
  readonly key?: ((target: Target) => string) | undefined
}): Discovery<Target> => {
  const key = options.key ?? defaultKey
  const updates = (target: Target) =>
    watchPayloads(
      key(target),
      options.payloads(target).pipe(
        Stream.mapError((e) => new DiscoveryError({ key: key(target), reason: "Source", detail: describe(e), kept: 0 }))
      )
    )
  return {
    key,
    discover: (target) => fetchOnce(key(target), options.fetch(target)),
    updates,
    watch: (target) => updates(target).pipe(Stream.filter(isChanged), Stream.map((u) => u.change))
  }
}

/**
 * A fixed list of endpoints. `watch` emits one `Change` with the whole list, then ends.
 *
 * @category constructors
 * @since 0.1.0
 */
const static_ = <Target = string>(
  endpoints: ReadonlyArray<Endpoint.Endpoint>,
  options?: { readonly key?: ((target: Target) => string) | undefined }
): Discovery<Target> =>
  make({
    fetch: () => Effect.succeed(endpoints),
    payloads: () => Stream.make(Result.succeed(endpoints)),
    key: options?.key
  })

export { static_ as static }

/**
 * Endpoints held in a `SubscriptionRef`: every `set` or `update` of the ref is an update. The ref
 * may hold anything `Endpoint.decodeAll` accepts (decoded endpoints, inputs, raw JSON values).
 *
 * **When to use**
 *
 * When your program learns endpoints itself (from a control plane, an admin API) or in tests.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromRef = <A, Target = string>(
  ref: SubscriptionRef.SubscriptionRef<A>,
  options?: { readonly key?: ((target: Target) => string) | undefined }
): Discovery<Target> =>
  make({
    fetch: () => SubscriptionRef.get(ref),
    payloads: () => SubscriptionRef.changes(ref).pipe(Stream.map(Result.succeed)),
    key: options?.key
  })

/**
 * Polls an effect on a schedule; emits a `Change` only when the set differs from the last good
 * one. The first poll runs at once; a failed or undecodable poll keeps the last good set.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { Discovery } from "@switchyard/core"
 *
 * const discovery = Discovery.polling(
 *   (service: string) => Effect.succeed([`${service}-1.internal:80`, `${service}-2.internal:80`]),
 *   Schedule.spaced("5 seconds")
 * )
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const polling = <E, Target = string>(
  fetch: Effect.Effect<unknown, E> | ((target: Target) => Effect.Effect<unknown, E>),
  schedule: Schedule.Schedule<unknown, unknown>,
  options?: { readonly key?: ((target: Target) => string) | undefined }
): Discovery<Target> => {
  const fetchFor = typeof fetch === "function" ? fetch : () => fetch
  return make({
    fetch: fetchFor,
    payloads: (target) => Stream.fromEffectSchedule(Effect.result(fetchFor(target)), schedule),
    key: options?.key
  })
}

// -----------------------------------------------------------------------------
// guards
// -----------------------------------------------------------------------------

/**
 * @category guards
 * @since 0.1.0
 */
export const isChanged = (update: Update): update is Changed => update._tag === "Changed"

/**
 * @category guards
 * @since 0.1.0
 */
export const isRejected = (update: Update): update is Rejected => update._tag === "Rejected"

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

const defaultKey = (target: unknown): string => String(target)

interface WatchState {
  readonly good: ReadonlyArray<Endpoint.Endpoint>
  readonly started: boolean
  /** the last rejection reported since the last good update, to report a repeated one once */
  readonly rejected?: string | undefined
}

const watchPayloads = (
  key: string,
  payloads: Stream.Stream<Payload, DiscoveryError>
): Stream.Stream<Update, DiscoveryError> => {
  const rejected = (state: WatchState, reason: "Decode" | "Fetch", detail: string) => {
    const counted = Metric.update(Metric.withAttributes(rejectedTotal, { key, reason }), 1)
    const fingerprint = `${reason}:${detail}`
    if (state.rejected === fingerprint) return Effect.as(counted, [state, []] as const)
    const error = new DiscoveryError({ key, reason, detail, kept: state.good.length })
    const update: Rejected = { _tag: "Rejected", error, kept: state.good }
    return counted.pipe(
      Effect.andThen(Effect.logWarning(error.message)),
      Effect.as([{ ...state, rejected: fingerprint }, [update]] as const)
    )
  }
  return payloads.pipe(
    Stream.mapAccumEffect(
      (): WatchState => ({ good: [], started: false }),
      (state, payload): Effect.Effect<readonly [WatchState, ReadonlyArray<Update>]> => {
        if (Result.isFailure(payload)) return rejected(state, "Fetch", describe(payload.failure))
        const decoded = Endpoint.decodeAllResult(payload.success)
        if (Result.isFailure(decoded)) return rejected(state, "Decode", decoded.failure.message)
        const change = Change.diff(state.good, decoded.success, { key })
        if (state.started && Change.isEmpty(change)) {
          return Effect.succeed([state.rejected === undefined ? state : { ...state, rejected: undefined }, []] as const)
        }
        const next: WatchState = { good: change.all, started: true }
        const update: Changed = { _tag: "Changed", change }
        return Metric.update(Metric.withAttributes(endpointsGauge, { key }), change.all.length).pipe(
          Effect.as([next, [update]] as const)
        )
      }
    )
  )
}

const fetchOnce = <E>(key: string, fetch: Effect.Effect<unknown, E>) =>
  fetch.pipe(
    Effect.mapError((e) => new DiscoveryError({ key, reason: "Fetch", detail: describe(e), kept: 0 })),
    Effect.flatMap((payload) =>
      Effect.mapError(
        Endpoint.decodeAll(payload),
        (e) => new DiscoveryError({ key, reason: "Decode", detail: e.message, kept: 0 })
      )
    )
  )

/** A one-line description of a failure of unknown type. */
const describe = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") {
    const tag = "_tag" in error && typeof error._tag === "string" ? `${error._tag}: ` : ""
    return tag + error.message
  }
  return String(error)
}
