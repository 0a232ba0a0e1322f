/**
 * A retry budget (Finagle's `RetryBudget`): one shared allowance for the extra requests a client
 * makes on its own initiative: retries, hedges and reconnects. Every request deposits
 * `percentCanRetry` of a token, and every extra request withdraws a whole one. On top of that, a
 * floor of `minRetriesPerSec` tokens per second lets a client with little traffic still retry.
 * Both kinds of credit expire after `ttl`.
 *
 * **When to use**
 *
 * Give one budget to everything that sends extra load toward the same service: `Retry.make({
 * budget })`, `Hedge.make({ budget })` and, when a connection dispatcher arrives, its reconnects
 * (it will call `withdraw` before each one). A budget caps the extra load as a fraction of the
 * real load, so a failing service sees at most about `1 + percentCanRetry` times its normal
 * traffic instead of `maxAttempts` times. A fixed retry count cannot do that: with 3 attempts,
 * retries can triple the load on a struggling backend. This is why Finagle, Linkerd and tower
 * use budgets.
 *
 * **Details**
 *
 * - Defaults are Finagle's `RetryBudget()`: `ttl` **10 seconds**, `minRetriesPerSec` **10**,
 *   `percentCanRetry` **0.2**: under steady traffic about 20% of requests may be retried, on top
 *   of 10 per second.
 * - The floor is a reserve, as in Finagle's budget: a fresh budget holds one window's worth
 *   (`minRetriesPerSec × ttl`: **100 tokens** with the defaults), so a client may retry at once
 *   after it starts; what it spends is earned back continuously at `minRetriesPerSec` tokens a
 *   second, and at most that window's worth is held.
 * - Valid ranges are Finagle's, with an upper bound on the floor: `ttl` from 1 to 60 seconds,
 *   `minRetriesPerSec` from 0 to 100,000 (so credit stays exact in integer micro-tokens), and
 *   `percentCanRetry` from 0 to 1000. Anything else (`NaN`, a string, `Infinity`) makes `make`
 *   fail with a typed `Options.OptionError` naming the option and the value.
 * - Guarantee: over any run, the granted withdrawals `W`, the deposits `D`, the time `T` since
 *   `make` and the ttl `L` (seconds) satisfy `W ≤ percentCanRetry × D + minRetriesPerSec × (T + L)`
 *   (the `L` term is the reserve). The proof is in the model's notes (`internal/budget.ts`).
 *   Credit is kept in integer micro-tokens, so the bound is exact.
 * - Time comes from Effect's `Clock`, read when each operation runs, so `TestClock` drives it.
 *
 * @stability experimental
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as budget from "./internal/budget.ts"
import * as option from "./internal/option.ts"
import type * as Options from "./Options.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * A retry budget shared by retries, hedges and reconnects.
 *
 * @category models
 * @since 0.1.0
 */
export interface Budget {
  /** How long credit lasts. */
  readonly ttl: Duration.Duration
  /** The floor: tokens granted per second whatever the traffic. */
  readonly minRetriesPerSec: number
  /** Tokens deposited per request. */
  readonly percentCanRetry: number
  /** Records a request: deposits `percentCanRetry` of a token. Call it once per original request. */
  readonly deposit: Effect.Effect<void>
  /** Spends one token for an extra request, or fails with `BudgetExhausted` (nothing is spent). */
  readonly withdraw: Effect.Effect<void, BudgetExhausted>
  /**
   * Spends one token if there is one: `true` if it did, `false` otherwise. For extra requests
   * that are optional (a hedge), where "no" is not an error.
   */
  readonly tryWithdraw: Effect.Effect<boolean>
  /** Tokens available now (may be fractional); a withdrawal succeeds when it is at least 1. */
  readonly balance: Effect.Effect<number>
}

/**
 * The budget had no whole token left, so the extra request (a retry, hedge or reconnect) was not
 * sent.
 *
 * @category errors
 * @since 0.1.0
 */
export class BudgetExhausted extends Schema.TaggedError<BudgetExhausted>()("BudgetExhausted", {
  /** Tokens that were available (less than 1). */
  balance: Schema.Number,
  percentCanRetry: Schema.Number,
  minRetriesPerSec: Schema.Number,
  ttlMillis: Schema.Number
}) {
  override get message(): string {
    return `retry budget exhausted: ${round(this.balance)} of the 1 token an extra request needs ` +
      `(${this.percentCanRetry} per request plus ${this.minRetriesPerSec} per second, ` +
      `each lasting ${this.ttlMillis} ms); the extra request was not sent`
  }
}

/**
 * Finagle's default `ttl`: 10 seconds.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultTtl: Duration.Duration = Duration.millis(budget.defaults.ttlMillis)

/**
 * Finagle's default floor: 10 retries per second.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultMinRetriesPerSec: number = budget.defaults.minPerSecond

/**
 * Finagle's default deposit: 0.2 tokens per request (about 20% of requests may be retried).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultPercentCanRetry: number = budget.defaults.percent

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * A retry budget. Its window starts now, holding the reserve of `minRetriesPerSec × ttl` tokens
 * (100 with the defaults); spent floor credit is earned back at `minRetriesPerSec` tokens a second.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "@switchyard/core"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ percentCanRetry: 0.1 })
 *   yield* budget.deposit // one request was made
 *   yield* budget.withdraw // one retry may go (or BudgetExhausted)
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options?: {
  readonly ttl?: Duration.Input | undefined
  readonly minRetriesPerSec?: number | undefined
  readonly percentCanRetry?: number | undefined
}): Effect.Effect<Budget, Options.OptionError> =>
  Effect.gen(function*() {
    const decoded = budget.decode(options)
    if (option.isInvalid(decoded)) return yield* Effect.fail(option.error("budget", decoded))
    const { minPerSecond: minRetriesPerSec, percent: percentCanRetry, ttlMillis } = decoded
    const clock = yield* Clock.Clock
    const now = () => Number(clock.currentTimeNanosUnsafe()) / 1e6
    const state = budget.make(decoded)
    budget.balance(state, now()) // the window starts at make
    return {
      ttl: Duration.millis(ttlMillis),
      minRetriesPerSec,
      percentCanRetry,
      deposit: Effect.sync(() => budget.deposit(state, now())),
      withdraw: Effect.suspend(() => {
        const t = now()
        return budget.tryWithdraw(state, t) ? Effect.void : Effect.fail(
          new BudgetExhausted({ balance: budget.balance(state, t), percentCanRetry, minRetriesPerSec, ttlMillis })
        )
      }),
      tryWithdraw: Effect.sync(() => budget.tryWithdraw(state, now())),
      balance: Effect.sync(() => budget.balance(state, now()))
    } satisfies Budget
  })

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

const round = (n: number): number => Math.round(n * 1000) / 1000
