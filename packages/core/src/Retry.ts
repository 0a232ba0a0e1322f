/**
 * Retries over a balancer. A failed attempt is sent again, each time to an endpoint that has not
 * been tried yet, for as long as one remains. Retries wait a backoff between attempts, and are
 * limited by an attempt count, per-attempt and overall deadlines, and an optional shared retry
 * budget. In the connection-pool view this is "reschedule the request to another connection,
 * up to a maximum number of send attempts". Unlike a pool that drops what it cannot send, every
 * way of giving up here is a typed error.
 *
 * **Sources**
 *
 * - gRPC's retry design (gRFC A6). `maxAttempts` counts the original attempt. The call's deadline
 *   covers all attempts and backoffs. Retries happen between the channel and the load balancer,
 *   "so that every retry gets a chance to be sent out on a different subchannel". Requests the
 *   server never saw are retried transparently.
 * - Envoy's route retry policy. `per_try_timeout`, and the `previous_hosts` retry host predicate
 *   that keeps a retry off hosts already tried.
 * - Finagle. Its `RetryBudget` limits retries (see `Budget`). Its `RequeueFilter` retries only
 *   requests that were never written, whatever the method.
 *
 * **Defaults**
 *
 * - `maxAttempts`: **3** (the original plus 2 retries). This is the AWS SDKs' "standard" retry
 *   mode default. gRPC has no default and caps `maxAttempts` at 5; Envoy's default is 1 retry
 *   (2 attempts).
 * - `schedule`: exponential from **50 ms**, factor **2**, jittered (Effect's `Schedule.jittered`,
 *   ×0.8–1.2), capped at **1 s**. The factor and the cap are those of gRFC A6's example policy
 *   (`initialBackoff` 0.1 s, `backoffMultiplier` 2, `maxBackoff` 1 s). The base lies between
 *   Envoy's default of 25 ms (which caps at 250 ms) and gRPC's example.
 * - `retryOn`: {@link isRetryable}. `idempotent`: **false**. No `perTryTimeout`, no `deadline` and
 *   no `budget`.
 *
 * @stability experimental
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Balancer from "./Balancer.ts"
import type * as Budget from "./Budget.ts"
import type * as Endpoint from "./Endpoint.ts"
import * as option from "./internal/option.ts"
import * as retry from "./internal/retry.ts"
import type * as Options from "./Options.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * A retry policy for errors of type `E` (built by {@link make}, used by {@link use}).
 *
 * **Details**
 *
 * A failed attempt is retried only if all of these hold:
 *
 * 1. It failed with an error (a defect or an interruption is never retried).
 * 2. The error is retryable. For the errors of `f`, `retryOn` decides. An {@link AttemptTimedOut}
 *    is always retryable. So is the balancer's `NoEndpointAvailable` for an endpoint that left
 *    the set before the attempt could start.
 * 3. Retrying is safe: either the request is `idempotent`, or the error shows that the request was
 *    never sent (`notSent`). An attempt that timed out may have been sent, so a non-idempotent
 *    request is not retried after one.
 * 4. Fewer than `maxAttempts` attempts were made, and the `schedule` has not ended.
 * 5. The backoff ends before the `deadline`, and the `budget` (if any) grants a token.
 *
 * @category models
 * @since 0.1.0
 */
export interface Retry<in E = unknown> {
  /** Attempts in all, the original included (at least 1). */
  readonly maxAttempts: number
  /** The backoff before each retry; it is stepped with the error of the failed attempt. */
  readonly schedule: Schedule.Schedule<unknown, E | AttemptTimedOut | Balancer.NoEndpointAvailable>
  /** Whether an error of `f` is worth retrying. */
  readonly retryOn: (error: E) => boolean
  /** Whether an error of `f` proves that the request was never sent (so a retry cannot duplicate it). */
  readonly notSent: (error: E) => boolean
  /** Whether the request may be processed more than once. */
  readonly idempotent: boolean
  /** The time limit of each attempt, if any. */
  readonly perTryTimeout: Duration.Duration | undefined
  /** The time limit of the whole call (all attempts and backoffs), if any. */
  readonly deadline: Duration.Duration | undefined
  /** The shared budget retries draw from, if any. */
  readonly budget: Budget.Budget | undefined
  /** Set when the options were invalid: `use` then fails with it and sends nothing. */
  readonly error: Options.OptionError | undefined
}

