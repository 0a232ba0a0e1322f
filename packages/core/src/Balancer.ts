/**
 * A balancer: a discovery watch and a policy, kept in step. It applies every `Change` to its
 * per-endpoint slots (keeping the learned state of endpoints that survive), rebalances the
 * policy's picker, and hands out endpoints.
 *
 * **Picking**
 *
 * - `pick` / `pickHash(hash)`: one endpoint, or a typed {@link NoEndpointAvailable}. One Effect step
 *   around the picker's synchronous, allocation-free `pick`.
 * - `picks()`: an iterator of distinct endpoints (Volo's `InstancePicker`): the policy's choice
 *   first, then others, so each retry goes to an endpoint not yet tried.
 * - `use(f)`: acquire / use / release. The endpoint's pending count goes up before `f` runs and
 *   down when it ends — however it ends, interruption and timeouts included — and the latency and
 *   outcome are recorded (nntp-proxy's `route_command` / `complete_command`, made leak-proof).
 *
 * An endpoint removed while requests to it are in flight keeps its slot until they end; if its
 * address comes back meanwhile, the same slot (pending count, latency estimate, statistics)
 * rejoins.
 *
 * **Tracing**: with the `trace` option every pick goes through the picker's `explain`, and the
 * callback receives why the endpoint was chosen (the candidates and their scores). It costs an
 * allocation per pick, so it is off by default.
 *
 * **Observing**: `load(address)` (pending requests), `snapshot` (pending, latency estimate, picks,
 * successes, failures per endpoint), `explain` (why a pick would choose what it chooses), and the
 * Effect metrics `switchyard_balancer_picks_total`, `switchyard_balancer_pending`,
 * `switchyard_balancer_failures_total` and the `switchyard_balancer_latency` timer, all with
 * `key` and `endpoint` attributes, updated by `use`.
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import * as Change from "./Change.ts"
import * as Discovery from "./Discovery.ts"
import type * as Endpoint from "./Endpoint.ts"
import * as backoff from "./internal/backoff.ts"
import * as ewma from "./internal/ewma.ts"
import * as option from "./internal/option.ts"
import * as seriesImpl from "./internal/series.ts"
import * as slotTable from "./internal/table.ts"
import type * as Options from "./Options.ts"
import * as Policy from "./Policy.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * A balancer over the endpoints of one discovery key.
 *
 * @category models
 * @since 0.1.0
 */
export interface Balancer {
  /** The discovery key of the endpoint set. */
  readonly key: string
  /** The policy's name. */
  readonly policy: string
  /** One endpoint, or `NoEndpointAvailable`. */
  readonly pick: Effect.Effect<Endpoint.Endpoint, PickError>
  /**
   * One endpoint for a request hash: an unsigned 32-bit integer (see `RingHash.hash`). Any other
   * value fails with {@link InvalidHash}.
   */
  readonly pickHash: (hash: number) => Effect.Effect<Endpoint.Endpoint, PickError>
  /**
   * The synchronous pick behind `pick`, for hot loops that manage their own effects: an endpoint,
   * or `undefined` when there is none. Throws {@link InvalidHash} for a `hash` that is not an
   * unsigned 32-bit integer. Unlike `pick`, it does not count the pick in `snapshot`'s `picks`
   * (unless the balancer traces its picks): it is the picker's `pick` and nothing more.
   */
  readonly pickUnsafe: (hash?: number) => Endpoint.Endpoint | undefined
  /** Distinct endpoints, the policy's choice first (Volo's `InstancePicker`), for retries. */
  readonly picks: (hash?: number) => Effect.Effect<IterableIterator<Endpoint.Endpoint>, InvalidHash>
  /**
   * Runs `f` with a picked endpoint, tracking its pending count, latency and outcome: pending + 1
   * before `f`, − 1 after it however it ends. `classify` says what the exit means for the
   * endpoint's health and latency estimate (default {@link classifyExit}: a success is a success,
   * an interruption is ignored, any other failure is a failure).
   */
  readonly use: <A, E, R>(
    f: (endpoint: Endpoint.Endpoint) => Effect.Effect<A, E, R>,
    options?: {
      readonly hash?: number | undefined
      readonly classify?: ((exit: Exit.Exit<A, E>) => Classification) | undefined
    }
  ) => Effect.Effect<A, E | PickError, R>
  /** Runs `f` on a given endpoint with the same tracking as `use` (e.g. a retry's chosen endpoint). */
  readonly useEndpoint: <A, E, R>(
    endpoint: Endpoint.Endpoint,
    f: (endpoint: Endpoint.Endpoint) => Effect.Effect<A, E, R>,
    options?: { readonly classify?: ((exit: Exit.Exit<A, E>) => Classification) | undefined }
  ) => Effect.Effect<A, E | NoEndpointAvailable, R>
  /**
   * Picks an endpoint and holds it (pending + 1) until the lease is completed or its `Scope`
   * closes, whichever comes first: for work that is not one Effect (a reply that arrives on
   * another fiber, an event acknowledged later). See {@link Lease}.
   */
  readonly lease: (hash?: number) => Effect.Effect<Lease, PickError, Scope.Scope>
  /** Requests in flight to `address` through this balancer, or `undefined` if it is not in the set. */
  readonly load: (address: string) => Effect.Effect<number | undefined>
  /** Per-endpoint statistics, in the balancer's slot order. */
  readonly snapshot: Effect.Effect<ReadonlyArray<EndpointStats>>
  /** The current endpoints. */
  readonly endpoints: Effect.Effect<ReadonlyArray<Endpoint.Endpoint>>
  /** What a pick would choose now, with the candidates and scores it compared. Draws randomness. */
  readonly explain: (hash?: number) => Effect.Effect<Policy.Explanation, InvalidHash>
  /** Applies a change to the slots and the picker (the discovery watch calls this for you). */
  readonly apply: (change: Change.Change) => Effect.Effect<void>
  /**
   * Succeeds once the first change has been applied (at once if it has been). Each run waits at
   * most the balancer's `readyTimeout` (default {@link defaultReadyTimeout}) and then fails with
   * {@link NotReady}, which carries the last discovery error; it fails at once when the source has
   * ended for good without a good update.
   */
  readonly ready: Effect.Effect<void, NotReady>
}

