/**
 * The simulator's vocabulary: backends, clients, scenarios, reports, latency distributions, and
 * its errors. Re-exported by `Simulator`.
 */
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Budget from "../../Budget.ts"
import type * as Hedge from "../../Hedge.ts"
import * as simulation from "../../internal/simulation.ts"
import type * as Policy from "../../Policy.ts"
import type * as Retry from "../../Retry.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * A distribution of service times in milliseconds.
 *
 * - `Constant`: always `millis`.
 * - `Exponential`: memoryless with the given `mean`.
 * - `LogNormal`: `median · e^(sigma·Z)`, Z standard normal; the mean is `median · e^(sigma²/2)`.
 * - `Mixture`: one of `components`, chosen with probability proportional to its `weight` (a
 *   bimodal distribution is a mixture of two).
 *
 * Build them with {@link constant}, {@link exponential}, {@link lognormal}, {@link mixture} and
 * {@link bimodal}.
 *
 * @category models
 * @since 0.1.0
 */
export type Distribution =
  | { readonly _tag: "Constant"; readonly millis: number }
  | { readonly _tag: "Exponential"; readonly mean: number }
  | { readonly _tag: "LogNormal"; readonly median: number; readonly sigma: number }
  | {
    readonly _tag: "Mixture"
    readonly components: ReadonlyArray<{ readonly weight: number; readonly distribution: Distribution }>
  }

/**
 * One simulated backend.
 *
 * @category models
 * @since 0.1.0
 */
export interface Backend {
  /** Service time of one request (ms), before drift. */
  readonly latency: Distribution
  /** Servers working in parallel (c_i); requests beyond them wait in one FIFO queue. */
  readonly concurrency: number
  /** The endpoint's weight, for weighted policies; default 1. */
  readonly weight?: number | undefined
  /**
   * The probability (0 to 1) that a request fails: it takes its queueing and service time as usual,
   * then completes with an error instead of a response. Default 0.
   */
  readonly failureRate?: number | undefined
  /**
   * A black hole accepts requests and never answers (a hung process, a half-open connection): each
   * request holds a server for ever, and the rest wait in its queue for ever. Default false.
   */
  readonly blackHole?: boolean | undefined
  /**
   * Spells when the backend's latency is scaled by a factor (a deploy, a noisy neighbour, a
   * compaction): from `from` (virtual time since the run began) until `until`, service times are
   * multiplied by `factor`, on top of any drift or swing. Spells may not overlap.
   */
  readonly phases?: ReadonlyArray<Phase> | undefined
}

/**
 * A spell of slower (or faster) service on one backend: see {@link Backend.phases}.
 *
 * @category models
 * @since 0.1.0
 */
export interface Phase {
  readonly from: Duration.Input
  readonly until: Duration.Input
  /** The latency factor during the spell (10 is ten times slower). */
  readonly factor: number
}

/**
 * A periodic swing of every backend's latency, each on its own period and phase: backend `i`'s
 * factor is `exp(amplitude · sin(2π · t / P_i + φ_i))`, so it moves between `e^−amplitude` and
 * `e^amplitude` (0.3× and 3.3× at 1.2), with `P_i` drawn uniformly from `period` and `φ_i`
 * uniformly from [0, 2π) on a stream of the run's seed.
 *
 * @category models
 * @since 0.1.0
 */
export interface Swing {
  /** The log-space amplitude. */
  readonly amplitude: number
  /** The range each backend's period is drawn from. */
  readonly period: { readonly min: Duration.Input; readonly max: Duration.Input }
  /** How often the factors move. */
  readonly every: Duration.Input
}

/**
 * Slow drift of every backend's latency: a mean-reverting random walk of its log-scale.
 *
 * @category models
 * @since 0.1.0
 */
export interface Drift {
  /** How often the factors move. */
  readonly every: Duration.Input
  /** The mean-reversion time scale (1/θ of the Ornstein-Uhlenbeck process). */
  readonly timescale: Duration.Input
  /** The stationary standard deviation of a backend's log latency factor. */
  readonly spread: number
}