/**
 * An attempt took longer than the policy's `perTryTimeout`. It was interrupted, and the balancer
 * recorded it as a failure of that endpoint. It is retryable. Because it may have been sent, a
 * non-idempotent request is not retried after it.
 *
 * @category errors
 * @since 0.1.0
 */
export class AttemptTimedOut extends Schema.TaggedError<AttemptTimedOut>()("AttemptTimedOut", {
  endpoint: Schema.String,
  timeoutMillis: Schema.Number,
  attempt: Schema.Number
}) {
  override get message(): string {
    return `attempt ${this.attempt} to ${this.endpoint} took longer than the per-try timeout of ${this.timeoutMillis} ms and was interrupted`
  }
}

/**
 * The call's overall deadline passed. The deadline covers every attempt and every backoff. If it
 * passed `during` an attempt, that attempt was interrupted. If it would have passed during a
 * `backoff`, no further attempt could have started in time, so the call gave up at once rather
 * than wait.
 *
 * @category errors
 * @since 0.1.0
 */
export class DeadlineExceeded extends Schema.TaggedError<DeadlineExceeded>()("DeadlineExceeded", {
  deadlineMillis: Schema.Number,
  attempts: Schema.Number,
  elapsedMillis: Schema.Number,
  during: Schema.Literals(["attempt", "backoff"])
}) {
  override get message(): string {
    return this.during === "attempt"
      ? `deadline of ${this.deadlineMillis} ms passed during attempt ${this.attempts}, which was interrupted; no further attempt was made`
      : `deadline of ${this.deadlineMillis} ms would pass before retry ${this.attempts + 1} could start ` +
        `(${round(this.elapsedMillis)} ms spent on ${this.attempts} attempt${
          this.attempts === 1 ? "" : "s"
        }); gave up without waiting`
  }
}

/**
 * The default attempt count: 3 (the AWS SDKs' standard retry mode).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultMaxAttempts = 3

/**
 * The default backoff. It is exponential from 50 ms with factor 2, jittered ×0.8–1.2, and capped
 * at 1 s. The n-th retry therefore waits `min(50·2ⁿ⁻¹·j, 1000)` ms, with `j` in [0.8, 1.2].
 *
 * @category models
 * @since 0.1.0
 */
export const defaultSchedule: Schedule.Schedule<Duration.Duration> = Schedule.min([
  Schedule.jittered(Schedule.exponential("50 millis", 2)),
  Schedule.spaced("1 second")
])

/**
 * Error tags that `isRetryable` treats as retryable: connection failures and timeouts.
 *
 * @category models
 * @since 0.1.0
 */
export const retryableTags: ReadonlyArray<string> = [
  "ConnectError",
  "ConnectionRefused",
  "ConnectionRejected",
  "ConnectTimeout",
  "TimeoutError"
]

/**
 * Error tags that `isNotSent` treats as "the request was never sent". These are failures to
 * establish a connection (Finagle's write exceptions, gRPC's transparent-retry cases).
 *
 * @category models
 * @since 0.1.0
 */
export const notSentTags: ReadonlyArray<string> = [
  "ConnectError",
  "ConnectionRefused",
  "ConnectionRejected",
  "ConnectTimeout"
]

// -----------------------------------------------------------------------------
// guards
// -----------------------------------------------------------------------------