/**
 * Statistics of one endpoint.
 *
 * @category models
 * @since 0.1.0
 */
export interface EndpointStats {
  readonly endpoint: Endpoint.Endpoint
  readonly pending: number
  /** Peak-EWMA latency estimate in ms as of now, or `undefined` before the first sample. */
  readonly latency: number | undefined
  readonly picks: number
  readonly successes: number
  readonly failures: number
}

/**
 * There was no endpoint to pick: the set is empty, or no discovery update has arrived yet.
 *
 * @category errors
 * @since 0.1.0
 */
export class NoEndpointAvailable extends Schema.TaggedError<NoEndpointAvailable>()("NoEndpointAvailable", {
  key: Schema.String,
  policy: Schema.String,
  ready: Schema.Boolean
}) {
  override get message(): string {
    return `no endpoint available for ${JSON.stringify(this.key)} (${this.policy}): ${
      this.ready ? "the endpoint set is empty" : "no discovery update has arrived yet"
    }`
  }
}

/**
 * Every endpoint of a non-empty set is excluded from picking: unhealthy (health checks) or
 * ejected (outlier detection), and the policy's panic mode did not apply.
 *
 * @category errors
 * @since 0.1.0
 */
export class AllEndpointsExcluded extends Schema.TaggedError<AllEndpointsExcluded>()("AllEndpointsExcluded", {
  key: Schema.String,
  policy: Schema.String,
  endpoints: Schema.Number
}) {
  override get message(): string {
    return `no endpoint available for ${JSON.stringify(this.key)} (${this.policy}): all ${this.endpoints} endpoint${
      this.endpoints === 1 ? " is" : "s are"
    } unhealthy or ejected`
  }
}

/**
 * A request hash that is not an unsigned 32-bit integer (0 to 2^32 − 1) was given to
 * `pickHash`, `use`, `picks` or `explain`: a negative, fractional, `NaN` or too large number
 * would otherwise quietly mean some other key.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidHash extends Schema.TaggedError<InvalidHash>()("InvalidHash", {
  key: Schema.String,
  hash: Schema.String
}) {
  override get message(): string {
    return `invalid request hash for ${
      JSON.stringify(this.key)
    }: ${this.hash} (expected an unsigned 32-bit integer, 0 to 4294967295, such as RingHash.hash(key)); nothing was picked`
  }
}

/**
 * `ready` gave up: no good discovery update arrived within `waitedMillis` (or the source ended
 * for good without one). `last` is the last discovery error seen, if any: why the source failed.
 *
 * @category errors
 * @since 0.1.0
 */
