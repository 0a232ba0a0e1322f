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
 * `Rejected` element. Every failure counts: a typed error, a defect (an exception thrown inside
 * the source's effect) and a failure value that has no string form alike. The same failure
 * repeated (a poll that keeps failing the same way) is counted every time but reported once,
 * until a good update arrives. The next good update is diffed against the last good set, so
 * recovery is one normal `Change`.
 *
 * **An empty list is not an answer by default.** A registry hiccup that answers `[]` would drop
 * all traffic, so every constructor rejects an empty update (reason `"Empty"`, the last good set
 * kept) unless you pass `empty: "accept"`. This follows Finagle, which tells a negative
 * resolution (`Addr.Neg`) from a bound empty set, and gRPC, whose load-balancing policies treat a
 * resolver result without addresses as an error rather than a reason to drop every connection;
 * Envoy's panic threshold makes the same call for health (route to all hosts rather than none).
 * Pass `empty: "accept"` when an empty set is a real state of your service (scaled to zero).
 *
 * **A watch never stops.** {@link follow} — what a `Balancer` watches with — re-subscribes with
 * a backoff whenever a source's stream fails or ends, diffing the fresh set against the last good
 * one, and reports each stop as a typed `Rejected` update (reason `"Source"` or `"Ended"`). Only
 * a source marked `finite` (a static list, a finished script) may end for good.
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Random from "effect/Random"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Change from "./Change.ts"
import * as Endpoint from "./Endpoint.ts"
import * as backoff from "./internal/backoff.ts"
import * as option from "./internal/option.ts"
import * as render from "./internal/render.ts"
import type { OptionError } from "./Options.ts"

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
   * is counted but not repeated). It may end, or fail when the source's own stream breaks;
   * {@link follow} re-subscribes in both cases.
   */
  readonly updates: (target: Target) => Stream.Stream<Update, DiscoveryError>
  /** The changes of `target`: `updates` without the rejected ones. */
  readonly watch: (target: Target) => Stream.Stream<Change.Change, DiscoveryError>
  /**
   * Whether `updates` ends by design after its last update (a static list, a finished script).
   * A watcher ({@link follow}, a `Balancer`) then stops there; for any other source an end is a
   * stop of the source, and the watcher re-subscribes.
   */
  readonly finite?: boolean | undefined
  /**
   * Set when the discovery was built from invalid options: `Balancer.make` fails with it, and
   * `discover`, `updates` and `watch` fail with a `DiscoveryError` of reason `"Options"` carrying
   * its message.
   */
  readonly error?: OptionError | undefined
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
 * Why an update was rejected, or a discovery refused:
 *
 * - `"Decode"`: the source answered, but the answer is not a valid list of endpoints (`detail`
 *   names the field and the value);
 * - `"Fetch"`: asking the source failed (a typed error, a defect, a timeout);
 * - `"Empty"`: the source answered an empty list, and the discovery rejects those (its `empty`
 *   option);
 * - `"Source"`: the source's stream of updates failed; the watcher re-subscribes;
 * - `"Ended"`: the source's stream of updates ended; the watcher re-subscribes;
 * - `"Options"`: the discovery was built from an invalid option (nothing is watched); `detail` is
 *   the message of the `Options.OptionError` it carries in `error`.
 *
 * @category models
 * @since 0.1.0
 */
export type Reason = "Decode" | "Fetch" | "Empty" | "Source" | "Ended" | "Options"

/**
 * Discovery failed for `key`.
 *
 * **Details**
 *
 * `reason` says how (see {@link Reason}); `detail` says what was wrong, with the offending value;
 * `kept` is how many endpoints the watcher kept serving.
 *
 * @category errors
 * @since 0.1.0
 */
export class DiscoveryError extends Schema.TaggedError<DiscoveryError>()("DiscoveryError", {
  key: Schema.String,
  reason: Schema.Literals(["Decode", "Fetch", "Empty", "Source", "Ended", "Options"]),
  detail: Schema.String,
  kept: Schema.Number
}) {
  override get message(): string {
    if (this.reason === "Options") return `discovery ${JSON.stringify(this.key)}: ${this.detail}; nothing is watched`
    return `discovery ${JSON.stringify(this.key)}: ${
      whatFailed[this.reason]
    }: ${this.detail}; kept the last good set of ${this.kept} endpoint${this.kept === 1 ? "" : "s"}`
  }
}

const whatFailed: Record<Exclude<Reason, "Options">, string> = {
  Decode: "an update failed to decode",
  Fetch: "fetching an update failed",
  Empty: "the source answered an empty list",
  Source: "the source's stream failed",
  Ended: "the source's stream ended"
}