/**
 * The default `retryOn`. It is `true` for an error with a boolean `retryable` field set to
 * `true`. For an error without one, it is `true` when the `_tag` is in {@link retryableTags}, and
 * for an effect `HttpClientError` whose reason is a `TransportError` (the connection failed or
 * broke). An explicit `retryable: false` wins over the tag.
 *
 * **Example**
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Retry } from "@switchyard/core"
 *
 * class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {
 *   retryable: Schema.Boolean
 * }) {}
 *
 * Retry.isRetryable(new Unavailable({ retryable: true })) // true
 * Retry.isRetryable({ _tag: "ConnectError" }) // true
 * Retry.isRetryable(new Error("boom")) // false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isRetryable = (error: unknown): boolean => {
  if (typeof error !== "object" || error === null) return false
  const flag = (error as { readonly retryable?: unknown }).retryable
  if (typeof flag === "boolean") return flag
  const tag = (error as { readonly _tag?: unknown })._tag
  return typeof tag === "string" && (retryableTags.includes(tag) || transportReason(error) !== undefined)
}

/**
 * The default `notSent`. It is `true` for an error with a boolean `sent` field set to `false`.
 * For an error without one, it is `true` when the `_tag` is in {@link notSentTags}, and for an
 * effect `HttpClientError` whose `TransportError` is a refused connection, in the shape each
 * runtime gives it: an `ECONNREFUSED` `code` on the error or on a `cause` under it (Node's
 * fetch and node:http, Bun), or a message saying "Connection refused" (Deno's fetch, which has
 * no code). Only these errors are retried for a request that is not idempotent.
 *
 * @category guards
 * @since 0.1.0
 */
export const isNotSent = (error: unknown): boolean => {
  if (typeof error !== "object" || error === null) return false
  const sent = (error as { readonly sent?: unknown }).sent
  if (typeof sent === "boolean") return !sent
  const tag = (error as { readonly _tag?: unknown })._tag
  if (typeof tag !== "string") return false
  if (notSentTags.includes(tag)) return true
  const transport = transportReason(error)
  return transport !== undefined && refused(transport.cause, 0)
}

/** The `TransportError` reason of an effect `HttpClientError`, if it is one. */
const transportReason = (error: object): { readonly cause?: unknown } | undefined => {
  if ((error as { readonly _tag?: unknown })._tag !== "HttpClientError") return undefined
  const reason = (error as { readonly reason?: unknown }).reason
  return typeof reason === "object" && reason !== null &&
      (reason as { readonly _tag?: unknown })._tag === "TransportError"
    ? reason as { readonly cause?: unknown }
    : undefined
}

/** Whether `u`, or a `cause` under it (at most 4 deep), is a refused connection. */
const refused = (u: unknown, depth: number): boolean => {
  if (typeof u !== "object" || u === null || depth > 4) return false
  const { code, message, cause } = u as {
    readonly code?: unknown
    readonly message?: unknown
    readonly cause?: unknown
  }
  if (code === "ECONNREFUSED") return true
  if (typeof message === "string" && /connection refused/i.test(message)) return true
  return refused(cause, depth + 1)
}

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * A retry policy. Invalid options do not throw. The policy then carries an `Options.OptionError` naming
 * the option and value, and `use` fails with it without sending anything.
 *
 * **Details**
 *
 * - `maxAttempts` must be an integer from 1 to 100. `perTryTimeout` and `deadline` must be
 *   finite durations > 0 and at most 2^31 − 1 ms; `retryOn` and `notSent` functions;
 *   `idempotent` a boolean. `NaN`, `Infinity` and strings that are not durations are refused.
 * - `schedule` may be any Effect `Schedule` without requirements. Each retry waits the schedule's
 *   next delay. If the schedule ends, retrying stops and the last error is returned.
 * - With a `budget`, each call to `use` deposits once (one request), and each retry withdraws
 *   one token. A refused withdrawal stops the call with `BudgetExhausted`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { Budget, Retry } from "@switchyard/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make()
 *   return Retry.make({
 *     maxAttempts: 4,
 *     idempotent: true,
 *     perTryTimeout: "200 millis",
 *     deadline: "1 second",
 *     schedule: Schedule.exponential("20 millis"),
 *     budget
 *   })
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <E = unknown>(options?: {
  readonly maxAttempts?: number | undefined
  readonly schedule?: Schedule.Schedule<unknown, E | AttemptTimedOut | Balancer.NoEndpointAvailable> | undefined
  readonly retryOn?: ((error: E) => boolean) | undefined
  readonly notSent?: ((error: E) => boolean) | undefined
  readonly idempotent?: boolean | undefined
  readonly perTryTimeout?: Duration.Input | undefined
  readonly deadline?: Duration.Input | undefined
  readonly budget?: Budget.Budget | undefined
}): Retry<E> => {
  const maxAttempts = option.number("maxAttempts", options?.maxAttempts, defaultMaxAttempts, {
    min: 1,
    max: maxMaxAttempts,
    integer: true
  })
  const perTryTimeout = readDuration("perTryTimeout", options?.perTryTimeout)
  const deadline = readDuration("deadline", options?.deadline)
  const idempotent = option.boolean("idempotent", options?.idempotent, false)
  const invalid = [
    maxAttempts,
    perTryTimeout,
    deadline,
    idempotent,
    functionOption("retryOn", options?.retryOn),
    functionOption("notSent", options?.notSent)
  ].find(option.isInvalid)
  const error = invalid === undefined
    ? undefined
    : option.error("retry", invalid)
  return {
    maxAttempts: option.isInvalid(maxAttempts) ? defaultMaxAttempts : maxAttempts,
    schedule: options?.schedule ?? defaultSchedule,
    retryOn: options?.retryOn ?? isRetryable,
    notSent: options?.notSent ?? isNotSent,
    idempotent: idempotent === true,
    perTryTimeout: option.isInvalid(perTryTimeout) ? undefined : perTryTimeout,
    deadline: option.isInvalid(deadline) ? undefined : deadline,
    budget: options?.budget,
    error
  }
}