export class NotReady extends Schema.TaggedError<NotReady>()("NotReady", {
  key: Schema.String,
  waitedMillis: Schema.Number,
  last: Schema.optional(Discovery.DiscoveryError)
}) {
  override get message(): string {
    const why = this.last === undefined
      ? "no discovery update has arrived"
      : `the last discovery error: ${this.last.message}`
    return `balancer ${JSON.stringify(this.key)} is not ready after ${this.waitedMillis} ms: ${why}`
  }
}

/**
 * Why a pick found nothing.
 *
 * @category errors
 * @since 0.1.0
 */
export type PickError = NoEndpointAvailable | AllEndpointsExcluded | InvalidHash

/**
 * What a completed request means for its endpoint: `"success"` and `"failure"` are outcomes (their
 * latency is a sample, health checks and outlier detection learn from them); `"ignore"` says
 * nothing about the endpoint (a 429, a cancelled stream, an interruption): only its pending count
 * is released.
 *
 * @category models
 * @since 0.1.0
 */
export type Classification = "success" | "failure" | "ignore"

/**
 * The default classification of an exit: a success is `"success"`, a failure made only of
 * interruptions is `"ignore"`, any other failure (a defect included) is `"failure"`.
 *
 * @category models
 * @since 0.1.0
 */
export const classifyExit = (exit: Exit.Exit<unknown, unknown>): Classification =>
  Exit.isSuccess(exit) ? "success" : Cause.hasInterruptsOnly(exit.cause) ? "ignore" : "failure"

/**
 * An endpoint held by {@link Balancer.lease}.
 *
 * **Details**
 *
 * The endpoint's pending count is + 1 from the lease until `complete` — or, when `complete` is never
 * called, until the lease's `Scope` closes, which releases it as `"ignore"`. Only the first
 * completion counts: later calls, and the scope's release after a completion, do nothing, so a
 * lease is never counted twice. The latency of an outcome is the time from the lease to
 * `complete`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Lease {
  readonly endpoint: Endpoint.Endpoint
  /** Completes the lease (once): `error` is the failure health checks see for a `"failure"`. */
  readonly complete: (result: Classification, error?: unknown) => Effect.Effect<void>
}

/**
 * Requests handed out by `use`, by `key` and `endpoint`.
 *
 * @category models
 * @since 0.1.0
 */
export const picksTotal = Metric.counter("switchyard_balancer_picks_total", {
  description: "requests sent to an endpoint through Balancer.use",
  incremental: true
})

/**
 * Requests in flight, by `key` and `endpoint`.
 *
 * @category models
 * @since 0.1.0
 */
export const pendingGauge = Metric.gauge("switchyard_balancer_pending", {
  description: "requests in flight to an endpoint through Balancer.use"
})

/**
 * Requests that failed, by `key` and `endpoint`.
 *
 * @category models
 * @since 0.1.0
 */
export const failuresTotal = Metric.counter("switchyard_balancer_failures_total", {
  description: "requests through Balancer.use that failed (interruptions are not failures)",
  incremental: true
})

/**
 * Latency of completed requests, by `key` and `endpoint`.
 *
 * @category models
 * @since 0.1.0
 */
export const latencyTimer = Metric.timer("switchyard_balancer_latency", {
  description: "latency of requests through Balancer.use"
})

/**
 * The time constant of the latency estimate kept for policies that do not set their own: 10 s.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultDecayMillis = 10_000

/**
 * The balancer's source of time for latencies and load: milliseconds as a fractional `number`, on
 * any fixed time line. By default (`undefined`) the balancer reads Effect's `Clock`
 * (`currentTimeNanosUnsafe`, so `TestClock` drives it). Reading a `bigint` and converting it costs
 * about 0.2 µs, twice per request; the adapters' service layers (`NodeServices.layer`,
 * `BunServices.layer`) provide a reading of the runtime's high-resolution timer instead, at a
 * quarter of that.
 *
 * **Gotchas**
 *
 * It replaces the `Clock` only for the balancer's own measurements: under `TestClock`, do not
 * provide an adapter's layer (or provide `Timer` with `undefined`), or latencies are real time.
 *
 * @category services
 * @since 0.1.0
 */
export const Timer = Context.Reference<(() => number) | undefined>("@switchyard/core/Balancer/Timer", {
  defaultValue: () => undefined
})