/**
 * What a custom source yields for each update: the raw payload (decoded with
 * `Endpoint.decodeAll`), or why fetching it failed (a failure that is an {@link Invalid} is a
 * source that answered with something that is not a list of endpoints: reason `"Decode"`).
 *
 * @category models
 * @since 0.1.0
 */
export type Payload = Result.Result<unknown, unknown>

/**
 * The failure of a {@link Payload} for an answer that arrived but is not a valid list (a file that
 * is not JSON, a message too large): the update is rejected with reason `"Decode"` and this
 * `detail`, where any other failure is reason `"Fetch"`.
 *
 * @category models
 * @since 0.1.0
 */
export class Invalid {
  readonly _tag = "Invalid"
  readonly detail: string
  constructor(detail: string) {
    this.detail = detail
  }
}

/**
 * What to do with an update that lists no endpoints: `"reject"` it (the default: the last good set
 * is kept, and the update is a `Rejected` with reason `"Empty"`) or `"accept"` it as a real empty
 * set.
 *
 * @category models
 * @since 0.1.0
 */
export type EmptyUpdates = "reject" | "accept"

/**
 * How a watcher waits before it tries again after a failure: `initial` after the first, growing
 * 1.6× with each further failure in a row, up to `max`, each wait jittered by ±20%.
 *
 * @category models
 * @since 0.1.0
 */
export interface Backoff {
  /** The first wait (default 1 second). */
  readonly initial?: Duration.Input | undefined
  /** The longest wait (default 30 seconds). */
  readonly max?: Duration.Input | undefined
}

/**
 * The default backoff: 1 second, growing 1.6× to at most 30 seconds, jittered by ±20%. The first
 * wait, the growth and the jitter are gRPC's connection backoff (`INITIAL_BACKOFF`, `MULTIPLIER`,
 * `JITTER`); the cap is ours, lower than gRPC's 120 seconds, so that a source that recovers is seen
 * again within half a minute.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultBackoff: { readonly initial: Duration.Duration; readonly max: Duration.Duration } = {
  initial: Duration.seconds(1),
  max: Duration.seconds(30)
}

/**
 * The longest a single poll of {@link polling} may take before it counts as a failed fetch: 10
 * seconds.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultPollTimeout: Duration.Duration = Duration.seconds(10)

/**
 * Options every constructor takes.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<Target> {
  /** The key of a target's endpoint set (default: `String(target)`). */
  readonly key?: ((target: Target) => string) | undefined
  /** What an update with no endpoints means (default `"reject"`; see {@link EmptyUpdates}). */
  readonly empty?: EmptyUpdates | undefined
}

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
 * **Details**
 *
 * A payload stream that fails (a typed error or a defect) makes `updates` fail with a
 * `DiscoveryError` of reason `"Source"`; one that ends ends `updates`. Watch through
 * {@link follow} (as a `Balancer` does) to re-subscribe in both cases. Pass `finite: true` when
 * the stream ends by design.
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
export const make = <Target = string, E = never, E2 = never>(
  options: Options<Target> & {
    readonly fetch: (target: Target) => Effect.Effect<unknown, E>
    readonly payloads: (target: Target) => Stream.Stream<Payload, E2>
    readonly finite?: boolean | undefined
  }
): Discovery<Target> => {
  const settings = readSettings(options)
  if (option.isInvalid(settings)) return refused(option.error("discovery", settings), options.key)
  const key = options.key ?? defaultKey
  const updates = (target: Target) => {
    const k = key(target)
    return watchPayloads(
      k,
      settings,
      Stream.suspend(() => options.payloads(target)).pipe(
        Stream.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause)
            ? Stream.failCause(cause as Cause.Cause<never>)
            : Stream.fail(new DiscoveryError({ key: k, reason: "Source", detail: describe(cause), kept: 0 }))
        )
      )
    )
  }
  return {
    key,
    discover: (target) => fetchOnce(key(target), settings, Effect.suspend(() => options.fetch(target))),
    updates,
    watch: (target) => updates(target).pipe(Stream.filter(isChanged), Stream.map((u) => u.change)),
    finite: options.finite === true
  }
}

/**
 * A fixed list of endpoints. `watch` emits one `Change` with the whole list, then ends (the
 * discovery is `finite`). An empty list is rejected unless `empty: "accept"`.
 *
 * @category constructors
 * @since 0.1.0
 */