/**
 * How the simulated client copes with failures, per run: retries, a per-try timeout, hedging, and
 * the budget retries and hedges share. Each is off when absent; with none of them a request is
 * one try. The client behaves as `Retry.use` and `Hedge.use` do over a `Balancer`, and takes the
 * values and options their constructors take, decoded by the same code: a value they refuse is
 * refused here with the same `Options.OptionError` (thrown, as `run` is a pure function).
 *
 * **Details**
 *
 * - `retry`: a policy made by `Retry.make` — the exact value you deploy — or `Retry.make`'s
 *   options, which are made into one with `idempotent: true` and a `retryOn` that accepts every
 *   failure unless you give them (the simulated backends' failures are `BackendFailure`s, which
 *   `Retry.isRetryable` does not know). The decisions are `Retry.use`'s own
 *   (`internal/retry.ts`): a failed try is retried when `maxAttempts` and the rule allow, after the
 *   policy's `schedule`'s next delay (stepped for real, its jitter drawn from the run's seed); a
 *   retry that would start after the `deadline` is not sent, and a deadline reached during a try
 *   interrupts it; both fail the request ({@link Tries.deadlines}). Each retry goes to the next
 *   backend of `Balancer.picks()`: the policy's pick, up to three times, then the first untried
 *   backend from a random start; once every backend has been tried a new round starts. When the
 *   first pick finds nothing (every backend excluded) the request fails, as `Retry.use` fails
 *   with the balancer's pick error.
 * - `timeout`: the per-try timeout, `Retry.make`'s `perTryTimeout` (for a run with or without
 *   `retry`; not both here and in a `Retry` policy). A try not answered within it fails with
 *   `Retry.AttemptTimedOut` (`Effect.timeoutOrElse` inside `Balancer.useEndpoint`): an outcome the
 *   picker observes, with the timeout as its latency. The backend is not told: it finishes the
 *   work for nobody (never, for a black hole).
 * - `hedge`: `Hedge.make`'s options (`delay` a fixed duration or `{ percentile }` of the latencies
 *   the run's calls record, `maxHedges`, `window`, `nonFatal`, `budget`), decoded and run by
 *   `Hedge`'s own code (`internal/hedge.ts`), or just its `delay`. As `Hedge.use` does: each
 *   request gets the delay of the moment it starts; once a try has been outstanding that long
 *   without an answer, or at once when a try fails (non-fatally), a backup goes to the next
 *   backend of the request's `picks()`, up to `maxHedges` per request (none left untried, or no
 *   budget token: no more backups). The first success wins and records its latency (and the
 *   others' time so far) for the percentile; the other tries are abandoned, as interrupted
 *   fibers are: their pending count drops and nothing is observed. A failure while another try
 *   is in flight leaves the request waiting; a fatal one (`nonFatal` says so) ends the round of
 *   tries at once. Backups take no attempt from `maxAttempts`.
 * - `budget`: the retry budget shared by all clients: a budget `Budget.make` made (its
 *   parameters, with a fresh window on the virtual clock), `Budget.make`'s options, or `false`
 *   for none. Each original request deposits; each retry and each backup withdraws one token. A
 *   retry without a token is not sent and the request fails (`Retry`'s `BudgetExhausted`); a
 *   backup without one is not sent and the request keeps waiting (`Hedge`). When absent, the
 *   `Retry` policy's own budget, or else Finagle's defaults whenever `retry` or `hedge` is set.
 *
 * @category models
 * @since 0.1.0
 */
export interface Client {
  readonly retry?: Retry.Retry<any> | Retries | undefined
  /** The per-try timeout. */
  readonly timeout?: Duration.Input | undefined
  /** `Hedge.make`'s options, or its `delay` alone. */
  readonly hedge?: Duration.Input | Hedging | undefined
  readonly budget?: Budget.Budget | RetryBudget | false | undefined
}

/**
 * `Retry.make`'s options.
 *
 * @category models
 * @since 0.1.0
 */
export type Retries = NonNullable<Parameters<typeof Retry.make<unknown>>[0]>

/**
 * `Hedge.make`'s options.
 *
 * @category models
 * @since 0.1.0
 */
export type Hedging = Parameters<typeof Hedge.make<unknown>>[0]

/**
 * `Budget.make`'s options: `ttl`, `minRetriesPerSec`, `percentCanRetry`, each defaulting to
 * Finagle's value.
 *
 * @category models
 * @since 0.1.0
 */
export type RetryBudget = NonNullable<Parameters<typeof Budget.make>[0]>

/**
 * A workload: backends, clients and how long to run. A plain value; build your own or use
 * {@link homogeneous}, {@link oneSlow}, {@link drifting}, or one with a faulty backend:
 * {@link oneFailing}, {@link oneFlaky}, {@link oneBlackHole}.
 *
 * @category models
 * @since 0.1.0
 */