/**
 * How long `ready` waits for the first good discovery update before it fails with
 * {@link NotReady}: 30 seconds. Pass `readyTimeout` to change it (`Duration.infinity` waits forever).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultReadyTimeout: Duration.Duration = Duration.seconds(30)

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * A balancer fed by a discovery watch. Scoped: the watch runs until the scope closes.
 *
 * **Details**
 *
 * - Fails with an `Options.OptionError` when the policy or the discovery was built from invalid
 *   options (the one they carry in `error`) or one of its own options is invalid (module
 *   `"balancer"`); nothing is started.
 * - The watch is `Discovery.follow`: it never stops. A failed or undecodable update keeps the
 *   last good set; when the source's stream fails or ends, the balancer re-subscribes with a
 *   backoff (`backoff`, default `Discovery.defaultBackoff`) and applies the fresh set as a diff,
 *   so endpoints that survive keep their state. Only a `finite` source (a static list) ends the
 *   watch.
 * - Picks made before the first change fail with `NoEndpointAvailable` (`ready: false`); wait on
 *   `ready` first when that matters. `ready` waits at most `readyTimeout` (default
 *   {@link defaultReadyTimeout}) and fails with {@link NotReady}, carrying the source's last
 *   `DiscoveryError`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Balancer, Discovery, Endpoint, PeakEwma } from "@switchyard/core"
 *
 * const program = Effect.gen(function*() {
 *   const balancer = yield* Balancer.make({
 *     discovery: Discovery.static([Endpoint.makeUnsafe("10.0.0.1:80"), Endpoint.makeUnsafe("10.0.0.2:80")]),
 *     target: "api",
 *     policy: PeakEwma.make({ decay: "10 seconds" }),
 *     readyTimeout: "5 seconds"
 *   })
 *   yield* balancer.ready
 *   return yield* balancer.use((endpoint) => Effect.succeed(`called ${endpoint.address}`))
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <Target>(options: {
  readonly discovery: Discovery.Discovery<Target>
  readonly target: Target
  readonly policy: Policy.Policy
  readonly trace?: ((explanation: Policy.Explanation) => void) | undefined
  readonly readyTimeout?: Duration.Input | undefined
  readonly backoff?: Discovery.Backoff | undefined
}): Effect.Effect<Balancer, Options.OptionError, Scope.Scope> =>
  Effect.gen(function*() {
    const discovery = options.discovery
    if (discovery.error !== undefined) return yield* Effect.fail(discovery.error)
    const delays = backoff.read(
      options.backoff,
      Duration.toMillis(Discovery.defaultBackoff.initial),
      Duration.toMillis(Discovery.defaultBackoff.max)
    )
    if (option.isInvalid(delays)) return yield* option.error("balancer", delays)
    const scope = yield* Effect.scope
    let resubscribe = () => {}
    let last: Discovery.DiscoveryError | undefined
    const [balancer, internals] = yield* build({
      key: discovery.key(options.target),
      policy: options.policy,
      trace: options.trace,
      readyTimeout: options.readyTimeout,
      scope,
      resubscribe: () => resubscribe(),
      last: () => last
    })
    // One watch at a time. A resubscription (health's, when every host is excluded) interrupts the
    // current watch and starts a new one from the set the balancer holds; `follow` diffs the fresh
    // set against it, so endpoints that survive keep their state and vanished ones are removed.
    let held: ReadonlyArray<Endpoint.Endpoint> | undefined
    let watching: Fiber.Fiber<void> | undefined
    const watch = Effect.suspend(() =>
      Discovery.follow(discovery, options.target, { backoff: options.backoff, from: held }).pipe(
        Stream.runForEach((update) => {
          if (update._tag === "Rejected") {
            last = update.error
            return Effect.void
          }
          held = update.change.all
          return balancer.apply(update.change)
        }),
        // only a finite source ends the watch
        Effect.andThen(internals.ended)
      )
    )
    // one (re)subscription at a time, so two resubscribe calls never leave two watches running
    const lock = yield* Semaphore.make(1)
    const start = Semaphore.withPermit(
      lock,
      Effect.gen(function*() {
        if (watching !== undefined) yield* Fiber.interrupt(watching)
        watching = yield* Effect.forkIn(watch, scope)
      })
    )
    const services = yield* Effect.context<never>()
    resubscribe = () => {
      Effect.runForkWith(services)(start)
    }
    yield* start
    return balancer
  })

/**
 * A balancer without a discovery source: feed it changes with `apply`. For tests, benchmarks and
 * sources you drive yourself.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeWith = (options: {
  readonly key?: string | undefined
  readonly policy: Policy.Policy
  readonly trace?: ((explanation: Policy.Explanation) => void) | undefined
  readonly readyTimeout?: Duration.Input | undefined
}): Effect.Effect<Balancer, Options.OptionError> =>
  Effect.serviceOption(Scope.Scope).pipe(
    Effect.flatMap((scope) => build({ ...options, scope: Option.getOrUndefined(scope) })),
    Effect.map(([balancer]) => balancer)
  )

/** What `make` needs from a balancer beyond its public face. */
interface Internals {
  /** The watch ended for good: `ready` fails from now on until a change is applied. */
  readonly ended: Effect.Effect<void>
}