const static_ = <Target = string>(
  endpoints: ReadonlyArray<Endpoint.Endpoint>,
  options?: Options<Target>
): Discovery<Target> =>
  make({
    ...options,
    fetch: () => Effect.succeed(endpoints),
    payloads: () => Stream.make(Result.succeed(endpoints)),
    finite: true
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
  options?: Options<Target>
): Discovery<Target> =>
  make({
    ...options,
    fetch: () => SubscriptionRef.get(ref),
    payloads: () => SubscriptionRef.changes(ref).pipe(Stream.map(Result.succeed))
  })

/**
 * Polls an effect on a schedule; emits a `Change` only when the set differs from the last good
 * one. The first poll runs at once; a failed or undecodable poll keeps the last good set.
 *
 * **Details**
 *
 * - A poll that fails, dies (throws inside the effect) or takes longer than `timeout` (default
 *   {@link defaultPollTimeout}) is a rejected update of reason `"Fetch"`; polling goes on.
 * - While polls keep failing, they back off: after the first failure the schedule's delay is
 *   kept; after the n-th failure in a row (n ≥ 2) the wait is the schedule's delay or the
 *   `backoff` delay for n − 1 failures, whichever is longer (default {@link defaultBackoff}: 1 s,
 *   1.6 s, 2.6 s … up to 30 s). The first good poll returns to the schedule.
 * - When the schedule ends, the stream ends; a `Balancer` (through {@link follow}) then starts
 *   polling again after the backoff.
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
  options?: Options<Target> & {
    readonly timeout?: Duration.Input | undefined
    readonly backoff?: Backoff | undefined
  }
): Discovery<Target> => {
  const fetchFor = typeof fetch === "function" ? fetch : () => fetch
  const timeout = option.millis("timeout", options?.timeout, Duration.toMillis(defaultPollTimeout), {
    min: 0,
    minInclusive: false,
    infinite: true
  })
  const delays = readBackoff(options?.backoff)
  const invalid = option.isInvalid(timeout)
    ? timeout
    : option.isInvalid(delays)
    ? delays
    : Schedule.isSchedule(schedule)
    ? undefined
    : option.invalid("schedule", schedule, "expected an effect Schedule, such as Schedule.spaced(\"5 seconds\")")
  if (invalid !== undefined) return refused(option.error("discovery", invalid), options?.key)
  const poll = (target: Target): Effect.Effect<unknown, unknown> => {
    const once = Effect.suspend(() => fetchFor(target))
    return timeout === Infinity ? once : Effect.timeoutOrElse(once, {
      duration: Duration.millis(timeout as number),
      orElse: () => Effect.fail(new PollTimeout({ millis: timeout as number }))
    })
  }
  return make({
    ...options,
    fetch: poll,
    payloads: (target) =>
      Stream.suspend(() => {
        let failures = 0
        const attempt = Effect.exit(poll(target)).pipe(Effect.map((exit): Payload => {
          failures = exit._tag === "Success" ? 0 : failures + 1
          return exit._tag === "Success" ? Result.succeed(exit.value) : Result.fail(exit.cause)
        }))
        // the first failure keeps the schedule; each further one in a row waits at least the backoff
        const spaced = schedule.pipe(Schedule.modifyDelay(({ duration }) =>
          failures <= 1
            ? Effect.succeed(duration)
            : Effect.map(Random.next, (u) =>
              Duration.millis(
                Math.max(Duration.toMillis(duration), backoff.delay(delays as backoff.Backoff, failures - 1, u))
              ))
        ))
        return Stream.fromEffectSchedule(attempt, spaced)
      })
  })
}

/**
 * A poll of {@link polling} took longer than its `timeout`.
 *
 * @category errors
 * @since 0.1.0
 */
export class PollTimeout extends Schema.TaggedError<PollTimeout>()("PollTimeout", {
  millis: Schema.Number
}) {
  override get message(): string {
    return `the poll did not answer within ${this.millis} ms`
  }
}

// -----------------------------------------------------------------------------
// combinators
// -----------------------------------------------------------------------------

/**
 * Watches `target` for as long as the stream runs: the updates of `discovery`, re-subscribed with
 * a backoff whenever its stream fails or ends. This is what a `Balancer` watches with.
 *
 * **Details**
 *
 * - The stream never fails and never ends, unless the discovery is `finite` and its stream ends
 *   (then it ends too), or the discovery was built from invalid options (then it emits one
 *   `Rejected` of reason `"Options"` and ends).
 * - Each stop of the source's stream is a `Rejected` update of reason `"Source"` (it failed; a
 *   defect counts) or `"Ended"`, counted in `switchyard_discovery_rejected_total` and logged once
 *   for a run of identical stops. It waits `backoff` (default {@link defaultBackoff}, growing
 *   while stops follow each other with no good update between) and subscribes again.
 * - A fresh subscription's first set is diffed against the last good set, so endpoints that
 *   survive a re-subscription are not removed and re-added: recovery is one normal `Change`
 *   (none when nothing changed). `from` gives the set to diff the very first one against (default
 *   empty, so the first `Changed` carries the full set).
 *
 * @category combinators
 * @since 0.1.0
 */
export const follow = <Target>(
  discovery: Discovery<Target>,
  target: Target,
  options?: {
    readonly backoff?: Backoff | undefined
    readonly from?: ReadonlyArray<Endpoint.Endpoint> | undefined
  }
): Stream.Stream<Update> =>
  Stream.suspend(() => {
    const key = discovery.key(target)
    if (discovery.error !== undefined) {
      const error = optionsError(key, discovery.error)
      return Stream.make<Array<Update>>({ _tag: "Rejected", error, kept: options?.from ?? [] })
    }
    const delays = readBackoff(options?.backoff)
    if (option.isInvalid(delays)) {
      const error = optionsError(key, option.error("discovery", delays))
      return Stream.fromEffect(
        Effect.as(Effect.logWarning(error.message), { _tag: "Rejected", error, kept: options?.from ?? [] } as Update)
      )
    }
    let good: ReadonlyArray<Endpoint.Endpoint> = options?.from ?? []
    let started = options?.from !== undefined
    let stops = 0
    let reported: string | undefined
    const subscription = (): Stream.Stream<Update | Stop> => {
      let first = true
      const pending = stops === 0 ?
        Effect.void :
        Effect.flatMap(Random.next, (u) => Effect.sleep(Duration.millis(backoff.delay(delays, stops, u))))
      return Stream.fromEffect(pending).pipe(
        Stream.drain,
        Stream.concat(discovery.updates(target)),
        Stream.map((update): Update | Stop => {
          if (update._tag === "Rejected") {
            const error = update.error.kept === good.length ? update.error : withKept(update.error, good.length)
            return { _tag: "Rejected", error, kept: good }
          }
          const change = first && started ? Change.diff(good, update.change.all, { key }) : update.change
          first = false
          return { _tag: "Changed", change }
        }),
        Stream.concat(Stream.sync((): Update | Stop => discovery.finite === true ? finished : ended)),
        Stream.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause)
            ? Stream.failCause(cause as Cause.Cause<never>)
            : Stream.succeed(new Stop(cause))
        )
      )
    }
    const stopped = (stop: Stop): Effect.Effect<ReadonlyArray<Update>> => {
      stops++
      const reason = stop.cause === undefined ? "Ended" : "Source"
      const detail = stop.cause === undefined
        ? "re-subscribing"
        : `${describe(stop.cause)}; re-subscribing`
      const error = new DiscoveryError({ key, reason, detail, kept: good.length })
      const counted = Metric.update(Metric.withAttributes(rejectedTotal, { key, reason }), 1)
      const fingerprint = `${reason}:${detail}`
      const update: Rejected = { _tag: "Rejected", error, kept: good }
      if (reported === fingerprint) return Effect.as(counted, [update])
      reported = fingerprint
      return counted.pipe(Effect.andThen(Effect.logWarning(error.message)), Effect.as([update]))
    }
    return Stream.suspend(subscription).pipe(
      Stream.repeat(Schedule.forever),
      Stream.takeWhile((step) => step !== finished),
      Stream.mapEffect((step): Effect.Effect<ReadonlyArray<Update>> => {
        if (step instanceof Stop) return stopped(step)
        if (step._tag === "Rejected") return Effect.succeed([step])
        // after a re-subscription, a set that did not change is no change at all
        const unchanged = started && Change.isEmpty(step.change)
        stops = 0
        reported = undefined
        started = true
        good = step.change.all
        return Effect.succeed(unchanged ? [] : [step])
      }),
      Stream.flattenIterable
    )
  })

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

