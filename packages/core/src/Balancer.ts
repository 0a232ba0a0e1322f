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
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import * as Change from "./Change.ts"
import type * as Discovery from "./Discovery.ts"
import type * as Endpoint from "./Endpoint.ts"
import * as ewma from "./internal/ewma.ts"
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
  /** One endpoint for a request hash (an unsigned 32-bit integer; see `RingHash.hash`). */
  readonly pickHash: (hash: number) => Effect.Effect<Endpoint.Endpoint, PickError>
  /** The synchronous pick behind `pick`, for hot loops that manage their own effects. */
  readonly pickUnsafe: (hash?: number) => Endpoint.Endpoint | undefined
  /** Distinct endpoints, the policy's choice first (Volo's `InstancePicker`), for retries. */
  readonly picks: (hash?: number) => Effect.Effect<IterableIterator<Endpoint.Endpoint>>
  /** Runs `f` with a picked endpoint, tracking its pending count, latency and outcome. */
  readonly use: <A, E, R>(
    f: (endpoint: Endpoint.Endpoint) => Effect.Effect<A, E, R>,
    options?: { readonly hash?: number | undefined }
  ) => Effect.Effect<A, E | PickError, R>
  /** Runs `f` on a given endpoint with the same tracking as `use` (e.g. a retry's chosen endpoint). */
  readonly useEndpoint: <A, E, R>(
    endpoint: Endpoint.Endpoint,
    f: (endpoint: Endpoint.Endpoint) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | NoEndpointAvailable, R>
  /** Requests in flight to `address` through this balancer, or `undefined` if it is not in the set. */
  readonly load: (address: string) => Effect.Effect<number | undefined>
  /** Per-endpoint statistics, in the balancer's slot order. */
  readonly snapshot: Effect.Effect<ReadonlyArray<EndpointStats>>
  /** The current endpoints. */
  readonly endpoints: Effect.Effect<ReadonlyArray<Endpoint.Endpoint>>
  /** What a pick would choose now, with the candidates and scores it compared. Draws randomness. */
  readonly explain: (hash?: number) => Effect.Effect<Policy.Explanation>
  /** Applies a change to the slots and the picker (the discovery watch calls this for you). */
  readonly apply: (change: Change.Change) => Effect.Effect<void>
  /** Completes once the first change has been applied. */
  readonly ready: Effect.Effect<void>
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
 * Why a pick found nothing.
 *
 * @category errors
 * @since 0.1.0
 */
export type PickError = NoEndpointAvailable | AllEndpointsExcluded

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

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * A balancer fed by a discovery watch. Scoped: the watch runs until the scope closes.
 *
 * **Details**
 *
 * Fails with the policy's `PolicyError` when the policy was built from invalid options (nothing
 * is started). Picks made before the first change fail with `NoEndpointAvailable` (`ready: false`); wait on
 * `ready` first when that matters. If the watch fails, the balancer logs it and keeps serving the
 * last set it had.
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
 *     policy: PeakEwma.make({ decay: "10 seconds" })
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
}): Effect.Effect<Balancer, Policy.PolicyError, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    let resubscribe = () => {}
    const balancer = yield* build({
      key: options.discovery.key(options.target),
      policy: options.policy,
      trace: options.trace,
      scope,
      resubscribe: () => resubscribe()
    })
    // One watch at a time. A resubscription interrupts the current watch and starts a new one;
    // its first change carries the full set, so it is applied as the diff from what the balancer
    // holds (endpoints that survive keep their state, vanished ones are removed).
    let held: ReadonlyArray<Endpoint.Endpoint> = []
    let watching: Fiber.Fiber<void> | undefined
    const watch = Effect.suspend(() => {
      let first = true
      return options.discovery.watch(options.target).pipe(
        Stream.runForEach((change) => {
          const delta = first ? Change.diff(held, change.all, { key: change.key }) : change
          first = false
          held = change.all
          return balancer.apply(delta)
        }),
        Effect.catchCause((cause) =>
          Effect.logWarning(
            `balancer ${JSON.stringify(balancer.key)}: discovery watch ended; keeping the last set`,
            cause
          )
        )
      )
    })
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
}): Effect.Effect<Balancer, Policy.PolicyError> =>
  Effect.serviceOption(Scope.Scope).pipe(
    Effect.flatMap((scope) => build({ ...options, scope: Option.getOrUndefined(scope) }))
  )