/** Builds a balancer; background work (health probes) runs in `scope` when there is one. */
const build = (options: {
  readonly key?: string | undefined
  readonly policy: Policy.Policy
  readonly trace?: ((explanation: Policy.Explanation) => void) | undefined
  readonly readyTimeout?: Duration.Input | undefined
  readonly scope?: Scope.Scope | undefined
  readonly resubscribe?: (() => void) | undefined
  readonly last?: (() => Discovery.DiscoveryError | undefined) | undefined
}): Effect.Effect<readonly [Balancer, Internals], Options.OptionError> =>
  Effect.gen(function*() {
    const key = options.key ?? ""
    const policy = options.policy
    if (policy.error !== undefined) return yield* Effect.fail(policy.error)
    const readyMillis = option.millis(
      "readyTimeout",
      options.readyTimeout,
      Duration.toMillis(defaultReadyTimeout),
      { min: 0, infinite: true }
    )
    if (option.isInvalid(readyMillis)) {
      return yield* Effect.fail(option.error("balancer", readyMillis))
    }
    const random = yield* Random.Random
    const clock = yield* Clock.Clock
    const readyLatch = yield* Deferred.make<void, NotReady>()
    const now = (yield* Timer) ?? (() => Number(clock.currentTimeNanosUnsafe()) / 1e6)
    const services = yield* Effect.context<never>()
    // background work (health probes, timers): fibers of a FiberSet in the balancer's scope, all
    // interrupted when it closes; without a scope (`makeWith` outside one) they are detached
    const runFork = options.scope === undefined
      ? Effect.runForkWith(services)
      : yield* FiberSet.makeRuntime<never, void, never>().pipe(Scope.provide(options.scope))
    const fork = (effect: Effect.Effect<void>): void => {
      runFork(effect)
    }
    const table = slotTable.make(policy, {
      random: randomOf(random),
      now,
      fork,
      resubscribe: options.resubscribe
    }, (address) => series.drop(address))
    const slots = table.slots
    const picker = table.picker
    const tau = table.load.decayMillis
    const series = seriesImpl.make(
      { requests: picksTotal, pending: pendingGauge, failures: failuresTotal, latency: latencyTimer },
      key,
      services
    )
    let isReady = false

    const noEndpoint = (): PickError =>
      slots.length > 0
        ? new AllEndpointsExcluded({ key, policy: policy.name, endpoints: slots.length })
        : new NoEndpointAvailable({ key, policy: policy.name, ready: isReady })
    const trace = options.trace
    const pickSlot = trace === undefined
      ? (hash: number): Policy.Slot | undefined => {
        const slot = picker.pick(hash)
        if (slot !== undefined) slot.picks++
        return slot
      }
      : (hash: number): Policy.Slot | undefined => {
        const explanation = picker.explain(hash)
        trace(explanation)
        const slot = explanation.chosen === undefined ? undefined : table.slot(explanation.chosen)
        if (slot !== undefined) slot.picks++
        return slot
      }
    const pickExit = (hash: number): Exit.Exit<Endpoint.Endpoint, PickError> => {
      const slot = pickSlot(hash)
      return slot === undefined ? Exit.fail(noEndpoint()) : Exit.succeed(slot.endpoint)
    }
    const isHash = slotTable.isHash
    const invalidHash = (hash: unknown) => new InvalidHash({ key, hash: option.invalid("hash", hash, "").value })
    const throwInvalidHash = (hash: unknown): never => {
      throw invalidHash(hash)
    }
    const hashOf = (hash: number | undefined): number | InvalidHash =>
      hash === undefined ? -1 : isHash(hash) ? hash : invalidHash(hash)
    const notReady = (waitedMillis: number) => new NotReady({ key, waitedMillis, last: options.last?.() })
    let ended = false

    // the one lease: begin and finish (used by `use`, `useEndpoint` and `lease` alike)
    const begin = (slot: Policy.Slot): Ticket => {
      table.acquire(slot)
      const s = series.of(slot)
      s.requests++
      return { slot, series: s, start: now(), done: false }
    }
    const finish = (ticket: Ticket, result: Classification, error: unknown): void => {
      if (ticket.done) return
      ticket.done = true
      const slot = ticket.slot
      if (result === "ignore") return table.release(slot, undefined)
      const t = now()
      const latency = Math.max(t - ticket.start, 0)
      seriesImpl.record(ticket.series, latency)
      if (result === "success") return table.release(slot, { success: true, latency, now: t })
      ticket.series.failures++
      table.release(slot, { success: false, error, latency, now: t })
    }
    const runOn = <A, E, R, P>(
      acquire: Effect.Effect<Ticket, P>,
      f: (endpoint: Endpoint.Endpoint) => Effect.Effect<A, E, R>,
      classify: ((exit: Exit.Exit<A, E>) => Classification) | undefined
    ) =>
      Effect.acquireUseRelease(
        acquire,
        (ticket) => f(ticket.slot.endpoint),
        // acquireUseRelease calls the release when the use has ended (uninterruptibly): finishing
        // right there saves an Effect per request
        (ticket, exit) => {
          finish(
            ticket,
            classify === undefined ? classifyExit(exit) : classify(exit),
            Exit.isFailure(exit) ? Cause.squash(exit.cause) : exit.value
          )
          return Effect.void
        }
      )
    /** The lease's start as an Effect: a pick (or the given endpoint's slot) and `begin`, in one step. */
    const picked = (hash: number | undefined): Effect.Effect<Ticket, PickError> =>
      Effect.suspend(() => {
        if (hash !== undefined && !isHash(hash)) return Exit.fail(invalidHash(hash))
        const slot = pickSlot(hash ?? -1)
        return slot === undefined ? Exit.fail(noEndpoint()) : Exit.succeed(begin(slot))
      })
    const held = (endpoint: Endpoint.Endpoint): Effect.Effect<Ticket, NoEndpointAvailable> =>
      Effect.suspend(() => {
        const slot = table.slot(endpoint.address)
        return slot === undefined
          ? Exit.fail(new NoEndpointAvailable({ key, policy: policy.name, ready: isReady }))
          : Exit.succeed(begin(slot))
      })

    const apply = (change: Change.Change) =>
      Effect.suspend(() => {
        table.apply(change, now())
        if (isReady) return Effect.void
        isReady = true
        return Deferred.succeed(readyLatch, undefined)
      })
    const ready: Effect.Effect<void, NotReady> = Effect.suspend(() => {
      if (isReady) return Effect.void
      if (ended) return Effect.fail(notReady(0))
      if (readyMillis === Infinity) return Deferred.await(readyLatch)
      return Deferred.await(readyLatch).pipe(Effect.timeoutOrElse({
        duration: Duration.millis(readyMillis),
        orElse: () => Effect.suspend(() => isReady ? Effect.void : Effect.fail(notReady(readyMillis)))
      }))
    })

    const distinct = function*(hash: number): Generator<Endpoint.Endpoint, void, undefined> {
      const first = pickSlot(hash)
      if (first === undefined) return
      const tried = new Set<Policy.Slot>([first])
      const round: slotTable.Round = { has: (s) => tried.has(s), add: (s) => tried.add(s), size: () => tried.size }
      yield first.endpoint
      for (let next = table.nextDistinct(round); next !== undefined; next = table.nextDistinct(round)) {
        yield next.endpoint
      }
    }

    const pick = singleStep(() => pickExit(-1))
    const balancer: Balancer = {
      key,
      policy: policy.name,
      pick,
      pickHash: (hash) => Effect.suspend(() => isHash(hash) ? pickExit(hash) : Exit.fail(invalidHash(hash))),
      // untraced: the picker's own `pickUnsafe` when it has one (`slotTable.PickUnsafe` says why),
      // else the picker called directly (no pick count), in a function small enough for
      // JavaScriptCore to inline into the caller's loop (its budget counts this function's
      // bytecode, not its callees'); no write to the slot, which at 10,000 endpoints is a cache
      // miss of its own
      pickUnsafe: trace === undefined
        ? slotTable.fastOf(picker)?.(throwInvalidHash) ?? ((hash) => {
          const slot = picker.pick(hash === undefined ? -1 : isHash(hash) ? hash : throwInvalidHash(hash))
          return slot === undefined ? undefined : slot.endpoint
        })
        : (hash) => {
          if (hash === undefined) return pickSlot(-1)?.endpoint
          if (!isHash(hash)) throw invalidHash(hash)
          return pickSlot(hash)?.endpoint
        },
      picks: (hash) =>
        Effect.suspend(() => {
          const h = hashOf(hash)
          return typeof h === "number" ? Effect.succeed(distinct(h)) : Effect.fail(h)
        }),
      use: <A, E, R>(
        f: (endpoint: Endpoint.Endpoint) => Effect.Effect<A, E, R>,
        options?: {
          readonly hash?: number | undefined
          readonly classify?: ((exit: Exit.Exit<A, E>) => Classification) | undefined
        }
      ): Effect.Effect<A, E | PickError, R> => runOn(picked(options?.hash), f, options?.classify),
      useEndpoint: <A, E, R>(
        endpoint: Endpoint.Endpoint,
        f: (endpoint: Endpoint.Endpoint) => Effect.Effect<A, E, R>,
        options?: { readonly classify?: ((exit: Exit.Exit<A, E>) => Classification) | undefined }
      ): Effect.Effect<A, E | NoEndpointAvailable, R> => runOn(held(endpoint), f, options?.classify),
      lease: (hash) =>
        Effect.acquireRelease(picked(hash), (ticket) => Effect.sync(() => finish(ticket, "ignore", undefined))).pipe(
          Effect.map((ticket): Lease => ({
            endpoint: ticket.slot.endpoint,
            complete: (result, error) => Effect.sync(() => finish(ticket, result, error))
          }))
        ),
      load: (address) => Effect.sync(() => table.slot(address)?.pending),
      snapshot: Effect.sync(() => {
        const t = now()
        return slots.map((slot) => ({
          endpoint: slot.endpoint,
          pending: slot.pending,
          latency: slot.latency < 0 ? undefined : ewma.current(slot.latency, slot.stamp, t, tau, 0),
          picks: slot.picks,
          successes: slot.successes,
          failures: slot.failures
        }))
      }),
      endpoints: Effect.sync(() => slots.map((slot) => slot.endpoint)),
      explain: (hash) =>
        Effect.suspend(() => {
          const h = hashOf(hash)
          return typeof h === "number" ? Effect.succeed(picker.explain(h)) : Effect.fail(h)
        }),
      apply,
      ready
    }
    const internals: Internals = {
      ended: Effect.suspend(() => {
        ended = true
        return isReady ? Effect.void : Deferred.fail(readyLatch, notReady(0))
      })
    }
    return [balancer, internals] as const
  })

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