/** A stop of a source's stream: `cause` when it failed, none when it ended. */
class Stop {
  readonly cause: Cause.Cause<unknown> | undefined
  constructor(cause?: Cause.Cause<unknown>) {
    this.cause = cause
  }
}

const ended = new Stop()

/** The end of a finite source's stream. */
const finished = new Stop()

interface Settings {
  readonly acceptEmpty: boolean
}

const readSettings = (options: { readonly empty?: unknown; readonly key?: unknown }): Settings | option.Invalid => {
  if (options.key !== undefined && typeof options.key !== "function") {
    return option.invalid("key", options.key, "expected a function from a target to its key")
  }
  const empty = options.empty
  if (empty === undefined || empty === "reject") return { acceptEmpty: false }
  if (empty === "accept") return { acceptEmpty: true }
  return option.invalid(
    "empty",
    empty,
    `expected "reject" or "accept"`,
    typeof empty === "string" ? "UnknownChoice" : "WrongType"
  )
}

const readBackoff = (input: Backoff | undefined): backoff.Backoff | option.Invalid =>
  backoff.read(input, Duration.toMillis(defaultBackoff.initial), Duration.toMillis(defaultBackoff.max))

/** What the streams of a discovery refused for `error` fail with. */
const optionsError = (key: string, error: OptionError): DiscoveryError =>
  new DiscoveryError({ key, reason: "Options", detail: error.message, kept: 0 })