// -----------------------------------------------------------------------------
// combinators
// -----------------------------------------------------------------------------

/**
 * Runs `f` on an endpoint of `balancer`, retrying failures by `policy`, each retry on an endpoint
 * not tried yet while one remains.
 *
 * **Details**
 *
 * - Endpoints come from `balancer.picks()`: the policy's choice first, then distinct others.
 *   Once every endpoint of the set has been tried, a fresh `picks()` starts a new round.
 * - Every attempt goes through `balancer.useEndpoint`. Pending counts, latency and outcomes are
 *   therefore tracked, and an interrupted attempt releases its endpoint. A timed-out attempt is
 *   recorded as a failure of its endpoint. `options.classify` says what each attempt's exit means
 *   for its endpoint, as for `Balancer.use` (default `Balancer.classifyExit`).
 * - When retrying stops, the call fails with the **last attempt's error**, with its original
 *   `Cause`. This happens when the error is not retryable, or not safe to retry, or when the
 *   attempts run out or the schedule ends. Only the deadline and the budget fail with errors of
 *   their own (`DeadlineExceeded`, `BudgetExhausted`). Nothing is thrown.
 * - If the balancer has nothing to pick, the call fails at once with its `PickError`, and nothing
 *   is deposited or retried. The same happens if the set empties between attempts. Waiting for
 *   the next snapshot is the caller's decision.
 * - An attempt counts even when its endpoint left the set between the pick and the call (the
 *   balancer's `NoEndpointAvailable`; nothing was sent). It is retried like a connection error.
 *
 * **Gotchas**
 *
 * Backoff sleeps and timeouts use Effect's `Clock`. Under `TestClock`, advance time with
 * `TestClock.adjust`.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Balancer, Retry } from "@switchyard/core"
 *
 * declare const balancer: Balancer.Balancer
 * declare const call: (address: string) => Effect.Effect<string, { readonly _tag: "ConnectError" }>
 *
 * const policy = Retry.make({ maxAttempts: 3 })
 * const program = Retry.use(balancer, (endpoint) => call(endpoint.address), policy)
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const use = <A, E extends P, R, P = unknown>(
  balancer: Balancer.Balancer,
  f: (endpoint: Endpoint.Endpoint) => Effect.Effect<A, E, R>,
  policy: Retry<P>,
  options?: { readonly classify?: ((exit: Exit.Exit<A, E | AttemptTimedOut>) => Balancer.Classification) | undefined }
): Effect.Effect<
  A,
  E | Balancer.PickError | AttemptTimedOut | DeadlineExceeded | Budget.BudgetExhausted | Options.OptionError,
  R
> => {
  if (policy.error !== undefined) return Effect.fail(policy.error)
  const deadline = policy.deadline
  if (deadline === undefined) {
    return Effect.suspend(() => run(balancer, f, policy, { attempts: 0, start: 0 }, options?.classify))
  }
  return Effect.suspend(() => {
    const progress: Progress = { attempts: 0, start: 0 }
    const deadlineMillis = Duration.toMillis(deadline)
    return Effect.timeoutOrElse(run(balancer, f, policy, progress, options?.classify), {
      duration: deadline,
      orElse: () =>
        Effect.fail(
          new DeadlineExceeded({
            deadlineMillis,
            attempts: progress.attempts,
            elapsedMillis: deadlineMillis,
            during: "attempt"
          })
        )
    })
  })
}

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

interface Progress {
  attempts: number
  start: number
}

const round = (n: number): number => Math.round(n * 1000) / 1000

const readDuration = (
  name: string,
  input: Duration.Input | undefined
): Duration.Duration | undefined | option.Invalid => {
  if (input === undefined) return undefined
  const millis = option.millis(name, input, 0, { min: 0, minInclusive: false })
  return option.isInvalid(millis) ? millis : Duration.millis(millis)
}

const functionOption = (name: string, input: unknown): option.Invalid | undefined =>
  input === undefined || typeof input === "function" ? undefined : option.invalid(name, input, "expected a function")

/** The most attempts a policy allows: 100. */
const maxMaxAttempts = 100

