/**
 * Health checking as ServiceTalk's round-robin load balancer does it: a policy
 * wrapper that takes a host out of selection after consecutive failures, probes it in the
 * background until a probe passes, and puts it back at once (ServiceTalk
 * `RoundRobinLoadBalancerBuilder` / `RoundRobinLoadBalancerFactory.Builder`, `DefaultHost`,
 * `HealthCheckConfig`).
 *
 * **The behaviour** (ServiceTalk's, one rule at a time)
 *
 * - A host whose requests fail `threshold` times **in a row** becomes unhealthy: it leaves the
 *   inner policy's view (the inner picker never sees it) and a background check probes it with
 *   your `probe` until one passes. Any outcome that is not a counted failure resets the count.
 * - Which failures count is `isFailure(error)`; by default every failure does. ServiceTalk counts
 *   only failures to **establish a connection** (and not connection-limit rejections), so pass a
 *   classifier that recognises your transport's connect errors to get exactly its semantics, and
 *   a probe that opens a connection.
 * - Probes are spaced by `interval` with `jitter`: each wait is drawn uniformly from
 *   `[interval − jitter, interval + jitter]` with `context.random` (ServiceTalk's
 *   `retryWithConstantBackoffDeltaJitter`). The first probe comes one such wait after the host
 *   became unhealthy, as in ServiceTalk.
 * - When a probe passes the host rejoins **at once** with its failure count at zero. A request
 *   that was in flight when the host was marked unhealthy and then succeeds is proof of health too
 *   (ServiceTalk's `addConnection` turns an unhealthy host active): the host rejoins and its
 *   probe stops.
 * - When **every** host is excluded, the wrapper asks the balancer to re-subscribe to discovery
 *   (`context.resubscribe`) every `resubscribeInterval` ± `resubscribeJitter`, for as long as they
 *   all stay excluded; the first call comes one such wait after the last host left. (ServiceTalk
 *   checks the same condition lazily when a connection is selected, at most once per interval.)
 *   Picks meanwhile fail with `Balancer.AllEndpointsExcluded`: there is no panic mode (ServiceTalk
 *   fails selection when no host is healthy; see `OutlierDetection` for a panic threshold).
 * - A negative `threshold` turns health checking off: `make` returns the inner policy itself and
 *   failing hosts stay in the regular rotation (ServiceTalk's documented switch). `0` is rejected,
 *   as ServiceTalk rejects it.
 *
 * **Additions** (not in ServiceTalk)
 *
 * - `gateNewEndpoints: true`: an endpoint, from the first set on, is not eligible until its first
 *   probe passes; it is probed at once, then every interval (as Envoy waits for a host's first
 *   health check before it takes traffic). Until one passes, picks fail with
 *   `Balancer.AllEndpointsExcluded`.
 * - `slowStart`: a host that joins or rejoins ramps up over the window (Envoy's slow start, linear
 *   aggression): when the inner picker chooses a host `elapsed` into its window, the wrapper keeps
 *   the choice with probability `elapsed / window` and otherwise asks the inner picker again, at
 *   most twice. A host the inner picker would choose with probability `p` thus gets about
 *   `p·(f + (1 − f)·p·(f + (1 − f)·p))` at `f = elapsed / window`: from `p³` when it joins to `p`
 *   at the end of the window, with no allocation and at most two extra inner picks. The endpoints
 *   of the first non-empty set do not ramp (there is nothing to ramp against). With hashed inner policies a re-draw with the same hash picks the same host, so slow
 *   start has no effect there.
 *
 * **Where there is no Effect runtime** (`context.fork` absent, as in the deterministic simulator):
 * no probe runs; an unhealthy host rejoins once its jittered interval has passed, checked lazily
 * against `context.now` on the next pick, outcome or rebalance; gated endpoints join at once; and
 * re-subscription is not scheduled.
 *
 * **Defaults** (ServiceTalk `HealthCheckConfig` / `L4HealthCheck` and
 * `RoundRobinLoadBalancerFactory.Builder`): `threshold` **5**
 * (`DEFAULT_HEALTH_CHECK_FAILED_CONNECTIONS_THRESHOLD`), `interval` **5 s**
 * (`DEFAULT_HEALTH_CHECK_INTERVAL`), `jitter` **3 s** (`DEFAULT_HEALTH_CHECK_JITTER`),
 * `resubscribeInterval` **10 s** (`DEFAULT_HEALTH_CHECK_RESUBSCRIBE_INTERVAL`), `resubscribeJitter`
 * **3 s** (the builder reuses `DEFAULT_HEALTH_CHECK_JITTER`). As in ServiceTalk's
 * `validateHealthCheckIntervals`, an interval must be positive, a jitter non-negative and smaller
 * than its interval. Invalid options give a policy whose `error` makes `Balancer.make` fail with a
 * typed `OptionError` naming the option and the value.
 *
 * **Gotchas**
 *
 * - Give the probe its own timeout: a probe that never completes keeps its host out forever. A
 *   probe that fails, dies or throws counts as failed.
 * - Removing an endpoint interrupts its probe; closing the balancer's scope interrupts them all
 *   (a `Balancer.makeWith` built outside any `Scope` has no lifetime to tie them to).
 * - `isFailure` runs inside the balancer's release step: keep it a cheap, total predicate.
 * - Wrapped by `OutlierDetection`, this wrapper sees an ejection as a removal and an un-ejection
 *   as an addition (so a returning host is gated and ramps like a new one).
 *
 * @stability experimental
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { dual } from "effect/Function"
import type * as Endpoint from "./Endpoint.ts"
import * as eligible from "./internal/eligible.ts"
import * as render from "./internal/render.ts"
import { OptionError } from "./Options.ts"
import * as Policy from "./Policy.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * Options of {@link make}.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * Checks one unhealthy (or gated) endpoint; success brings it back. ServiceTalk opens a
   * connection. Runs in the balancer's scope. A probe that fails, dies (throws) or takes longer
   * than `probeTimeout` is a failed probe; the next one follows after the interval.
   */
  readonly probe: (endpoint: Endpoint.Endpoint) => Effect.Effect<unknown, unknown>
  /** The longest a probe may take before it counts as failed (default: the `interval`). */
  readonly probeTimeout?: Duration.Input | undefined
  /**
   * Consecutive failures that make a host unhealthy (default {@link defaultThreshold}); a
   * negative number turns health checking off; `0` is invalid.
   */
  readonly threshold?: number | undefined
  /** Whether a failure counts toward the threshold (default: every failure counts). */
  readonly isFailure?: ((error: unknown) => boolean) | undefined
  /** Time between probes (default {@link defaultInterval}). */
  readonly interval?: Duration.Input | undefined
  /** Each wait between probes is uniform in `interval ± jitter` (default {@link defaultJitter}). */
  readonly jitter?: Duration.Input | undefined
  /** Time between re-subscriptions while every host is excluded (default {@link defaultResubscribeInterval}). */
  readonly resubscribeInterval?: Duration.Input | undefined
  /** Jitter of the re-subscription interval (default {@link defaultResubscribeJitter}). */
  readonly resubscribeJitter?: Duration.Input | undefined
  /** Whether a new endpoint waits for a passing probe before it is picked (default `false`). */
  readonly gateNewEndpoints?: boolean | undefined
  /** A window over which a (re)joining host ramps up from ~0 to its full share (default: none). */
  readonly slowStart?: Duration.Input | undefined
}