const withKept = (error: DiscoveryError, kept: number): DiscoveryError =>
  new DiscoveryError({ key: error.key, reason: error.reason, detail: error.detail, kept })

/** A discovery that refuses to run: every entry point fails with `error`. */
const refused = <Target>(error: OptionError, given?: unknown): Discovery<Target> => {
  const key = typeof given === "function" ? given as (target: Target) => string : defaultKey
  const errorFor = (target: Target) => optionsError(key(target), error)
  return {
    key,
    discover: (target) => Effect.fail(errorFor(target)),
    updates: (target) => Stream.fail(errorFor(target)),
    watch: (target) => Stream.fail(errorFor(target)),
    error
  }
}

interface WatchState {
  readonly good: ReadonlyArray<Endpoint.Endpoint>
  readonly started: boolean
  /** the last rejection reported since the last good update, to report a repeated one once */
  readonly rejected?: string | undefined
}

const watchPayloads = (
  key: string,
  settings: Settings,
  payloads: Stream.Stream<Payload, DiscoveryError>
): Stream.Stream<Update, DiscoveryError> => {
  const rejected = (state: WatchState, reason: "Decode" | "Fetch" | "Empty", detail: string) => {
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
        const decoded = decodePayload(payload, settings)
        if (Result.isFailure(decoded)) return rejected(state, decoded.failure.reason, decoded.failure.detail)
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

/** A payload's endpoints, or why it is rejected. */
const decodePayload = (
  payload: Payload,
  settings: Settings
): Result.Result<ReadonlyArray<Endpoint.Endpoint>, Refusal> => {
  if (Result.isFailure(payload)) {
    const failure = payload.failure
    const invalid = failure instanceof Invalid
      ? failure
      : Cause.isCause(failure)
      ? failure.reasons.find(Cause.isFailReason)?.error
      : undefined
    return Result.fail(
      invalid instanceof Invalid
        ? { reason: "Decode", detail: invalid.detail }
        : { reason: "Fetch", detail: describe(failure) }
    )
  }
  const decoded = Endpoint.decodeAllResult(payload.success)
  if (Result.isFailure(decoded)) return Result.fail({ reason: "Decode", detail: decoded.failure.message })
  if (decoded.success.length === 0 && !settings.acceptEmpty) {
    return Result.fail({
      reason: "Empty",
      detail: `an update with no endpoints is rejected (pass empty: "accept" to allow it)`
    })
  }
  return Result.succeed(decoded.success)
}

interface Refusal {
  readonly reason: "Decode" | "Fetch" | "Empty"
  readonly detail: string
}

const fetchOnce = (key: string, settings: Settings, fetch: Effect.Effect<unknown, unknown>) =>
  Effect.exit(fetch).pipe(
    Effect.flatMap((exit) => {
      const decoded = decodePayload(
        exit._tag === "Success" ? Result.succeed(exit.value) : Result.fail(exit.cause),
        settings
      )
      return Result.isSuccess(decoded)
        ? Effect.succeed(decoded.success)
        : Effect.fail(
          new DiscoveryError({ key, reason: decoded.failure.reason, detail: decoded.failure.detail, kept: 0 })
        )
    })
  )

/** A one-line description of a failure of unknown type; a `Cause` is described by its first reason. */
const describe = (failure: unknown): string => {
  if (!Cause.isCause(failure)) return render.failure(failure)
  const first = failure.reasons[0]
  if (first === undefined) return "(an empty cause)"
  if (Cause.isFailReason(first)) return render.failure(first.error)
  if (Cause.isDieReason(first)) return `defect: ${render.failure(first.defect)}`
  return "interrupted"
}