/** The attempt loop; `progress` is read by the deadline's error. */
const run = <A, E extends P, R, P>(
  balancer: Balancer.Balancer,
  f: (endpoint: Endpoint.Endpoint) => Effect.Effect<A, E, R>,
  policy: Retry<P>,
  progress: Progress,
  classify: ((exit: Exit.Exit<A, E | AttemptTimedOut>) => Balancer.Classification) | undefined
): Effect.Effect<A, E | Balancer.PickError | AttemptTimedOut | DeadlineExceeded | Budget.BudgetExhausted, R> =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    const now = () => Number(clock.currentTimeNanosUnsafe()) / 1e6
    progress.start = now()
    const deadlineMillis = policy.deadline === undefined ? Infinity : Duration.toMillis(policy.deadline)
    const timeoutMillis = policy.perTryTimeout === undefined ? 0 : Duration.toMillis(policy.perTryTimeout)
    let endpoints = yield* balancer.picks()
    let next = endpoints.next()
    // nothing to pick: fail with the balancer's own typed error (or use what it picks after all)
    const first = next.done === true ? yield* balancer.pick : next.value
    const step = yield* Schedule.toStep(policy.schedule)
    if (policy.budget !== undefined) yield* policy.budget.deposit
    let endpoint = first
    while (true) {
      const attempt = ++progress.attempts
      let entered = false
      const exit = yield* Effect.exit(balancer.useEndpoint(endpoint, (e) => {
        entered = true
        const call = f(e)
        return policy.perTryTimeout === undefined ? call : Effect.timeoutOrElse(call, {
          duration: policy.perTryTimeout,
          orElse: () => Effect.fail(new AttemptTimedOut({ endpoint: e.address, timeoutMillis, attempt }))
        })
      }, { classify }))
      if (Exit.isSuccess(exit)) return exit.value
      const cause = exit.cause
      if (Cause.hasDies(cause) || Cause.hasInterrupts(cause)) return yield* Effect.failCause(cause)
      const found = Cause.findErrorOption(cause)
      if (Option.isNone(found)) return yield* Effect.failCause(cause)
      const error = found.value
      if (!retry.mayRetry(policy, attempt, error as E, entered, error instanceof AttemptTimedOut)) {
        return yield* Effect.failCause(cause)
      }
      const t = now()
      const stepped = yield* Effect.exit(step(t, error))
      if (Exit.isFailure(stepped)) return yield* Effect.failCause(cause) // the schedule ended
      const delay = Math.max(Duration.toMillis(stepped.value[1]), 0)
      if (retry.pastDeadline(t, delay, progress.start, deadlineMillis)) {
        return yield* Effect.fail(
          new DeadlineExceeded({
            deadlineMillis,
            attempts: attempt,
            elapsedMillis: t - progress.start,
            during: "backoff"
          })
        )
      }
      if (policy.budget !== undefined) yield* policy.budget.withdraw
      if (delay > 0) yield* Effect.sleep(Duration.millis(delay))
      next = endpoints.next()
      if (next.done === true) {
        // every endpoint has been tried: start a new round
        endpoints = yield* balancer.picks()
        next = endpoints.next()
      }
      endpoint = next.done === true ? yield* balancer.pick : next.value
    }
  })