/** Builds a balancer; background work (health probes) runs in `scope` when there is one. */
const build = (options: {
  readonly key?: string | undefined
  readonly policy: Policy.Policy
  readonly trace?: ((explanation: Policy.Explanation) => void) | undefined
  readonly scope?: Scope.Scope | undefined
  readonly resubscribe?: (() => void) | undefined
}): Effect.Effect<Balancer, Policy.PolicyError> =>
  Effect.gen(function*() {
    const key = options.key ?? ""
    const policy = options.policy
    if (policy.error !== undefined) return yield* Effect.fail(policy.error)
    const random = yield* Random.Random
    const clock = yield* Clock.Clock
    const readyLatch = yield* Deferred.make<void>()
    const now = () => Number(clock.currentTimeNanosUnsafe()) / 1e6
    const tau = policy.decayMillis ?? defaultDecayMillis
    const slots: Array<Policy.Slot> = []
    const byAddress = new Map<string, Policy.Slot>()
    // removed slots that still have requests in flight: revived if their address comes back,
    // so `load` stays truthful and learned state is kept; dropped when their last request ends
    const draining = new Map<string, Policy.Slot>()
    const metrics = new Map<string, SlotMetrics>()
    const services = yield* Effect.context<never>()
    const background = new Set<Fiber.Fiber<void>>()
    const fork = (effect: Effect.Effect<void>): void => {
      const fiber = Effect.runForkWith(services)(effect)
      background.add(fiber)
      fiber.addObserver(() => background.delete(fiber))
    }
    if (options.scope !== undefined) {
      yield* Scope.addFinalizer(options.scope, Effect.suspend(() => Fiber.interruptAll(background)))
    }
    const picker = policy.make({
      slots,
      random: () => random.nextDoubleUnsafe(),
      now,
      fork,
      resubscribe: options.resubscribe
    })
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
        const slot = explanation.chosen === undefined ? undefined : byAddress.get(explanation.chosen)
        if (slot !== undefined) slot.picks++
        return slot
      }
    const pickExit = (hash: number): Exit.Exit<Endpoint.Endpoint, PickError> => {
      const slot = pickSlot(hash)
      return slot === undefined ? Exit.fail(noEndpoint()) : Exit.succeed(slot.endpoint)
    }

    const metricsOf = (address: string): SlotMetrics => {
      let found = metrics.get(address)
      if (found === undefined) {
        const attributes = { key, endpoint: address }
        found = {
          picks: Metric.withAttributes(picksTotal, attributes),
          pending: Metric.withAttributes(pendingGauge, attributes),
          failures: Metric.withAttributes(failuresTotal, attributes),
          latency: Metric.withAttributes(latencyTimer, attributes)
        }
        metrics.set(address, found)
      }
      return found
    }

    const acquire = (slot: Policy.Slot) =>
      Effect.suspend(() => {
        slot.pending++
        const start = now()
        const m = metricsOf(slot.endpoint.address)
        return Effect.as(
          Effect.andThen(Metric.update(m.picks, 1), Metric.update(m.pending, slot.pending)),
          { slot, start, metrics: m }
        )
      })
    const release = (lease: Lease, exit: Exit.Exit<unknown, unknown>) =>
      Effect.suspend(() => {
        const { slot } = lease
        slot.pending--
        if (slot.index < 0 && slot.pending === 0) draining.delete(slot.endpoint.address)
        const updates: Array<Effect.Effect<void>> = [Metric.update(lease.metrics.pending, slot.pending)]
        if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) return Effect.all(updates, { discard: true })
        const t = now()
        const latency = Math.max(t - lease.start, 0)
        slot.latency = ewma.observe(slot.latency, slot.stamp, latency, t, tau)
        slot.stamp = t
        updates.push(Metric.update(lease.metrics.latency, Duration.millis(latency)))
        if (Exit.isSuccess(exit)) {
          slot.successes++
          picker.observe?.(slot, { success: true, latency, now: t })
        } else {
          slot.failures++
          updates.push(Metric.update(lease.metrics.failures, 1))
          picker.observe?.(slot, { success: false, error: Cause.squash(exit.cause), latency, now: t })
        }
        return Effect.all(updates, { discard: true })
      })
    const runOn = <A, E, R>(slot: Policy.Slot, f: (endpoint: Endpoint.Endpoint) => Effect.Effect<A, E, R>) =>
      Effect.acquireUseRelease(acquire(slot), (lease) => f(lease.slot.endpoint), release)

    const apply = (change: Change.Change) =>
      Effect.suspend(() => {
        for (const endpoint of change.removed) {
          const slot = byAddress.get(endpoint.address)
          if (slot === undefined) continue
          const last = slots.pop()!
          if (last !== slot) {
            slots[slot.index] = last
            last.index = slot.index
          }
          byAddress.delete(endpoint.address)
          picker.removed(slot)
          slot.index = -1
          if (slot.pending > 0) draining.set(endpoint.address, slot)
        }
        for (const endpoint of change.updated) {
          const slot = byAddress.get(endpoint.address)
          if (slot === undefined) continue
          const previous = slot.endpoint
          slot.endpoint = endpoint
          picker.updated(slot, previous)
        }
        for (const endpoint of change.added) {
          const existing = byAddress.get(endpoint.address)
          if (existing !== undefined) {
            const previous = existing.endpoint
            existing.endpoint = endpoint
            picker.updated(existing, previous)
            continue
          }
          const revived = draining.get(endpoint.address)
          if (revived !== undefined) draining.delete(endpoint.address)
          const slot = revived ?? Policy.makeSlot(endpoint)
          slot.endpoint = endpoint
          slot.index = slots.length
          slots.push(slot)
          byAddress.set(endpoint.address, slot)
          picker.added(slot)
        }
        picker.rebalanced()
        if (isReady) return Effect.void
        isReady = true
        return Deferred.succeed(readyLatch, undefined)
      })

    const distinct = function*(hash: number): Generator<Endpoint.Endpoint, void, undefined> {
      const tried = new Set<Policy.Slot>()
      const first = pickSlot(hash)
      if (first === undefined) return
      tried.add(first)
      yield first.endpoint
      const eligible = slots.length - (picker.excluded?.() ?? 0)
      while (tried.size < eligible) {
        let next: Policy.Slot | undefined
        for (let attempt = 0; attempt < 3 && next === undefined; attempt++) {
          const candidate = picker.pick(-1)
          if (candidate !== undefined && !tried.has(candidate)) next = candidate
        }
        if (next === undefined) {
          const n = slots.length
          const start = Math.floor(random.nextDoubleUnsafe() * n)
          for (let i = 0; i < n && next === undefined; i++) {
            const candidate = slots[(start + i) % n]!
            if (!tried.has(candidate) && (picker.accepts?.(candidate) ?? true)) next = candidate
          }
        }
        if (next === undefined) return
        tried.add(next)
        next.picks++
        yield next.endpoint
      }
    }

    const pick = singleStep(() => pickExit(-1))
    return {
      key,
      policy: policy.name,
      pick,
      pickHash: (hash) => Effect.suspend(() => pickExit(hash)),
      pickUnsafe: (hash = -1) => pickSlot(hash)?.endpoint,
      picks: (hash = -1) => Effect.sync(() => distinct(hash)),
      use: <A, E, R>(
        f: (endpoint: Endpoint.Endpoint) => Effect.Effect<A, E, R>,
        options?: { readonly hash?: number | undefined }
      ) =>
        Effect.suspend((): Effect.Effect<A, E | PickError, R> => {
          const slot = pickSlot(options?.hash ?? -1)
          return slot === undefined ? Effect.fail(noEndpoint()) : runOn(slot, f)
        }),
      useEndpoint: <A, E, R>(endpoint: Endpoint.Endpoint, f: (endpoint: Endpoint.Endpoint) => Effect.Effect<A, E, R>) =>
        Effect.suspend((): Effect.Effect<A, E | NoEndpointAvailable, R> => {
          const slot = byAddress.get(endpoint.address)
          return slot === undefined
            ? Effect.fail(new NoEndpointAvailable({ key, policy: policy.name, ready: isReady }))
            : runOn(slot, f)
        }),
      load: (address) => Effect.sync(() => byAddress.get(address)?.pending),
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
      explain: (hash = -1) => Effect.sync(() => picker.explain(hash)),
      apply,
      ready: Deferred.await(readyLatch)
    } satisfies Balancer
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

interface SlotMetrics {
  readonly picks: Metric.Metric<number, unknown>
  readonly pending: Metric.Metric<number, unknown>
  readonly failures: Metric.Metric<number, unknown>
  readonly latency: Metric.Metric<Duration.Duration, unknown>
}

interface Lease {
  readonly slot: Policy.Slot
  readonly start: number
  readonly metrics: SlotMetrics
}