/**
 * Consecutive failures before a host is unhealthy: 5 (ServiceTalk
 * `DEFAULT_HEALTH_CHECK_FAILED_CONNECTIONS_THRESHOLD`).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultThreshold = 5

/**
 * Time between probes of an unhealthy host: 5 seconds (ServiceTalk `DEFAULT_HEALTH_CHECK_INTERVAL`).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultInterval: Duration.Duration = Duration.seconds(5)

/**
 * Jitter of the probe interval: 3 seconds (ServiceTalk `DEFAULT_HEALTH_CHECK_JITTER`).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultJitter: Duration.Duration = Duration.seconds(3)

/**
 * Time between re-subscriptions while every host is unhealthy: 10 seconds (ServiceTalk
 * `DEFAULT_HEALTH_CHECK_RESUBSCRIBE_INTERVAL`).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultResubscribeInterval: Duration.Duration = Duration.seconds(10)

/**
 * Jitter of the re-subscription interval: 3 seconds (ServiceTalk's builder uses
 * `DEFAULT_HEALTH_CHECK_JITTER` for it).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultResubscribeJitter: Duration.Duration = Duration.seconds(3)

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Wraps `policy` with ServiceTalk-style health checking: the inner picker only sees healthy hosts.
 *
 * **When to use**
 *
 * When a host can be down while discovery still lists it and you can probe it cheaply (open a
 * connection, call a health endpoint). For hosts that answer but answer badly, use
 * `OutlierDetection`; the two compose.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Health, LeastPending, OutlierDetection } from "@switchyard/core"
 *
 * declare const connect: (address: string) => Effect.Effect<void, Error>
 *
 * const policy = OutlierDetection.make(
 *   Health.make(LeastPending.make(), {
 *     probe: (endpoint) => connect(endpoint.address).pipe(Effect.timeout("1 second")),
 *     isFailure: (error) => error instanceof Error && error.name === "ConnectError",
 *     slowStart: "30 seconds"
 *   })
 * )
 * ```
 *
 * It is dual: `pipe(LeastPending.make(), Health.make({ probe }))` reads the same.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: {
  (options: Options): (policy: Policy.Policy) => Policy.Policy
  (policy: Policy.Policy, options: Options): Policy.Policy
} = dual(2, (policy: Policy.Policy, options: Options): Policy.Policy => {
  if (policy.error !== undefined) return policy
  const settings = parse(options)
  if (settings instanceof OptionError) return Policy.invalid(settings)
  if (settings.threshold < 0) return policy
  const name = `health(${policy.name})`
  return Policy.wrap(policy, name, (context) => build(name, policy, settings, context))
})

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

interface Settings {
  readonly probe: (endpoint: Endpoint.Endpoint) => Effect.Effect<unknown, unknown>
  readonly threshold: number
  readonly isFailure: (error: unknown) => boolean
  readonly interval: number
  readonly jitter: number
  readonly resubscribeInterval: number
  readonly resubscribeJitter: number
  readonly gate: boolean
  readonly slowStart: number
  readonly probeTimeout: number
}

const everyFailure = (): boolean => true

/** The largest count an option accepts. */
const maxCount = 2_147_483_647

