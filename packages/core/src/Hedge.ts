/**
 * Hedged requests ("backup requests", Dean & Barroso, *The Tail at Scale*). If a call has not
 * succeeded after a delay, the same request is also sent to another endpoint. The first success
 * wins, and every other attempt is interrupted.
 *
 * **Sources**
 *
 * - gRPC's hedging policy (gRFC A6). After `hedgingDelay` without a successful response, the next
 *   copy goes out, up to `maxAttempts`, each to a backend not used yet where possible. A
 *   *non-fatal* failure sends the next copy at once, and later ones resume at the delay. A
 *   *fatal* failure cancels everything and is returned. On success, the outstanding copies are
 *   cancelled. Hedges, like retries, are throttled.
 * - Finagle's `BackupRequestFilter`. It sends the backup at a latency percentile learned from
 *   recent requests, never earlier than 1 ms, and sends none until it has learned one. It records
 *   the latency of successes and of superseded originals (failures are fast and would skew the
 *   percentile low). Each backup must pass a retry budget shared with retries.
 *
 * **Defaults**
 *
 * - `maxHedges`: **1** backup (gRPC's `maxAttempts` 2). gRPC caps its `maxAttempts` at 5.
 * - `window`: the last **1000** latencies, for `delay: { percentile }`.
 * - `nonFatal`: every failure is non-fatal (gRPC's default list is empty, so there every failure
 *   is fatal). The choice here makes a failed attempt send the next hedge at once, as A6 does for
 *   non-fatal codes, while the attempts still in flight keep running.
 *
 * Hedged requests may run more than once: use hedging only for idempotent calls.
 *
 * @stability experimental
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Balancer from "./Balancer.ts"
import type * as Budget from "./Budget.ts"
import type * as Endpoint from "./Endpoint.ts"
import * as hedging from "./internal/hedge.ts"
import * as option from "./internal/option.ts"
import type * as Options from "./Options.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * A hedger: a hedging policy with the latency history it learns from. Share one per kind of call.
 *
 * @category models
 * @since 0.1.0
 */
export interface Hedger<in E = unknown> {
  /**
   * Runs `f` on an endpoint of `balancer`. If it has not succeeded after the hedging delay, `f`
   * also runs on another endpoint, up to `maxHedges` times. Returns the first success. If every
   * attempt fails, it fails with the last failure.
   */
  readonly use: <A, E2 extends E, R>(
    balancer: Balancer.Balancer,
    f: (endpoint: Endpoint.Endpoint) => Effect.Effect<A, E2, R>,
    options?: {
      /** What each attempt's exit means for its endpoint, as for `Balancer.use` (default `Balancer.classifyExit`). */
      readonly classify?: ((exit: Exit.Exit<A, E2>) => Balancer.Classification) | undefined
    }
  ) => Effect.Effect<A, E2 | Balancer.PickError, R>
  /** The delay after which the next call would hedge, or `None` while the percentile is still unknown. */
  readonly delay: Effect.Effect<Option.Option<Duration.Duration>>
  /** Backups per call, at most. */
  readonly maxHedges: number
}

/**
 * The default number of backups per call: 1.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultMaxHedges: number = hedging.defaults.maxHedges

/**
 * The default number of recent latencies kept for a percentile delay: 1000.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultWindow: number = hedging.defaults.window

/**
 * The shortest percentile delay: 1 ms (Finagle's `minSendBackupAfterMs`).
 *
 * @category models
 * @since 0.1.0
 */