export interface Scenario {
  readonly name: string
  /** One line on what the scenario shows and the load it puts on the backends. */
  readonly description: string
  readonly backends: ReadonlyArray<Backend>
  /** Closed-loop clients: each has at most one request in flight. */
  readonly clients: number
  /** The pause between a client's response and its next request; none when absent. */
  readonly think?: Distribution | undefined
  /** Time before measurement starts (estimates settle, queues reach steady state). */
  readonly warmup: Duration.Input
  /** The measured window after the warm-up. */
  readonly duration: Duration.Input
  readonly drift?: Drift | undefined
  readonly swing?: Swing | undefined
}

/**
 * What one backend did in the measured window.
 *
 * @category models
 * @since 0.1.0
 */
export interface BackendReport {
  readonly address: string
  readonly weight: number
  readonly concurrency: number
  /** Its failure rate and whether it is a black hole (from the scenario). */
  readonly failureRate: number
  readonly blackHole: boolean
  /** Requests it answered successfully in the window (the try that won, for retried or hedged requests). */
  readonly requests: number
  /** Its fraction of the window's successful requests; the shares sum to 1. */
  readonly share: number
  /** Mean response time of its successful tries in the window (ms), `NaN` if none. */
  readonly meanLatency: number
  /** Busy server-time over `concurrency × window`. */
  readonly utilization: number
  /** Tries sent to it over the whole run (warm-up and drain included): its slot's `picks`. */
  readonly picks: number
  /**
   * Tries to it that ended as outcomes over the whole run, as its slot counts them: successes, and
   * failures (errors and per-try timeouts). Abandoned tries are neither.
   */
  readonly successes: number
  readonly failures: number
  /**
   * Tries to it the client stopped waiting for without an outcome, over the whole run: hedges'
   * losers, and tries still unanswered when the run ended. `picks = successes + failures + abandoned`.
   */
  readonly abandoned: number
  /** Its slot's `pending` at the end of the run (0 once drained). */
  readonly pending: number
}

/**
 * Latency percentiles in milliseconds (nearest rank).
 *
 * @category models
 * @since 0.1.0
 */
export interface Latency {
  readonly mean: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly p999: number
  readonly max: number
}

/**
 * The result of one run.
 *
 * @category models
 * @since 0.1.0
 */
export interface Report {
  readonly scenario: string
  readonly policy: string
  readonly seed: number
  /** Warm-up and measured window, ms of simulated time. */
  readonly warmup: number
  readonly window: number
  /** Requests that succeeded in the window: the latency sample. */
  readonly requests: number
  /**
   * Requests that failed in the window: every try failed and no retry was left (attempts or
   * budget), or the request was still unanswered when the run ended.
   */
  readonly failed: number
  /** `requests / (requests + failed)`: the fraction of the window's requests that succeeded. */
  readonly successRate: number
  /**
   * Requests sent and ended (succeeded or failed) over the whole run; equal, as every request is
   * drained (and one still unanswered at the end fails).
   */
  readonly sent: number
  readonly completed: number
  /** Successful requests per second of simulated time, in the window. */
  readonly throughput: number
  /** Busy server-time over total server-time, in the window. */
  readonly utilization: number
  /** End-to-end latency of the successful requests (retries, backoff and hedging included). */
  readonly latency: Latency
  /** The client's work for the requests that ended in the window; see {@link Tries}. */
  readonly tries: Tries
  readonly backends: ReadonlyArray<BackendReport>
}

/**
 * What the client did for the requests that ended in the window (all zero but `sent` without
 * {@link Client} options and faulty backends).
 *
 * @category models
 * @since 0.1.0
 */
export interface Tries {
  /** Tries sent to backends: first tries, retries and hedges. */
  readonly sent: number
  readonly retries: number
  readonly hedges: number
  /** `sent / (requests + failed)`: tries per request, 1 when nothing is retried or hedged. */
  readonly amplification: number
  /** Tries that hit the per-try timeout. */
  readonly timeouts: number
  /** Requests that failed because the retry budget had no token for a retry. */
  readonly budgetExhausted: number
  /**
   * Requests that failed on the retry policy's `deadline`: during a try (it was interrupted) or
   * because the next retry would have started after it.
   */
  readonly deadlines: number
  /** Requests still waiting when the run ended (on a black hole, without a per-try timeout); failed. */
  readonly unanswered: number
}

/**
 * One line of a comparison: a policy's report and its p99 relative to the oracle's.
 *
 * @category models
 * @since 0.1.0
 */
export interface Row {
  /** The policy's label: its key in `policies`, or `"oracle"`. */
  readonly label: string
  readonly report: Report
  readonly p99VsOracle: number
}