const parse = (options: Options): Settings | OptionError => {
  const threshold = Policy.integerOption(
    "health",
    "threshold",
    options.threshold,
    defaultThreshold,
    -maxCount,
    maxCount
  )
  if (threshold instanceof OptionError) return threshold
  if (threshold === 0) {
    return new OptionError({
      module: "health",
      option: "threshold",
      value: "0",
      reason: "OutOfRange",
      problem:
        "expected a positive integer, or a negative one to turn health checking off (0 is rejected, as in ServiceTalk)"
    })
  }
  const probe = Policy.functionOption("health", "probe", options.probe)
  if (probe instanceof OptionError) return probe
  if (probe === undefined) {
    return new OptionError({
      module: "health",
      option: "probe",
      value: "undefined",
      reason: "WrongType",
      problem: "expected a function"
    })
  }
  const isFailure = Policy.functionOption("health", "isFailure", options.isFailure)
  if (isFailure instanceof OptionError) return isFailure
  const gate = Policy.booleanOption("health", "gateNewEndpoints", options.gateNewEndpoints, false)
  if (gate instanceof OptionError) return gate
  const interval = spacing("interval", options.interval, defaultInterval, "jitter", options.jitter, defaultJitter)
  if (interval instanceof OptionError) return interval
  const resubscribe = spacing(
    "resubscribeInterval",
    options.resubscribeInterval,
    defaultResubscribeInterval,
    "resubscribeJitter",
    options.resubscribeJitter,
    defaultResubscribeJitter
  )
  if (resubscribe instanceof OptionError) return resubscribe
  const slowStart = options.slowStart === undefined ? 0 : Policy.durationOption(
    "health",
    "slowStart",
    options.slowStart,
    Duration.zero,
    { millis: 0, inclusive: false }
  )
  if (typeof slowStart !== "number") return slowStart
  const probeTimeout = Policy.durationOption(
    "health",
    "probeTimeout",
    options.probeTimeout,
    Duration.millis(interval[0]),
    {
      millis: 0,
      inclusive: false
    }
  )
  if (typeof probeTimeout !== "number") return probeTimeout
  return {
    probe,
    threshold,
    isFailure: isFailure ?? everyFailure,
    interval: interval[0],
    jitter: interval[1],
    resubscribeInterval: resubscribe[0],
    resubscribeJitter: resubscribe[1],
    gate,
    slowStart,
    probeTimeout
  }
}