export const minPercentileDelay: Duration.Duration = Duration.millis(hedging.minPercentileMillis)

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * A hedger.
 *
 * **Details**
 *
 * - `delay` is a fixed duration (≥ 0; 0 sends every backup at once, like gRPC without
 *   `hedgingDelay`). It may also be `{ percentile: p }` with `0 < p < 1`: the nearest-rank `p`
 *   quantile of the last `window` latencies, and at least 1 ms. The latencies are those of
 *   successful attempts and of attempts interrupted because one sent after them won (their time
 *   so far, a lower bound). An attempt beaten by one sent before it is not recorded: its time so
 *   far says nothing of slowness, and recording it would drag the quantile down until every call
 *   hedges at once. Failures are not recorded. Until `⌈1/(1−p)⌉` latencies are known (the fewest for which the
 *   quantile is not simply the maximum; capped at `window`), calls are not hedged on time. The
 *   quantile is recomputed after every `window/100` new latencies (at least every one), with an
 *   allocation-free selection.
 * - Backups after the first go out `delay` after the previous attempt was sent. Every attempt
 *   goes to a distinct endpoint from `balancer.picks()`. When none is left, no more backups are
 *   sent. Attempts run through `balancer.useEndpoint`, so pending counts, latency and outcomes
 *   are tracked.
 * - Failures. A failure for which `nonFatal` is `false` (and any defect) interrupts every other
 *   attempt and is returned. A non-fatal failure immediately sends the next backup, if one may
 *   still go. Otherwise the call keeps waiting for the attempts in flight, and fails with the
 *   last failure once none is left.
 * - Load cap. With a `budget`, each call deposits once, and each backup withdraws a token. With
 *   no token, no backup is sent (and no endpoint is picked for it) and the call goes on with the
 *   attempts it has; that is not an error. `maxHedges` caps the backups per call (an integer from 0 to 10; default 1).
 * - Invalid options (a `NaN` or negative delay, a percentile outside (0, 1), a fractional or
 *   too large `maxHedges`, a `nonFatal` that is not a function) fail `make` with an `Options.OptionError`
 *   naming the option and the value.
 * - On success, or when the call is interrupted, every attempt still running is interrupted and
 *   awaited before `use` returns, so their pending counts are back to 0.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Balancer, Budget, Hedge } from "@switchyard/core"
 *
 * declare const balancer: Balancer.Balancer
 * declare const get: (address: string) => Effect.Effect<string, Error>
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make()
 *   const hedger = yield* Hedge.make({ delay: { percentile: 0.95 }, budget })
 *   return yield* hedger.use(balancer, (endpoint) => get(endpoint.address))
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <E = unknown>(options: {
  readonly delay: Duration.Input | { readonly percentile: number }
  readonly maxHedges?: number | undefined
  readonly budget?: Budget.Budget | undefined
  readonly nonFatal?: ((error: E) => boolean) | undefined
  readonly window?: number | undefined
}): Effect.Effect<Hedger<E>, Options.OptionError> =>
  Effect.suspend(() => {
    const settings = hedging.decode(options)
    if (option.isInvalid(settings)) return Effect.fail(option.error("hedge", settings))
    const maxHedges = settings.maxHedges
    const { next: nextDelay, samples } = hedging.delays(settings)
    const nonFatal = options.nonFatal ?? (() => true)
    const config: Config<E> = { maxHedges, budget: options.budget, nonFatal, nextDelay, samples }
    const hedger: Hedger<E> = {
      maxHedges,
      delay: Effect.sync(() => {
        const ms = nextDelay()
        return ms === undefined ? Option.none() : Option.some(Duration.millis(ms))
      }),
      use: (balancer, f, options) => hedged(config, balancer, f, options?.classify)
    }
    return Effect.succeed(hedger)
  })

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

interface Config<E> {
  readonly maxHedges: number
  readonly budget: Budget.Budget | undefined
  readonly nonFatal: (error: E) => boolean
  /** The hedging delay for a call starting now, in ms; `undefined` when not hedging on time. */
  readonly nextDelay: () => number | undefined
  readonly samples: hedging.Samples
}

interface Attempt {
  readonly start: number
  /** Whether `f` was called (if not, the endpoint left the set first and nothing was sent). */
  entered: boolean
  done: boolean
}

interface Arrival<A, E> {
  readonly index: number
  readonly exit: Exit.Exit<A, E>
}