/**
 * The simulator's true state of the backends, visible to the {@link oracle} through
 * {@link SimulationContext}. Indices are slot indices (`slot.index`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Truth {
  /**
   * Expected response time (ms) of a request sent to backend `index` now: its current mean
   * service time `m` if a server is free, else `m · (1 + (queued + 1) / c)` (the wait for
   * `queued + 1` departures from `c` busy servers, then its own service).
   */
  readonly expectedDelay: (index: number) => number
  /** Busy servers over servers. */
  readonly occupancy: (index: number) => number
  /** Whether backend `index` answers every request: no `failureRate`, not a black hole. */
  readonly healthy: (index: number) => boolean
}

/**
 * The context the simulator gives pickers: the usual {@link Policy.Host} and the true state.
 * Only the {@link oracle} reads `truth`.
 *
 * @category models
 * @since 0.1.0
 */
export interface SimulationContext extends Policy.Host {
  readonly truth: Truth
}

/**
 * A scenario the simulator cannot run (no backends, a concurrency below 1, a negative mean …).
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidScenario extends Data.TaggedError("InvalidScenario")<{
  readonly scenario: string
  readonly problem: string
}> {
  override get message(): string {
    return `invalid simulator scenario ${JSON.stringify(this.scenario)}: ${this.problem}`
  }
}

/**
 * The error a simulated backend answers a failed request with (see {@link Backend.failureRate});
 * the `error` of the failure outcomes the picker observes.
 *
 * @category errors
 * @since 0.1.0
 */
export class BackendFailure extends Data.TaggedError("BackendFailure")<{
  readonly address: string
}> {
  override get message(): string {
    return `simulated backend ${this.address} answered with an error`
  }
}

// -----------------------------------------------------------------------------
// guards
// -----------------------------------------------------------------------------

/**
 * Whether a picker context comes from the simulator (and carries the true state).
 *
 * @category guards
 * @since 0.1.0
 */
export const isSimulationContext = (context: Policy.Host): context is SimulationContext =>
  "truth" in context && typeof (context as { readonly truth?: unknown }).truth === "object"

// -----------------------------------------------------------------------------
// distributions
// -----------------------------------------------------------------------------

/**
 * Always `millis`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const constant = (millis: number): Distribution => ({ _tag: "Constant", millis })

/**
 * Exponential with the given mean (ms).
 *
 * @category constructors
 * @since 0.1.0
 */
export const exponential = (mean: number): Distribution => ({ _tag: "Exponential", mean })

/**
 * Log-normal with the given median (ms) and log-scale deviation `sigma`, or with the given mean:
 * `{ mean, sigma }` sets the median to `mean / e^(sigma²/2)`.
 *
 * **Details**
 *
 * The p99 is `median · e^(2.326·sigma)`: σ = 0.5 puts it at 3.2× the median, σ = 1 at 10×.
 *
 * @category constructors
 * @since 0.1.0
 */
export const lognormal = (
  options: { readonly median: number; readonly sigma: number } | { readonly mean: number; readonly sigma: number }
): Distribution => ({
  _tag: "LogNormal",
  median: "median" in options ? options.median : options.mean / simulation.exp(options.sigma * options.sigma / 2),
  sigma: options.sigma
})

/**
 * A mixture: each draw comes from one component, chosen with probability proportional to its
 * weight.
 *
 * @category constructors
 * @since 0.1.0
 */
export const mixture = (
  components: ReadonlyArray<{ readonly weight: number; readonly distribution: Distribution }>
): Distribution => ({ _tag: "Mixture", components })

/**
 * A bimodal distribution: `slow` with probability `slowFraction`, otherwise `fast` (a cache miss,
 * a cold path, a retry behind the server).
 *
 * @category constructors
 * @since 0.1.0
 */
export const bimodal = (options: {
  readonly fast: Distribution
  readonly slow: Distribution
  readonly slowFraction: number
}): Distribution =>
  mixture([
    { weight: 1 - options.slowFraction, distribution: options.fast },
    { weight: options.slowFraction, distribution: options.slow }
  ])

/**
 * The mean of a distribution (ms).
 *
 * @category combinators
 * @since 0.1.0
 */
export const mean = (distribution: Distribution): number => {
  switch (distribution._tag) {
    case "Constant":
      return distribution.millis
    case "Exponential":
      return distribution.mean
    case "LogNormal":
      return distribution.median * simulation.exp(distribution.sigma * distribution.sigma / 2)
    case "Mixture": {
      let total = 0
      let sum = 0
      for (const c of distribution.components) {
        total += c.weight
        sum += c.weight * mean(c.distribution)
      }
      return sum / total
    }
  }
}