/**
 * An Effect that evaluates `run` each time it runs (it is `Effect.suspend(run)`), and that also
 * evaluates it when a generator reaches `yield* effect`: the iterator hands the fresh `Exit`
 * straight to the `Effect.gen` loop, which takes an Exit's value inline, without a fiber step.
 * So `yield* balancer.pick` costs about what `yield* Effect.sync(...)` does, and `pick` still works
 * everywhere else (pipe, flatMap, runSync) as an ordinary Effect.
 */
const singleStep = <A, E>(run: () => Exit.Exit<A, E>): Effect.Effect<A, E> => {
  const effect = Effect.suspend(run)
  Object.defineProperty(effect, Symbol.iterator, { value: () => run()[Symbol.iterator](), enumerable: false })
  return effect
}

/** One request in flight through the lease: done once completed or released. */
interface Ticket {
  readonly slot: Policy.Slot
  readonly series: seriesImpl.Series
  readonly start: number
  done: boolean
}

/** effect's default `Random` (what a fiber has when nothing is provided). */
const defaultRandom = Context.get(Context.empty(), Random.Random)

/**
 * The pickers' random function: the default `Random`'s own method, which reads no `this` (one
 * call fewer on every pick, so JavaScriptCore inlines the draw), any other `Random` through
 * itself.
 */
const randomOf = (random: typeof defaultRandom): () => number =>
  random === defaultRandom ? defaultRandom.nextDoubleUnsafe : () => random.nextDoubleUnsafe()