/** An interval and its jitter in ms, validated as ServiceTalk's `validateHealthCheckIntervals` does. */
const spacing = (
  intervalName: string,
  intervalInput: Duration.Input | undefined,
  intervalDefault: Duration.Duration,
  jitterName: string,
  jitterInput: Duration.Input | undefined,
  jitterDefault: Duration.Duration
): readonly [number, number] | OptionError => {
  const interval = Policy.durationOption("health", intervalName, intervalInput, intervalDefault, {
    millis: 0,
    inclusive: false
  })
  if (typeof interval !== "number") return interval
  const jitter = Policy.durationOption("health", jitterName, jitterInput, jitterDefault, { millis: 0, inclusive: true })
  if (typeof jitter !== "number") return jitter
  if (interval - jitter <= 0) {
    return new OptionError({
      module: "health",
      option: jitterName,
      value: jitterInput === undefined ? `${jitter} ms (the default)` : render.value(jitterInput),
      reason: "OutOfRange",
      problem: `expected less than ${intervalName} (${interval} ms): ${intervalName} − ${jitterName} must stay positive`
    })
  }
  return [interval, jitter]
}

const HEALTHY = 0
const UNHEALTHY = 1
const GATED = 2

/** What the wrapper knows about one slot. */
interface Host {
  readonly slot: Policy.Slot
  status: typeof HEALTHY | typeof UNHEALTHY | typeof GATED
  /** Consecutive counted failures while healthy. */
  failures: number
  /** The running probe loop, if any. */
  task: Task | undefined
  /** Without a runtime: when an unhealthy host rejoins. */
  rejoinAt: number
  /** When the host (re)joined, for slow start; `-Infinity` when it is not ramping. */
  joinedAt: number
}

/** A background loop: stopped by the flag (checked after every wait) and by interrupting its fiber. */
interface Task {
  fiber: Fiber.Fiber<unknown, unknown> | undefined
  stopped: boolean
}