const hedged = <A, E, R>(
  config: Config<any>,
  balancer: Balancer.Balancer,
  f: (endpoint: Endpoint.Endpoint) => Effect.Effect<A, E, R>,
  classify: ((exit: Exit.Exit<A, E>) => Balancer.Classification) | undefined
): Effect.Effect<A, E | Balancer.PickError, R> =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    const now = () => Number(clock.currentTimeNanosUnsafe()) / 1e6
    const endpoints = yield* balancer.picks()
    const head = endpoints.next()
    // nothing to pick: fail with the balancer's own typed error (or use what it picks after all)
    const first = head.done === true ? yield* balancer.pick : head.value
    if (config.budget !== undefined) yield* config.budget.deposit
    const delay = config.nextDelay()
    const results = yield* Queue.unbounded<Arrival<A, E | Balancer.NoEndpointAvailable>>()
    const attempts: Array<Attempt> = []
    const fibers: Array<Fiber.Fiber<unknown, unknown>> = []

    const launch = (endpoint: Endpoint.Endpoint) =>
      Effect.gen(function*() {
        const index = attempts.length
        const attempt: Attempt = { start: now(), entered: false, done: false }
        attempts.push(attempt)
        const fiber = yield* balancer.useEndpoint(endpoint, (e) => {
          attempt.entered = true
          return f(e)
        }, { classify }).pipe(
          Effect.exit,
          Effect.flatMap((exit) => Queue.offer(results, { index, exit })),
          Effect.forkChild
        )
        fibers.push(fiber)
      })

    let hedges = 0
    let open = config.maxHedges > 0
    /** Sends one backup if one may go: a hedge left, a budget token, a distinct endpoint left. */
    const hedge = Effect.gen(function*() {
      if (!open) return false
      // no token, no pick: a backup the budget refuses is not counted as a pick of an endpoint
      if (config.budget !== undefined && (yield* config.budget.balance) < 1) {
        open = false
        return false
      }
      const next = endpoints.next()
      if (next.done === true || (config.budget !== undefined && !(yield* config.budget.tryWithdraw))) {
        open = false
        return false
      }
      hedges++
      if (hedges >= config.maxHedges) open = false
      yield* launch(next.value)
      return true
    })

    const loop = Effect.gen(function*() {
      yield* launch(first)
      let running = 1
      let nextAt = delay === undefined ? Infinity : now() + delay
      while (true) {
        const wait = open ? nextAt - now() : Infinity
        const arrival = wait === Infinity
          ? yield* Queue.take(results)
          : Option.getOrUndefined(yield* Effect.timeoutOption(Queue.take(results), Duration.millis(Math.max(wait, 0))))
        if (arrival === undefined) {
          // the hedging delay passed without a success
          if (yield* hedge) running++
          nextAt = delay === undefined ? Infinity : now() + delay
          continue
        }
        running--
        const attempt = attempts[arrival.index]!
        attempt.done = true
        const exit = arrival.exit
        if (Exit.isSuccess(exit)) {
          const t = now()
          hedging.record(config.samples, t - attempt.start)
          // a superseded attempt that started before the winner ran longer without an answer: its
          // time so far is a lower bound of its latency (one started after says nothing of
          // slowness, and recording it would drag the percentile down until every call hedges)
          for (const other of attempts) {
            if (!other.done && other.start < attempt.start) hedging.record(config.samples, t - other.start)
          }
          yield* Fiber.interruptAll(fibers)
          return exit.value
        }
        const cause = exit.cause
        const error = Cause.hasDies(cause) || Cause.hasInterrupts(cause) ? Option.none() : Cause.findErrorOption(cause)
        const fatal = Option.isNone(error) || (attempt.entered && !config.nonFatal(error.value))
        if (fatal) {
          yield* Fiber.interruptAll(fibers)
          return yield* Effect.failCause(cause)
        }
        // gRFC A6: a non-fatal failure sends the next hedge at once; later ones resume at the delay
        if (yield* hedge) {
          running++
          nextAt = delay === undefined ? Infinity : now() + delay
        }
        if (running === 0) return yield* Effect.failCause(cause)
      }
    })
    return yield* Effect.ensuring(loop, Effect.suspend(() => Fiber.interruptAll(fibers)))
  })