const build = (name: string, policy: Policy.Policy, s: Settings, context: Policy.Host): Policy.Picker => {
  const subset = eligible.make(policy, context)
  const inner = subset.inner
  const hosts = new Map<Policy.Slot, Host>()
  const fork = context.fork
  const resubscribe = context.resubscribe
  const random = context.random
  let nextRejoin = Infinity
  let rampUntil = -Infinity
  let seeded = false
  let resubscriber: Task | undefined

  /** A wait drawn uniformly from [interval − jitter, interval + jitter], in ms. */
  const jittered = (interval: number, jitter: number): number => interval - jitter + 2 * jitter * random()

  const run = (spawn: (effect: Effect.Effect<void>) => void, task: Task, body: Effect.Effect<void>): void =>
    spawn(Effect.withFiber((fiber) => {
      if (task.stopped) return Effect.void
      task.fiber = fiber
      return body
    }))

  const stop = (task: Task): void => {
    task.stopped = true
    const fiber = task.fiber
    task.fiber = undefined
    if (fiber !== undefined && fork !== undefined) fork(Fiber.interrupt(fiber))
  }

  const probing = (host: Host, task: Task, immediate: boolean): Effect.Effect<void> =>
    Effect.gen(function*() {
      for (let first = true; !task.stopped; first = false) {
        if (!(immediate && first)) yield* Effect.sleep(Duration.millis(jittered(s.interval, s.jitter)))
        if (task.stopped) return
        const exit = yield* Effect.exit(
          Effect.timeout(Effect.suspend(() => s.probe(host.slot.endpoint)), Duration.millis(s.probeTimeout))
        )
        if (task.stopped) return
        if (Exit.isSuccess(exit)) {
          task.stopped = true
          if (host.task === task) host.task = undefined
          join(host, context.now())
          return
        }
      }
    })

  const startProbing = (host: Host, immediate: boolean): void => {
    if (fork === undefined) return
    const task: Task = { fiber: undefined, stopped: false }
    host.task = task
    run(fork, task, probing(host, task, immediate))
  }

  const allExcluded = (): boolean => hosts.size > 0 && subset.slots.length === 0

  const resubscribing = (task: Task, resubscribe: () => void): Effect.Effect<void> =>
    Effect.gen(function*() {
      while (!task.stopped) {
        yield* Effect.sleep(Duration.millis(jittered(s.resubscribeInterval, s.resubscribeJitter)))
        if (task.stopped) return
        if (!allExcluded()) {
          task.stopped = true
          if (resubscriber === task) resubscriber = undefined
          return
        }
        resubscribe()
      }
    })

  const watchAll = (): void => {
    if (fork === undefined || resubscribe === undefined || resubscriber !== undefined || !allExcluded()) return
    const task: Task = { fiber: undefined, stopped: false }
    resubscriber = task
    run(fork, task, resubscribing(task, resubscribe))
  }

  const join = (host: Host, now: number): void => {
    host.status = HEALTHY
    host.failures = 0
    if (host.task !== undefined) {
      stop(host.task)
      host.task = undefined
    }
    if (s.slowStart > 0 && seeded) {
      host.joinedAt = now
      if (now + s.slowStart > rampUntil) rampUntil = now + s.slowStart
    }
    subset.include(host.slot)
    if (resubscriber !== undefined) {
      stop(resubscriber)
      resubscriber = undefined
    }
  }

  const markUnhealthy = (host: Host, now: number): void => {
    host.status = UNHEALTHY
    host.failures = 0
    host.joinedAt = -Infinity
    subset.exclude(host.slot)
    if (fork === undefined) {
      host.rejoinAt = now + jittered(s.interval, s.jitter)
      if (host.rejoinAt < nextRejoin) nextRejoin = host.rejoinAt
    } else {
      startProbing(host, false)
    }
    watchAll()
  }

  /** Without a runtime: rejoins the unhealthy hosts whose interval has passed. */
  const rejoinDue = (now: number): void => {
    let next = Infinity
    for (const host of hosts.values()) {
      if (host.status !== UNHEALTHY) continue
      if (host.rejoinAt <= now) join(host, host.rejoinAt)
      else if (host.rejoinAt < next) next = host.rejoinAt
    }
    nextRejoin = next
  }

  const lazily = (): void => {
    if (nextRejoin !== Infinity) {
      const now = context.now()
      if (now >= nextRejoin) rejoinDue(now)
    }
  }

  /** Slow start: keeps a choice in its window with probability elapsed / window, else draws again. */
  const ramp = (slot: Policy.Slot, hash: number): Policy.Slot => {
    const now = context.now()
    if (now >= rampUntil) {
      rampUntil = -Infinity
      return slot
    }
    let chosen = slot
    for (let draw = 0; draw < 2; draw++) {
      const joinedAt = hosts.get(chosen)?.joinedAt ?? -Infinity
      const elapsed = now - joinedAt
      if (elapsed >= s.slowStart || random() < elapsed / s.slowStart) return chosen
      chosen = inner.pick(hash) ?? chosen
    }
    return chosen
  }

  const excludedNote = (): string => {
    const unhealthy: Array<string> = []
    const gated: Array<string> = []
    for (const host of hosts.values()) {
      if (host.status === UNHEALTHY) unhealthy.push(host.slot.endpoint.address)
      else if (host.status === GATED) gated.push(host.slot.endpoint.address)
    }
    const parts: Array<string> = []
    if (unhealthy.length > 0) {
      parts.push(`unhealthy (${fork === undefined ? "back after its interval" : "probing"}): ${unhealthy.join(", ")}`)
    }
    if (gated.length > 0) parts.push(`awaiting a first passing probe: ${gated.join(", ")}`)
    return parts.length === 0 ? "health: no endpoint excluded" : `health excluded ${parts.join("; ")}`
  }

  const find = (address: Endpoint.Address | undefined): Policy.Slot | undefined => {
    if (address === undefined) return undefined
    for (const slot of subset.slots) if (slot.endpoint.address === address) return slot
    return undefined
  }

  return {
    pick: (hash) => {
      lazily()
      const slot = inner.pick(hash)
      return slot === undefined || rampUntil === -Infinity ? slot : ramp(slot, hash)
    },
    explain: (hash) => {
      lazily()
      let explanation = inner.explain(hash)
      let redraws = ""
      if (rampUntil !== -Infinity) {
        const now = context.now()
        if (now >= rampUntil) {
          rampUntil = -Infinity
        } else {
          for (let draw = 0; draw < 2; draw++) {
            const slot = find(explanation.chosen)
            if (slot === undefined) break
            const elapsed = now - (hosts.get(slot)?.joinedAt ?? -Infinity)
            if (elapsed >= s.slowStart || random() < elapsed / s.slowStart) break
            redraws += `; slow start: ${slot.endpoint.address} is ${
              Math.round(100 * elapsed / s.slowStart)
            }% into its window, drew again`
            const next = inner.explain(hash)
            if (next.chosen === undefined) break
            explanation = next
          }
        }
      }
      return { ...explanation, policy: name, note: `${explanation.note}${redraws}; ${excludedNote()}` }
    },
    added: (slot) => {
      const gate = s.gate && fork !== undefined
      const host: Host = {
        slot,
        status: gate ? GATED : HEALTHY,
        failures: 0,
        task: undefined,
        rejoinAt: Infinity,
        joinedAt: -Infinity
      }
      hosts.set(slot, host)
      subset.added(slot, !gate)
      if (gate) {
        startProbing(host, true)
      } else if (s.slowStart > 0 && seeded) {
        const now = context.now()
        host.joinedAt = now
        if (now + s.slowStart > rampUntil) rampUntil = now + s.slowStart
      }
    },
    removed: (slot) => {
      const host = hosts.get(slot)
      if (host === undefined) return
      hosts.delete(slot)
      if (host.task !== undefined) {
        stop(host.task)
        host.task = undefined
      }
      subset.removed(slot)
    },
    updated: subset.updated,
    rebalanced: () => {
      subset.rebalanced()
      if (hosts.size > 0) seeded = true
      lazily()
      watchAll()
    },
    observe: (slot, outcome) => {
      const host = hosts.get(slot)
      if (host === undefined) return
      lazily()
      if (subset.has(slot)) inner.observe?.(slot, outcome)
      const failed = !outcome.success && s.isFailure(outcome.error)
      if (host.status === HEALTHY) {
        if (!failed) host.failures = 0
        else if (++host.failures >= s.threshold) markUnhealthy(host, outcome.now)
      } else if (!failed) {
        join(host, outcome.now)
      }
    },
    excluded: () => hosts.size - subset.slots.length + (inner.excluded?.() ?? 0),
    accepts: (slot) => subset.has(slot) && (inner.accepts?.(slot) ?? true)
  }
}
