/**
 * A deterministic discrete-event simulator for load-balancing policies: closed-loop
 * clients, backends with latency distributions and a fixed number of servers each (some failing,
 * some never answering), clients that may retry, time out and hedge, and the real picker of a
 * {@link Policy.Policy} choosing where each try goes.
 *
 * **The model**
 *
 * - **Backends.** Backend `i` has `concurrency` servers (c_i) with one FIFO queue in front: a
 *   request that finds a free server starts at once, otherwise it waits its turn. Its service time
 *   is drawn from the backend's {@link Distribution} when it starts, times the backend's current
 *   drift factor (1 without drift). The balancer sees response times: queueing plus service.
 * - **Clients.** `clients` closed-loop clients each send a request, wait for its response, wait a
 *   think time (if the scenario has one), and repeat. A closed loop bounds the requests in flight,
 *   as a connection pool or a concurrency limit does, so an overloaded backend slows its clients
 *   instead of growing an endless queue.
 * - **The balancer side** is the `Balancer`'s own slot table and lease (`internal/table.ts`):
 *   one {@link Policy.Slot} per backend (for `Endpoint.makeUnsafe({ address: "10.0.0.<i+1>:8080",
 *   weight })`), the picker built by `policy.make` and told about each slot with `added` then
 *   `rebalanced`, `picks` counted and `pending` acquired and released around each request, and on
 *   each completion the peak-EWMA latency update (`slot.latency`, `slot.stamp`, with the policy's
 *   load metric's τ, `Load.pending`'s 10 s by default) and the load metric's `slot.cost`, exactly as
 *   `Balancer.use` does. Policies get `context.now` from the virtual clock and `context.random`
 *   from the seeded generator. Hashed policies (`policy.hashed`) get a uniformly random 32-bit
 *   request hash, as from a large key space; the others get `-1`.
 * - **Failures.** A backend with a `failureRate` answers that fraction of its requests with a
 *   {@link BackendFailure} instead of a response, after the same queueing and service time (draws
 *   from a stream of its own). A `blackHole` backend takes requests into its servers and queue
 *   and never answers.
 * - **The client's resilience** ({@link Client}, per run; none by default), as `Retry.use` and
 *   `Hedge.use` behave. A request is one or more tries. Retries go to a backend not yet tried,
 *   after a jittered exponential backoff, up to `maxAttempts`; a per-try timeout fails a try the
 *   client stops waiting for; a hedge sends one backup try after a delay (or at once after a
 *   failure) and takes the first success. Retries and backups draw tokens from one retry budget
 *   (Finagle's), shared by all clients, that each original request feeds. The request ends when a
 *   try succeeds, or when every try failed and no retry is left; then the client thinks and sends
 *   its next request.
 * - **What the balancer learns** is what `Balancer.useEndpoint` records for those modules:
 *   - a try that gets an answer, or hits the per-try timeout (`Effect.timeoutOrElse` inside
 *     `useEndpoint`, so a failure, not an interruption), is *observed*: `pending` − 1, the
 *     peak-EWMA update with its latency (the timeout, for a timed-out try), `successes` or
 *     `failures` + 1, then `picker.observe(slot, { success, error, latency, now })`, the error
 *     being a {@link BackendFailure} or a `Retry.AttemptTimedOut`;
 *   - a try the client stops waiting for without an outcome — a hedge's loser, and any try still
 *     waiting when the run ends — is *abandoned*, as an interrupted fiber is: `pending` − 1 and
 *     nothing else. The backend is never told: an abandoned or timed-out try keeps its server (or
 *     its place in the queue) until its service ends, for ever in a black hole.
 *   So a wrapper such as `OutlierDetection.make(policy)` runs on the simulated traffic exactly as
 *   it would in a balancer (it reads only `context.now` and outcomes). When the picker returns
 *   nothing while reporting excluded slots (every host ejected), the request fails at once, as
 *   `Retry.use` fails with the balancer's `AllEndpointsExcluded`.
 * - **Drift.** With {@link Drift}, each backend's latency is scaled by `exp(x_i(t) − spread²/2)`
 *   where `x_i` is an independent Ornstein-Uhlenbeck process (a mean-reverting random walk in log
 *   space) with stationary deviation `spread` and time scale `timescale`, stepped every `every`.
 *   The mean factor is 1, so the average load does not move, but which backend is fastest does.
 * - **Measurement.** Requests that end in the window `[warmup, warmup + duration)` are recorded:
 *   the success rate, percentiles (nearest rank) of the successful ones' end-to-end latency (first
 *   try to the winning answer: failed tries, backoff and hedge delay included), throughput of
 *   successful requests per second of simulated time, each backend's share of them, server
 *   utilisation in the window, and what the client did for them ({@link Tries}: tries per
 *   request, retries, hedges, timeouts). When the window ends the clients stop and the requests
 *   in flight are drained (their retries and hedges included), so every request sent ends and
 *   every slot's `pending` returns to 0. A request still waiting when nothing else is left (on a
 *   black hole, without a timeout) is abandoned and counted as failed in the window: its client
 *   hung.
 *
 * **Determinism.** A run is a pure function of the scenario, the policy and the seed, and gives
 * the same report on Node, Bun and Deno: virtual time, a seeded 32-bit generator (SFC32), and an
 * `exp` / `log` of its own made of exactly-rounded arithmetic (the engines' `Math.exp` may differ
 * in the last bit). Independent streams per use ("common random numbers"): backend `i`'s k-th
 * service time and k-th failure draw, client `j`'s k-th think time and the drift path are the
 * same whatever the policy,
 * so policies are compared on the same workload and their differences are not sampling noise.
 * (The balancer's latency update and peak-EWMA's cost do use `Math.exp`; a last-bit difference
 * there could only flip an exact tie between two costs. The built-in scenarios give bit-identical
 * reports for every policy of the package on all three runtimes.)
 *
 * **The oracle.** {@link oracle} is shortest expected delay with full information (the true mean
 * service times, busy servers and queues) over the healthy backends; it is a yardstick and runs
 * only inside the simulator. {@link compare} reports each policy's p99 relative to the oracle's.
 * With faulty backends the oracle's run is the best the clients could have had: every request on
 * the healthy backends, nothing failed, nothing retried, no client options.
 *
 * **Example**
 *
 * ```ts
 * import { LeastPending, PeakEwma, RoundRobin } from "@switchyard/core"
 * import { Simulator } from "@switchyard/core/testing"
 *
 * const rows = Simulator.compare({
 *   scenario: Simulator.oneSlow,
 *   policies: { "round-robin": RoundRobin.make(), "least-pending": LeastPending.make(), "peak-ewma": PeakEwma.make() },
 *   seed: 1
 * })
 * console.log(Simulator.format(rows))
 * ```
 *
 * With a faulty backend, a client that retries, and outlier detection:
 *
 * ```ts
 * import { PeakEwma } from "@switchyard/core"
 * import * as OutlierDetection from "@switchyard/core/OutlierDetection"
 * import { Simulator } from "@switchyard/core/testing"
 *
 * const report = Simulator.run({
 *   scenario: Simulator.oneFailing,
 *   policy: OutlierDetection.make(PeakEwma.make()),
 *   client: { retry: { maxAttempts: 3 }, timeout: "100 millis" },
 *   seed: 1
 * })
 * console.log(report.successRate, report.tries.amplification, report.latency.p99)
 * ```
 *
 * @stability experimental
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Endpoint from "../Endpoint.ts"
import * as budget from "../internal/budget.ts"
import * as option from "../internal/option.ts"
import * as simulation from "../internal/simulation.ts"
import * as slotTable from "../internal/table.ts"
import * as Policy from "../Policy.ts"
import * as Retry from "../Retry.ts"

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
 * one try. The client behaves as `Retry.use` and `Hedge.use` do over a `Balancer`.
 *
 * **Details**
 *
 * - `retry`: a request whose tries all failed is tried again, on another backend, after a
 *   backoff; see {@link Retries}.
 * - `timeout`: a try not answered within it fails with `Retry.AttemptTimedOut`, as `Retry`'s
 *   `perTryTimeout` does (`Effect.timeoutOrElse` inside `Balancer.useEndpoint`): an outcome the
 *   picker observes, with the timeout as its latency. The backend is not told: it finishes the
 *   work for nobody (never, for a black hole).
 * - `hedge`: one backup try per request, as `Hedge.use` with a fixed `delay` and `maxHedges: 1`
 *   sends it: once a try has been outstanding this long without a success, or at once when a try
 *   fails before then; to the next backend of the request's `picks()` (none left, no backup). The
 *   first success wins and the other try is abandoned, as an interrupted fiber is: its pending
 *   count drops and nothing is observed. While one try is in flight, a failure of the other only
 *   leaves the request waiting. A backup takes no attempt from `retry.maxAttempts`.
 * - `budget`: the retry budget (`Budget`, Finagle's `RetryBudget`) shared by all clients. Each
 *   original request deposits; each retry and each backup withdraws one token. A retry without a
 *   token is not sent and the request fails (`Retry`'s `BudgetExhausted`); a backup without one is
 *   not sent and the request keeps waiting (`Hedge`). Defaults to Finagle's parameters whenever
 *   `retry` or `hedge` is set; `false` turns it off.
 *
 * @category models
 * @since 0.1.0
 */
export interface Client {
  readonly retry?: Retries | undefined
  /** The per-try timeout. */
  readonly timeout?: Duration.Input | undefined
  /** The hedge delay. */
  readonly hedge?: Duration.Input | undefined
  readonly budget?: RetryBudget | false | undefined
}

/**
 * Retries of failed requests, as `Retry.use` makes them with `idempotent: true` and a `retryOn`
 * that accepts every failure.
 *
 * **Details**
 *
 * - Up to `maxAttempts` attempts per request, the first included (a backup not counted). A retry
 *   waits until no try of the request is in flight.
 * - Each retry goes to the next backend of `Balancer.picks()`: the policy's pick, up to three
 *   times, then the first untried backend from a random start. Once every backend has been tried,
 *   a new round of picks starts. When the first pick finds nothing (every backend excluded) the
 *   request fails, as `Retry.use` fails with the balancer's pick error.
 * - The backoff before retry k (k = 1, 2, …) is `min(base · 2^(k−1) · j, cap)` with `j` uniform in
 *   [0.8, 1.2], drawn from the run's seeded generator: the shape of `Retry.defaultSchedule`
 *   (`Schedule.exponential(base, 2)`, `Schedule.jittered`, `Schedule.spaced(cap)`), with its
 *   defaults `base` 50 ms and `cap` 1 s.
 *
 * @category models
 * @since 0.1.0
 */
export interface Retries {
  readonly maxAttempts: number
  readonly base?: Duration.Input | undefined
  readonly cap?: Duration.Input | undefined
}

/**
 * The retry budget's parameters, named as `Budget.make`'s; each defaults to Finagle's value.
 *
 * @category models
 * @since 0.1.0
 */
export interface RetryBudget {
  /** How long credit lasts; default 10 s. */
  readonly ttl?: Duration.Input | undefined
  /** Tokens granted per second whatever the traffic; default 10. */
  readonly minRetriesPerSec?: number | undefined
  /** Tokens deposited per original request; default 0.2. */
  readonly percentCanRetry?: number | undefined
}

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

// -----------------------------------------------------------------------------
// scenarios
// -----------------------------------------------------------------------------

/**
 * Ten identical backends at moderate load. Load-aware or not, every policy should come close to
 * the oracle here.
 *
 * **Details**
 *
 * - Service time: log-normal, median 10 ms, σ = 0.6 (mean 12.0 ms, p99 40 ms = 4× the median, p999
 *   64 ms), a right-skewed RPC latency with a moderate tail. 8 servers per backend (a worker pool or
 *   concurrency limit of 8), so 80 servers and a capacity of about 6,700 requests per second.
 * - Load: 200 closed-loop clients with exponential think time (mean 40 ms), so arrivals are close
 *   to Poisson at about 3,850 requests per second: **about 58% utilisation** under the oracle,
 *   inside the 40-70% a client-side balancer usually sees (enough to queue when it balances badly,
 *   with headroom for a failing instance).
 * - 10 s warm-up (the peak-EWMA estimates start from nothing), 60 s measured: about 230,000
 *   requests, so the p999 rests on some 230 samples.
 *
 * @category scenarios
 * @since 0.1.0
 */
export const homogeneous: Scenario = {
  name: "homogeneous",
  description: "10 identical backends (log-normal median 10 ms, σ 0.6; 8 servers each); 200 clients, ~58% load",
  backends: Array.from({ length: 10 }, () => ({ latency: lognormal({ median: 10, sigma: 0.6 }), concurrency: 8 })),
  clients: 200,
  think: exponential(40),
  warmup: "10 seconds",
  duration: "60 seconds"
}

/**
 * {@link homogeneous} with the last backend (`10.0.0.10`) ten times slower: median 100 ms, same σ
 * and servers. A degraded instance that still answers and passes health checks.
 *
 * **Details**
 *
 * The oracle leaves it idle and runs the other nine at about 64%. A load-blind policy sends it a
 * tenth of the traffic, six times what it can serve, and the closed loop lets its queue hold most
 * clients; least pending keeps about as many requests in flight there as anywhere else, which is
 * still 1-2% of the traffic at ten times the latency.
 *
 * @category scenarios
 * @since 0.1.0
 */
export const oneSlow: Scenario = {
  ...homogeneous,
  name: "oneSlow",
  description: "homogeneous, but 10.0.0.10 is 10× slower (median 100 ms)",
  backends: [
    ...homogeneous.backends.slice(0, 9),
    { latency: lognormal({ median: 100, sigma: 0.6 }), concurrency: 8 }
  ]
}

/**
 * {@link homogeneous} with every backend's latency drifting, independently: a mean-reverting
 * random walk of the log-scale with deviation 0.5 and a 20-second time scale, stepped every
 * 250 ms. A backend's latency is then 95% of the time between 0.3× and 2.4× of its base, and the
 * fastest backend changes every few seconds (noisy neighbours, GC, cache warmth, batch jobs).
 *
 * **Details**
 *
 * The mean factor is 1, so the offered load is the same as in {@link homogeneous}; but a backend
 * drifting above about 1.7× cannot serve a tenth of the traffic. Measured for 120 s (six time
 * scales) because the result depends on the path the drift takes.
 *
 * @category scenarios
 * @since 0.1.0
 */
export const drifting: Scenario = {
  ...homogeneous,
  name: "drifting",
  description: "homogeneous, each backend's latency drifting (log-scale random walk, σ 0.5, 20 s time scale)",
  duration: "120 seconds",
  drift: { every: "250 millis", timescale: "20 seconds", spread: 0.5 }
}

/**
 * {@link homogeneous} with every backend's latency swinging hard and independently: a factor
 * between 0.3× and 3.3× (log-space amplitude 1.2) along a sine of its own period, drawn from 15 to
 * 35 s, and phase, moved every 250 ms. At any moment some backends are three times slower than
 * their base and others three times faster, and which is which changes within seconds.
 *
 * **Details**
 *
 * The mean factor over a period is I₀(1.2) ≈ 1.39, so the backends are about 80% loaded on
 * average under a load-blind policy, and one near its peak cannot serve a tenth of the traffic.
 * An estimate that trails the swing by a few seconds sends traffic to hosts that just became slow:
 * this is where peak-EWMA's two random choices are weakest. Measured for 120 s.
 *
 * @category scenarios
 * @since 0.1.0
 */
export const driftingHard: Scenario = {
  ...homogeneous,
  name: "driftingHard",
  description: "homogeneous, each backend's latency swinging 0.3×-3.3× (log amplitude 1.2) on its own 15-35 s period",
  duration: "120 seconds",
  swing: { amplitude: 1.2, period: { min: "15 seconds", max: "35 seconds" }, every: "250 millis" }
}

/**
 * Eight backends of mixed capacity, all weight 1: 1, 2, 4 and 8 parallel servers, twice each
 * (30 servers), with {@link homogeneous}'s service time. A fleet of mixed instance sizes behind
 * one name, with nobody having set weights.
 *
 * **Details**
 *
 * 90 closed-loop clients with exponential think time (mean 40 ms) offer about 1,730 requests per
 * second, **about 70% of the 2,500 the fleet can serve**. A policy that spreads requests in flight
 * evenly overloads the one-server hosts; one that spreads latency evenly has to learn that a
 * host's latency rises later, and less, on eight servers than on one.
 *
 * @category scenarios
 * @since 0.1.0
 */
export const heterogeneous: Scenario = {
  ...homogeneous,
  name: "heterogeneous",
  description: "8 backends with 1, 2, 4, 8, 1, 2, 4, 8 servers, all weight 1; 90 clients, ~70% load",
  backends: [1, 2, 4, 8, 1, 2, 4, 8].map((concurrency) => ({
    latency: lognormal({ median: 10, sigma: 0.6 }),
    concurrency
  })),
  clients: 90
}

/**
 * {@link homogeneous} with the last backend (`10.0.0.10`) ten times slower for 30 s, from 30 s to
 * 60 s of the run, then normal again: a bad deploy rolled back, a compaction, a noisy neighbour
 * that left.
 *
 * **Details**
 *
 * Measured from 10 s to 90 s: 20 s healthy, 30 s degraded, 30 s recovered. A policy has to stop
 * sending to the slow host within a few of its requests, and — the half most policies get wrong —
 * send to it again once it recovers, although its estimate is stale and high.
 *
 * @category scenarios
 * @since 0.1.0
 */
export const degradeAndRecover: Scenario = {
  ...homogeneous,
  name: "degradeAndRecover",
  description: "homogeneous, but 10.0.0.10 is 10× slower from 30 s to 60 s, then recovers",
  duration: "80 seconds",
  backends: [
    ...homogeneous.backends.slice(0, 9),
    { ...homogeneous.backends[9]!, phases: [{ from: "30 seconds", until: "60 seconds", factor: 10 }] }
  ]
}

/**
 * The built-in scenarios where every simple policy falls well short of the oracle, by name:
 * {@link driftingHard}, {@link heterogeneous}, {@link degradeAndRecover}. Every request succeeds.
 *
 * @category scenarios
 * @since 0.1.0
 */
export const hardScenarios: Readonly<Record<string, Scenario>> = { driftingHard, heterogeneous, degradeAndRecover }

/**
 * The built-in scenarios with healthy backends, by name: every request succeeds, and policies
 * differ in latency only. The ones with a faulty backend are in {@link failureScenarios}.
 *
 * @category scenarios
 * @since 0.1.0
 */
export const scenarios: Readonly<Record<string, Scenario>> = { homogeneous, oneSlow, drifting }

/**
 * {@link homogeneous} with the last backend (`10.0.0.10`) failing every request, fast: an error
 * after a log-normal time of median 1 ms (σ 0.6), a tenth of a healthy response: an instance
 * whose database is down and answers 503 at once, or a proxy refusing because the server behind
 * it crashed.
 *
 * **Details**
 *
 * Fast failure is the hard case for load-aware policies: the failing backend finishes its
 * requests sooner than any other, so it has the fewest in flight and the lowest latency estimate,
 * and power-of-two-choices policies send it every request for which it is one of the two
 * candidates (about a fifth of first tries, twice a load-blind share). Retries on another backend
 * recover the requests; outlier detection stops the traffic.
 *
 * @category scenarios
 * @since 0.1.0
 */
export const oneFailing: Scenario = {
  ...homogeneous,
  name: "oneFailing",
  description: "homogeneous, but 10.0.0.10 fails every request, fast (an error after a median 1 ms)",
  backends: [
    ...homogeneous.backends.slice(0, 9),
    { latency: lognormal({ median: 1, sigma: 0.6 }), concurrency: 8, failureRate: 1 }
  ]
}

/**
 * {@link homogeneous} with the last backend (`10.0.0.10`) failing half of its requests, after its
 * usual service time (a bad disk, a bad deploy on some code paths, a dependency failing now and
 * then).
 *
 * **Details**
 *
 * Its latency is the others', so latency-based policies do not avoid it; a load-blind share of
 * traffic there means 5% of first tries fail.
 *
 * @category scenarios
 * @since 0.1.0
 */
export const oneFlaky: Scenario = {
  ...homogeneous,
  name: "oneFlaky",
  description: "homogeneous, but 10.0.0.10 fails 50% of its requests (after its usual service time)",
  backends: [
    ...homogeneous.backends.slice(0, 9),
    { latency: lognormal({ median: 10, sigma: 0.6 }), concurrency: 8, failureRate: 0.5 }
  ]
}

/**
 * {@link homogeneous} with the last backend (`10.0.0.10`) a black hole: it accepts every request
 * and never answers (a hung process behind an open port, a half-open connection).
 *
 * **Details**
 *
 * Without a per-try timeout, a request sent there waits for ever and its closed-loop client with
 * it; the run counts such requests as failed ("unanswered") when it ends. Nothing ever completes
 * there, so neither latency estimates nor outlier detection learn anything about it until a
 * timeout turns the silence into failures.
 *
 * @category scenarios
 * @since 0.1.0
 */
export const oneBlackHole: Scenario = {
  ...homogeneous,
  name: "oneBlackHole",
  description: "homogeneous, but 10.0.0.10 is a black hole: it accepts requests and never answers",
  backends: [
    ...homogeneous.backends.slice(0, 9),
    { latency: lognormal({ median: 10, sigma: 0.6 }), concurrency: 8, blackHole: true }
  ]
}

/**
 * The built-in scenarios with a faulty backend, by name: {@link oneFailing}, {@link oneFlaky},
 * {@link oneBlackHole}.
 *
 * @category scenarios
 * @since 0.1.0
 */
export const failureScenarios: Readonly<Record<string, Scenario>> = { oneFailing, oneFlaky, oneBlackHole }

// -----------------------------------------------------------------------------
// the oracle
// -----------------------------------------------------------------------------

/**
 * ORACLE, for comparison only: shortest expected delay with full information. Sends each request
 * to the healthy backend with the lowest {@link Truth.expectedDelay} (true current mean service
 * time, busy servers and queue length); ties go to the lower occupancy, then at random.
 *
 * **Details**
 *
 * It never sends a request to a faulty backend (a failure rate, a black hole) while a healthy one
 * exists, so in a scenario with faulty backends it runs as if they had been removed from the
 * set: nothing fails, nothing is retried, and its latency is the best the clients could see
 * without the faulty backends' capacity. That is the yardstick of `p99VsOracle` in
 * {@link compare} there (where the oracle runs without the {@link Client} options).
 *
 * **Gotchas**
 *
 * It reads the simulator's true state from {@link SimulationContext}, which no real balancer has;
 * building it anywhere else throws.
 *
 * @category constructors
 * @since 0.1.0
 */
export const oracle: Policy.Policy = {
  name: "oracle",
  make: (context) => {
    if (!isSimulationContext(context)) {
      throw new Error("the oracle policy reads the simulator's true backend state; it only runs inside Simulator.run")
    }
    const { slots, truth } = context
    const scan = (healthyOnly: boolean): Policy.Slot | undefined => {
      let best: Policy.Slot | undefined
      let bestDelay = Infinity
      let bestOccupancy = Infinity
      let ties = 0
      for (let i = 0; i < slots.length; i++) {
        const slot = slots[i]!
        if (healthyOnly && !truth.healthy(slot.index)) continue
        const delay = truth.expectedDelay(slot.index)
        if (delay > bestDelay) continue
        const occupancy = truth.occupancy(slot.index)
        if (delay < bestDelay || occupancy < bestOccupancy) {
          best = slot
          bestDelay = delay
          bestOccupancy = occupancy
          ties = 1
        } else if (occupancy === bestOccupancy && context.random() * ++ties < 1) {
          best = slot
        }
      }
      return best
    }
    const pick = (): Policy.Slot | undefined => scan(true) ?? scan(false)
    return {
      ...Policy.stateless,
      pick,
      explain: () => {
        const chosen = pick()
        return {
          policy: "oracle",
          chosen: chosen?.endpoint.address,
          candidates: slots.map((s) => ({ address: s.endpoint.address, score: truth.expectedDelay(s.index) })),
          note: "true expected delay (ms) of the healthy backends; lowest wins, then lowest occupancy, then random"
        }
      }
    }
  }
}

// -----------------------------------------------------------------------------
// running
// -----------------------------------------------------------------------------

/**
 * Runs one policy through a scenario. Pure and synchronous: the same arguments give the same
 * report, on every runtime.
 *
 * **Details**
 *
 * - `duration` replaces the scenario's measured window; `requests` ends the window once that many
 *   requests have ended in it (and lifts the scenario's duration unless `duration` is given).
 * - `client` sets the client's retries, per-try timeout and hedging (see {@link Client}); without
 *   it each request is one try, and fails if that try fails.
 * - The seed is any integer (both 32-bit halves are used).
 *
 * **Gotchas**
 *
 * Throws {@link InvalidScenario} for a scenario or client options it cannot run, and an `Error`
 * if the picker returns a slot that is not in `context.slots`, or nothing while its `excluded()`
 * reports none excluded. (When it does report exclusions, the request fails at once, as
 * `AllEndpointsExcluded` fails `Balancer.use`; with clients that have no think time and a picker
 * that keeps every slot excluded, the run then never advances.)
 *
 * @category running
 * @since 0.1.0
 */
export const run = (options: {
  readonly scenario: Scenario
  readonly policy: Policy.Policy
  readonly seed: number
  readonly requests?: number | undefined
  readonly duration?: Duration.Input | undefined
  readonly client?: Client | undefined
}): Report => {
  const { policy, scenario, seed } = options
  validate(scenario)
  const runOption = (read: number | option.Invalid): number => {
    if (option.isInvalid(read)) {
      throw new InvalidScenario({
        scenario: scenario.name,
        problem: `${read.option} is ${read.value} (${read.problem})`
      })
    }
    return read
  }
  runOption(option.number("seed", seed, 0, { min: -(2 ** 53), max: 2 ** 53, integer: true }))
  runOption(option.number("requests", options.requests, 0, { min: 1, max: 1e9, integer: true }))
  runOption(option.millis("duration", options.duration, 1, { min: 0, minInclusive: false }))
  const resilience = resolveClient(scenario.name, options.client)
  const { backoffBase, backoffCap, hedgeMillis, maxAttempts, timeoutMillis } = resilience
  const n = scenario.backends.length
  const clients = scenario.clients
  const warmup = Duration.toMillis(scenario.warmup)
  const window = options.duration !== undefined
    ? Duration.toMillis(options.duration)
    : options.requests !== undefined
    ? Infinity
    : Duration.toMillis(scenario.duration)
  const limit = options.requests ?? Infinity
  let end = warmup + window

  // backends
  const concurrency = Int32Array.from(scenario.backends, (b) => b.concurrency)
  const baseMean = Float64Array.from(scenario.backends, (b) => mean(b.latency))
  const service = scenario.backends.map((b, i) => sampler(b.latency, simulation.rng(seed, streamBackend + i)))
  const failureRate = Float64Array.from(scenario.backends, (b) => b.failureRate ?? 0)
  const blackHole = scenario.backends.map((b) => b.blackHole === true)
  const failureDraw = scenario.backends.map((_, i) => simulation.rng(seed, streamFailure + i))
  const factor = new Float64Array(n).fill(1)
  const busy = new Int32Array(n)
  const queues = scenario.backends.map(() => simulation.fifo(clients))
  const busyArea = new Float64Array(n)
  const touched = new Float64Array(n)
  const served = new Float64Array(n)
  const latencySum = new Float64Array(n)
  const abandonedAt = new Float64Array(n)

  // clients, and the request each has open: its tries, the backends it tried, its live tries
  const thinkDistribution = scenario.think
  const think = thinkDistribution === undefined
    ? undefined
    : Array.from({ length: clients }, (_, j) => sampler(thinkDistribution, simulation.rng(seed, streamClient + j)))
  const requestStart = new Float64Array(clients)
  const requestOpen = new Uint8Array(clients)
  const attempts = new Int32Array(clients)
  const requestTries = new Int32Array(clients)
  const requestRetries = new Int32Array(clients)
  const requestHedges = new Int32Array(clients)
  const requestTimeouts = new Int32Array(clients)
  const hedged = new Uint8Array(clients)
  const live = new Int32Array(clients)
  const liveTry = new Int32Array(clients * 2).fill(-1)
  // backend i was tried in client c's current round of picks when tried[c * n + i] === round[c]
  const tried = new Int32Array(clients * n)
  const round = new Int32Array(clients)
  const triedCount = new Int32Array(clients)
  let rounds = 0
  const retryRng = simulation.rng(seed, streamRetry)
  const retryBudget = resilience.budget === undefined ? undefined : budget.make(resilience.budget)

  // tries: a request's first try, retries and hedges; an abandoned try lives on at its backend
  let tryBackend = new Int32Array(1024)
  let tryClient = new Int32Array(1024)
  let trySent = new Float64Array(1024)
  let tryState = new Uint8Array(1024)
  let tries = 0
  const newTry = (c: number, i: number, at: number): number => {
    if (tries === tryBackend.length) {
      if (tries >= maxTries) {
        throw new Error(`simulator run of ${JSON.stringify(scenario.name)}: over ${maxTries} tries`)
      }
      const grow = <A extends Int32Array | Float64Array | Uint8Array>(from: A, to: A): A => {
        to.set(from)
        return to
      }
      tryBackend = grow(tryBackend, new Int32Array(tries * 2))
      tryClient = grow(tryClient, new Int32Array(tries * 2))
      trySent = grow(trySent, new Float64Array(tries * 2))
      tryState = grow(tryState, new Uint8Array(tries * 2))
    }
    const t = tries++
    tryBackend[t] = i
    tryClient[t] = c
    trySent[t] = at
    tryState[t] = tryLive
    return t
  }

  // the balancer side
  let now = 0
  const policyRng = simulation.rng(seed, streamPolicy)
  const hashRng = simulation.rng(seed, streamHash)
  const truth: Truth = {
    expectedDelay: (i) => {
      const m = baseMean[i]! * factor[i]!
      const c = concurrency[i]!
      return busy[i]! < c ? m : m * (1 + (queues[i]!.size() + 1) / c)
    },
    occupancy: (i) => busy[i]! / concurrency[i]!,
    healthy: (i) => failureRate[i] === 0 && !blackHole[i]
  }
  // the balancer's own slot table and lease (internal/table.ts), under the virtual clock
  const host: Omit<SimulationContext, "slots"> = { random: policyRng.next, now: () => now, truth }
  const table = slotTable.make(policy, host)
  const slots = table.slots
  const picker = table.picker
  scenario.backends.forEach((b, i) => {
    table.add(Endpoint.makeUnsafe({ address: `10.0.0.${i + 1}:8080`, weight: b.weight ?? 1 }), now)
  })
  table.rebalanced()
  const errors = slots.map((slot) => new BackendFailure({ address: slot.endpoint.address }))

  // drift
  const drift = scenario.drift
  const driftEvery = drift === undefined ? 0 : Duration.toMillis(drift.every)
  const driftNormal = simulation.normals(simulation.rng(seed, streamDrift))
  const driftState = new Float64Array(n)
  let driftKeep = 0
  let driftNoise = 0
  let driftShift = 0
  // a backend's factor: its drift's, times its swing's, times its current phase's
  const driftFactor = new Float64Array(n).fill(1)
  const swingFactor = new Float64Array(n).fill(1)
  const phaseFactor = new Float64Array(n).fill(1)
  const refactor = (i: number): void => {
    factor[i] = driftFactor[i]! * swingFactor[i]! * phaseFactor[i]!
  }
  if (drift !== undefined) {
    driftKeep = simulation.exp(-driftEvery / Duration.toMillis(drift.timescale))
    driftNoise = drift.spread * Math.sqrt(1 - driftKeep * driftKeep)
    driftShift = drift.spread * drift.spread / 2
    for (let i = 0; i < n; i++) {
      driftState[i] = drift.spread * driftNormal()
      driftFactor[i] = simulation.exp(driftState[i]! - driftShift)
      refactor(i)
    }
  }
  const swing = scenario.swing
  const swingEvery = swing === undefined ? 0 : Duration.toMillis(swing.every)
  const swingPeriod = new Float64Array(n)
  const swingPhase = new Float64Array(n)
  const swingTo = (t: number): void => {
    for (let i = 0; i < n; i++) {
      const turns = t / swingPeriod[i]! + swingPhase[i]!
      swingFactor[i] = simulation.exp(swing!.amplitude * simulation.sin(2 * Math.PI * (turns - Math.floor(turns))))
      refactor(i)
    }
  }
  if (swing !== undefined) {
    const draw = simulation.rng(seed, streamSwing)
    const min = Duration.toMillis(swing.period.min)
    const max = Duration.toMillis(swing.period.max)
    for (let i = 0; i < n; i++) {
      swingPeriod[i] = min + (max - min) * draw.next()
      swingPhase[i] = draw.next()
    }
    swingTo(0)
  }
  const phases = scenario.backends.map((b) =>
    (b.phases ?? []).map((p) => ({
      from: Duration.toMillis(p.from),
      until: Duration.toMillis(p.until),
      factor: p.factor
    }))
  )
  const phaseTo = (i: number, t: number): void => {
    phaseFactor[i] = phases[i]!.find((p) => p.from <= t && t < p.until)?.factor ?? 1
    refactor(i)
  }

  // the run
  const events = simulation.eventQueue()
  const latencies: Array<number> = []
  let sent = 0
  let completed = 0
  let stopped = false
  let failed = 0
  let windowTries = 0
  let windowRetries = 0
  let windowHedges = 0
  let windowTimeouts = 0
  let budgetExhausted = 0
  let unanswered = 0

  const touch = (i: number): void => {
    const from = touched[i]! > warmup ? touched[i]! : warmup
    const to = now < end ? now : end
    if (to > from) busyArea[i] = busyArea[i]! + busy[i]! * (to - from)
    touched[i] = now
  }
  const start = (i: number, t: number): void => {
    touch(i)
    busy[i] = busy[i]! + 1
    if (!blackHole[i]) events.push(now + factor[i]! * service[i]!(), t * 8 + eventDone)
  }

  // picking: the first try as `Balancer.use`, the others as `Balancer.picks` (distinct backends)
  const checked = (slot: Policy.Slot | undefined): Policy.Slot | undefined => {
    if (slot === undefined ? (picker.excluded?.() ?? 0) > 0 : slots[slot.index] === slot) return slot
    throw new Error(
      `policy ${JSON.stringify(policy.name)} picked ${
        slot === undefined ? "nothing" : "a slot not in context.slots"
      } from ${n} endpoints`
    )
  }
  const pickFirst = (hash: number): Policy.Slot | undefined => {
    const slot = checked(picker.pick(hash))
    if (slot !== undefined) slot.picks++
    return slot
  }
  const untried = (c: number, slot: Policy.Slot): boolean => tried[c * n + slot.index] !== round[c]
  const newRound = (c: number): void => {
    round[c] = ++rounds
    triedCount[c] = 0
  }
  // the next endpoint of `Balancer.picks()`; once every one was tried, a retry starts a new round
  // (a fresh `picks()`, as `Retry.use` does) and a hedge is not sent (as `Hedge.use`)
  const pickOther = (c: number, retry: boolean): Policy.Slot | undefined => {
    if (triedCount[c]! >= n) {
      if (!retry) return undefined
      newRound(c)
      return pickFirst(-1)
    }
    let next: Policy.Slot | undefined
    for (let k = 0; k < 3 && next === undefined; k++) {
      const candidate = checked(picker.pick(-1))
      if (candidate !== undefined && untried(c, candidate)) next = candidate
    }
    for (let k = 0, from = next === undefined ? Math.floor(policyRng.next() * n) : 0; next === undefined; k++) {
      const candidate = slots[(from + k) % n]!
      if (untried(c, candidate)) next = candidate
    }
    next.picks++
    return next
  }

  // a try: pending + 1, its timers, then the backend's servers or queue
  const dispatch = (c: number, slot: Policy.Slot): void => {
    table.acquire(slot)
    const i = slot.index
    const t = newTry(c, i, now)
    if (untried(c, slot)) {
      tried[c * n + i] = round[c]!
      triedCount[c] = triedCount[c]! + 1
    }
    requestTries[c] = requestTries[c]! + 1
    live[c] = live[c]! + 1
    liveTry[liveTry[2 * c] === -1 ? 2 * c : 2 * c + 1] = t
    if (timeoutMillis < Infinity) events.push(now + timeoutMillis, t * 8 + eventTimeout)
    if (hedgeMillis < Infinity && hedged[c] === 0) events.push(now + hedgeMillis, t * 8 + eventHedge)
    if (busy[i]! < concurrency[i]!) start(i, t)
    else queues[i]!.push(t)
  }
  const attempt = (c: number, hash: number): void => {
    attempts[c] = attempts[c]! + 1
    const slot = attempts[c] === 1 ? pickFirst(hash) : pickOther(c, true)
    // every endpoint excluded: the pick fails, and so does the request (`Retry.use` does not retry it)
    if (slot === undefined) finish(c, false, -1, -1)
    else dispatch(c, slot)
  }
  // one backup try, if none went yet, a budget token allows it and an untried backend is left
  const hedgeNow = (c: number): void => {
    hedged[c] = 1
    if (retryBudget !== undefined && !budget.tryWithdraw(retryBudget, now)) return
    const slot = pickOther(c, false)
    if (slot === undefined) return
    requestHedges[c] = requestHedges[c]! + 1
    dispatch(c, slot)
  }
  const unlive = (c: number, t: number): void => {
    live[c] = live[c]! - 1
    liveTry[liveTry[2 * c] === t ? 2 * c : 2 * c + 1] = -1
  }
  // the client stops waiting without an outcome (an interruption): pending − 1, nothing observed
  const abandonAll = (c: number): void => {
    for (let k = 2 * c; k < 2 * c + 2; k++) {
      const t = liveTry[k]!
      if (t === -1) continue
      tryState[t] = tryAbandoned
      const i = tryBackend[t]!
      table.release(slots[i]!, undefined)
      abandonedAt[i] = abandonedAt[i]! + 1
      liveTry[k] = -1
      live[c] = live[c]! - 1
    }
  }
  // a try's outcome reaches the client: what `Balancer.use`'s release does, then the request's turn
  const outcome = (t: number, success: boolean, error: unknown): void => {
    const i = tryBackend[t]!
    const c = tryClient[t]!
    const slot = slots[i]!
    const latency = Math.max(now - trySent[t]!, 0)
    table.release(slot, success ? { success, latency, now } : { success, error, latency, now })
    unlive(c, t)
    if (success) {
      abandonAll(c)
      finish(c, true, i, latency)
      return
    }
    // `Hedge.use`: a failure sends the backup at once if it has not gone yet
    if (hedgeMillis < Infinity && hedged[c] === 0) hedgeNow(c)
    if (live[c] === 0) settle(c)
  }
  // every try of the request failed: retry after a backoff if an attempt and a token are left
  const settle = (c: number): void => {
    if (attempts[c]! < maxAttempts) {
      if (retryBudget === undefined || budget.tryWithdraw(retryBudget, now)) {
        // `Retry.defaultSchedule`'s shape: exponential, `Schedule.jittered` (×0.8–1.2), capped
        const exponential = backoffBase * 2 ** (attempts[c]! - 1)
        const u = retryRng.next()
        const delay = Math.min(exponential * 0.8 * (1 - u) + exponential * 1.2 * u, backoffCap)
        events.push(now + delay, c * 8 + eventRetry)
        return
      }
      finish(c, false, -1, -1, true)
      return
    }
    finish(c, false, -1, -1)
  }
  const account = (c: number): void => {
    windowTries += requestTries[c]!
    windowRetries += requestRetries[c]!
    windowHedges += requestHedges[c]!
    windowTimeouts += requestTimeouts[c]!
  }
  const finish = (c: number, success: boolean, i: number, tryLatency: number, outOfBudget = false): void => {
    requestOpen[c] = 0
    completed++
    if (!stopped && now >= warmup && now < end) {
      account(c)
      if (success) {
        latencies.push(Math.max(now - requestStart[c]!, 0))
        served[i] = served[i]! + 1
        latencySum[i] = latencySum[i]! + tryLatency
      } else {
        failed++
        if (outOfBudget) budgetExhausted++
      }
      if (latencies.length + failed >= limit) {
        end = now
        for (let b = 0; b < n; b++) touch(b)
      }
    }
    if (now >= end) stopped = true
    if (stopped) return
    if (think !== undefined) events.push(now + think[c]!(), c * 8 + eventSend)
    else if (success) send(c)
    else events.push(now, c * 8 + eventSend) // not at once: a failure can take no time at all
  }
  const send = (c: number): void => {
    const hash = policy.hashed === true ? hashRng.nextU32() : -1
    sent++
    requestOpen[c] = 1
    requestStart[c] = now
    attempts[c] = 0
    requestTries[c] = 0
    requestRetries[c] = 0
    requestHedges[c] = 0
    requestTimeouts[c] = 0
    hedged[c] = 0
    newRound(c)
    if (retryBudget !== undefined) budget.deposit(retryBudget, now)
    attempt(c, hash)
  }

  for (let j = 0; j < clients; j++) {
    events.push(think === undefined ? 0 : think[j]!(), j * 8 + eventSend)
  }
  if (drift !== undefined) events.push(driftEvery, eventDrift)
  if (swing !== undefined) events.push(swingEvery, eventSwing)
  phases.forEach((spells, i) => {
    phaseTo(i, 0)
    for (const p of spells) {
      events.push(p.from, i * 8 + eventPhase)
      events.push(p.until, i * 8 + eventPhase)
    }
  })
  while (events.size() > 0) {
    const tag = events.pop()
    now = events.time()
    if (!stopped && now >= end) stopped = true
    const id = tag >> 3
    switch (tag & 7) {
      case eventDone: {
        const i = tryBackend[id]!
        touch(i)
        busy[i] = busy[i]! - 1
        const queue = queues[i]!
        if (queue.size() > 0) start(i, queue.shift())
        const rate = failureRate[i]!
        const fails = rate > 0 && (rate >= 1 || failureDraw[i]!.next() < rate)
        if (tryState[id] === tryLive) {
          tryState[id] = tryAnswered
          outcome(id, !fails, errors[i])
        }
        break
      }
      case eventSend: {
        if (!stopped) send(id)
        break
      }
      case eventTimeout: {
        if (tryState[id] === tryLive) {
          // the client stops waiting; the backend works on, and its answer goes nowhere
          tryState[id] = tryTimedOut
          const c = tryClient[id]!
          requestTimeouts[c] = requestTimeouts[c]! + 1
          const error = new Retry.AttemptTimedOut({
            endpoint: slots[tryBackend[id]!]!.endpoint.address,
            timeoutMillis,
            attempt: attempts[c]!
          })
          outcome(id, false, error)
        }
        break
      }
      case eventHedge: {
        if (tryState[id] === tryLive && hedged[tryClient[id]!] === 0) hedgeNow(tryClient[id]!)
        break
      }
      case eventRetry: {
        requestRetries[id] = requestRetries[id]! + 1
        attempt(id, -1)
        break
      }
      case eventDrift: {
        if (!stopped) {
          for (let i = 0; i < n; i++) {
            driftState[i] = driftState[i]! * driftKeep + driftNoise * driftNormal()
            driftFactor[i] = simulation.exp(driftState[i]! - driftShift)
            refactor(i)
          }
          events.push(now + driftEvery, eventDrift)
        }
        break
      }
      case eventSwing: {
        if (!stopped) {
          swingTo(now)
          events.push(now + swingEvery, eventSwing)
        }
        break
      }
      default: {
        phaseTo(id, now)
      }
    }
  }
  // requests still waiting (on a black hole, without a timeout) are given up: failed, unanswered
  for (let c = 0; c < clients; c++) {
    if (requestOpen[c] === 0) continue
    abandonAll(c)
    requestOpen[c] = 0
    completed++
    account(c)
    failed++
    unanswered++
  }
  for (let i = 0; i < n; i++) touch(i)

  // the report
  const measured = end - warmup
  const sorted = Float64Array.from(latencies).sort()
  const total = sorted.length
  let sum = 0
  for (let k = 0; k < total; k++) sum += sorted[k]!
  let area = 0
  let servers = 0
  for (let i = 0; i < n; i++) {
    area += busyArea[i]!
    servers += concurrency[i]!
  }
  const ended = total + failed
  return {
    scenario: scenario.name,
    policy: policy.name,
    seed,
    warmup,
    window: measured,
    requests: total,
    failed,
    successRate: ended > 0 ? total / ended : NaN,
    sent,
    completed,
    throughput: measured > 0 ? total / (measured / 1000) : 0,
    utilization: measured > 0 ? area / (servers * measured) : 0,
    latency: {
      mean: total > 0 ? sum / total : NaN,
      p50: simulation.quantile(sorted, 0.5),
      p90: simulation.quantile(sorted, 0.9),
      p99: simulation.quantile(sorted, 0.99),
      p999: simulation.quantile(sorted, 0.999),
      max: total > 0 ? sorted[total - 1]! : NaN
    },
    tries: {
      sent: windowTries,
      retries: windowRetries,
      hedges: windowHedges,
      amplification: ended > 0 ? windowTries / ended : NaN,
      timeouts: windowTimeouts,
      budgetExhausted,
      unanswered
    },
    backends: slots.map((slot, i) => ({
      address: slot.endpoint.address,
      weight: slot.endpoint.weight,
      concurrency: concurrency[i]!,
      failureRate: failureRate[i]!,
      blackHole: blackHole[i]!,
      requests: served[i]!,
      share: total > 0 ? served[i]! / total : 0,
      meanLatency: served[i]! > 0 ? latencySum[i]! / served[i]! : NaN,
      utilization: measured > 0 ? busyArea[i]! / (concurrency[i]! * measured) : 0,
      picks: slot.picks,
      successes: slot.successes,
      failures: slot.failures,
      abandoned: abandonedAt[i]!,
      pending: slot.pending
    }))
  }
}

/**
 * Runs the {@link oracle} and each policy through one scenario with one seed, and rates each
 * policy's p99 against the oracle's.
 *
 * **Details**
 *
 * The oracle's row comes first, then the policies in the order of `policies` (an entry that is
 * the oracle itself is not run twice). Add a policy to a comparison by adding one entry. The
 * policies run with the `client` options; the oracle always runs without them, on the healthy
 * backends only, so it is the same yardstick for every client.
 *
 * @category running
 * @since 0.1.0
 */
export const compare = (options: {
  readonly scenario: Scenario
  readonly policies: Readonly<Record<string, Policy.Policy>>
  readonly seed: number
  readonly requests?: number | undefined
  readonly duration?: Duration.Input | undefined
  readonly client?: Client | undefined
}): ReadonlyArray<Row> => {
  const runOne = (policy: Policy.Policy) =>
    run({
      scenario: options.scenario,
      policy,
      seed: options.seed,
      requests: options.requests,
      duration: options.duration,
      client: policy === oracle ? undefined : options.client
    })
  const baseline = runOne(oracle)
  const rows: Array<Row> = [{ label: "oracle", report: baseline, p99VsOracle: 1 }]
  for (const [label, policy] of Object.entries(options.policies)) {
    if (policy === oracle) continue
    const report = runOne(policy)
    rows.push({ label, report, p99VsOracle: report.latency.p99 / baseline.latency.p99 })
  }
  return rows
}

/**
 * A plain-text table of comparison rows, one block per scenario: p50 / p99 / p999 latency (ms),
 * throughput (requests per second of simulated time), utilisation, p99 relative to the oracle,
 * and each backend's share of the requests (%, in address order).
 *
 * @category running
 * @since 0.1.0
 */
export const format = (rows: ReadonlyArray<Row>): string => {
  const lines: Array<string> = []
  let scenario: string | undefined
  const labelWidth = Math.max(6, ...rows.map((r) => r.label.length))
  for (const row of rows) {
    const r = row.report
    if (r.scenario !== scenario) {
      scenario = r.scenario
      if (lines.length > 0) lines.push("")
      lines.push(
        `${r.scenario} (seed ${r.seed}; ${fixed(r.window / 1000, 1)} s measured after ${
          fixed(r.warmup / 1000, 1)
        } s warm-up; ${r.backends.length} backends)`
      )
      lines.push(
        [
          "policy".padEnd(labelWidth),
          "p50 ms".padStart(8),
          "p99 ms".padStart(8),
          "p999 ms".padStart(8),
          "req/s".padStart(8),
          "util".padStart(5),
          "p99/oracle".padStart(10),
          " share % by backend"
        ].join(" ")
      )
    }
    lines.push(
      [
        row.label.padEnd(labelWidth),
        fixed(r.latency.p50, 1).padStart(8),
        fixed(r.latency.p99, 1).padStart(8),
        fixed(r.latency.p999, 1).padStart(8),
        fixed(r.throughput, 0).padStart(8),
        `${fixed(r.utilization * 100, 0)}%`.padStart(5),
        `${fixed(row.p99VsOracle, 3)}×`.padStart(10),
        " " + r.backends.map((b) => fixed(b.share * 100, 1).padStart(4)).join(" ")
      ].join(" ")
    )
  }
  return lines.join("\n")
}

/**
 * A plain-text table of runs with failures, one block per scenario: the success rate, p50 / p99 /
 * p999 of the successful requests' end-to-end latency (ms), p99 relative to the oracle, tries
 * per request, the retries, hedges and per-try timeouts sent, requests failed for want of a
 * budget token or left unanswered, and the share of tries sent to faulty backends.
 *
 * @category running
 * @since 0.1.0
 */
export const formatFailures = (rows: ReadonlyArray<Row>): string => {
  const lines: Array<string> = []
  let scenario: string | undefined
  const labelWidth = Math.max(6, ...rows.map((r) => r.label.length))
  for (const row of rows) {
    const r = row.report
    if (r.scenario !== scenario) {
      scenario = r.scenario
      if (lines.length > 0) lines.push("")
      lines.push(
        `${r.scenario} (seed ${r.seed}; ${fixed(r.window / 1000, 1)} s measured after ${
          fixed(r.warmup / 1000, 1)
        } s warm-up; ${r.backends.length} backends)`
      )
      lines.push(
        [
          "run".padEnd(labelWidth),
          "success %".padStart(9),
          "p50 ms".padStart(7),
          "p99 ms".padStart(8),
          "p999 ms".padStart(8),
          "p99/oracle".padStart(10),
          "tries/req".padStart(9),
          "retries".padStart(7),
          "hedges".padStart(7),
          "timeouts".padStart(8),
          "no token".padStart(8),
          "hung".padStart(5),
          "to faulty %".padStart(11)
        ].join(" ")
      )
    }
    let picks = 0
    let faulty = 0
    for (const b of r.backends) {
      picks += b.picks
      if (b.failureRate > 0 || b.blackHole) faulty += b.picks
    }
    lines.push(
      [
        row.label.padEnd(labelWidth),
        fixed(r.successRate * 100, 3).padStart(9),
        fixed(r.latency.p50, 1).padStart(7),
        fixed(r.latency.p99, 1).padStart(8),
        fixed(r.latency.p999, 1).padStart(8),
        `${fixed(row.p99VsOracle, 3)}×`.padStart(10),
        `${fixed(r.tries.amplification, 3)}×`.padStart(9),
        String(r.tries.retries).padStart(7),
        String(r.tries.hedges).padStart(7),
        String(r.tries.timeouts).padStart(8),
        String(r.tries.budgetExhausted).padStart(8),
        String(r.tries.unanswered).padStart(5),
        fixed(picks > 0 ? faulty / picks * 100 : 0, 2).padStart(11)
      ].join(" ")
    )
  }
  return lines.join("\n")
}

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

// an event's tag is `id * 8 + kind`: a client for send and retry, a try for done, timeout and hedge
const eventSend = 0
const eventDone = 1
const eventDrift = 2
const eventTimeout = 3
const eventHedge = 4
const eventRetry = 5
const eventSwing = 6
const eventPhase = 7

// tags are 32-bit integers
const maxTries = 1 << 28

// what became of a try, as far as its client is concerned
const tryLive = 0
const tryAnswered = 1
const tryTimedOut = 2
const tryAbandoned = 3

const streamPolicy = 0
const streamHash = 1
const streamDrift = 2
const streamRetry = 3
const streamSwing = 4
const streamClient = 1 << 16
const streamBackend = 1 << 24
const streamFailure = 1 << 25

const defaultBackoffBase = 50
const defaultBackoffCap = 1000
const defaultBudget: budget.Options = { ttlMillis: 10_000, minPerSecond: 10, percent: 0.2 }

/** {@link Client} options in milliseconds, checked. */
interface Resolved {
  readonly maxAttempts: number
  readonly backoffBase: number
  readonly backoffCap: number
  readonly budget: budget.Options | undefined
  readonly timeoutMillis: number
  readonly hedgeMillis: number
}

const resolveClient = (scenario: string, client: Client | undefined): Resolved => {
  const fail = (problem: string): never => {
    throw new InvalidScenario({ scenario, problem: `client ${problem}` })
  }
  const checked = (read: number | option.Invalid): number =>
    option.isInvalid(read) ? fail(`${read.option} is ${read.value} (${read.problem})`) : read
  const millis = (input: Duration.Input | undefined, fallback: number, what: string, positive: boolean): number =>
    checked(option.millis(what, input, fallback, { min: 0, minInclusive: !positive }))
  const retry = client?.retry
  const maxAttempts = checked(option.number("maxAttempts", retry?.maxAttempts, 1, { min: 1, max: 100, integer: true }))
  let retryBudget: budget.Options | undefined
  if ((retry !== undefined || client?.hedge !== undefined) && client?.budget !== false) {
    const options = client?.budget
    retryBudget = {
      ttlMillis: millis(options?.ttl, defaultBudget.ttlMillis, "budget ttl", true),
      minPerSecond: checked(
        option.number("budget minRetriesPerSec", options?.minRetriesPerSec, defaultBudget.minPerSecond, {
          min: 0,
          max: 100_000
        })
      ),
      percent: checked(
        option.number("budget percentCanRetry", options?.percentCanRetry, defaultBudget.percent, { min: 0, max: 1000 })
      )
    }
  }
  return {
    maxAttempts,
    backoffBase: millis(retry?.base, defaultBackoffBase, "backoff base", false),
    backoffCap: millis(retry?.cap, defaultBackoffCap, "backoff cap", false),
    budget: retryBudget,
    timeoutMillis: client?.timeout === undefined ? Infinity : millis(client.timeout, 0, "timeout", true),
    hedgeMillis: client?.hedge === undefined ? Infinity : millis(client.hedge, 0, "hedge delay", false)
  }
}

const fixed = (x: number, digits: number): string => Number.isFinite(x) ? x.toFixed(digits) : String(x)

/** Draws from `distribution` with the stream `random`. */
const sampler = (distribution: Distribution, random: simulation.Rng): () => number => {
  switch (distribution._tag) {
    case "Constant": {
      const millis = distribution.millis
      return () => millis
    }
    case "Exponential": {
      const m = distribution.mean
      return () => simulation.exponential(random, m)
    }
    case "LogNormal": {
      const { median, sigma } = distribution
      const normal = simulation.normals(random)
      return () => median * simulation.exp(sigma * normal())
    }
    case "Mixture": {
      const parts = distribution.components.map((c) => sampler(c.distribution, random))
      const cumulative: Array<number> = []
      let total = 0
      for (const c of distribution.components) cumulative.push(total += c.weight)
      return () => {
        const u = random.next() * total
        let k = 0
        while (k < parts.length - 1 && u >= cumulative[k]!) k++
        return parts[k]!()
      }
    }
  }
}

const validate = (scenario: Scenario): void => {
  const fail = (problem: string): never => {
    throw new InvalidScenario({ scenario: scenario.name, problem })
  }
  if (scenario.backends.length === 0) fail("it has no backends")
  if (scenario.backends.length > 254) fail(`${scenario.backends.length} backends (at most 254: 10.0.0.1-254)`)
  if (!Number.isInteger(scenario.clients) || scenario.clients < 1) fail(`clients is ${scenario.clients}`)
  scenario.backends.forEach((b, i) => {
    if (!Number.isInteger(b.concurrency) || b.concurrency < 1) fail(`backend ${i} has concurrency ${b.concurrency}`)
    const rate = b.failureRate ?? 0
    if (!(rate >= 0 && rate <= 1)) fail(`backend ${i} has failure rate ${rate}`)
    checkDistribution(b.latency, `backend ${i} latency`, fail)
  })
  if (scenario.think !== undefined) checkDistribution(scenario.think, "think time", fail)
  const warmup = Duration.toMillis(scenario.warmup)
  if (!(warmup >= 0) || !Number.isFinite(warmup)) fail(`warm-up is ${warmup} ms`)
  scenario.backends.forEach((b, i) => {
    const spells = (b.phases ?? []).map((p) => ({
      from: Duration.toMillis(p.from),
      until: Duration.toMillis(p.until),
      factor: p.factor
    })).sort((x, y) => x.from - y.from)
    spells.forEach((p, k) => {
      if (!(p.from >= 0 && Number.isFinite(p.from))) fail(`backend ${i} phase ${k} starts at ${p.from} ms`)
      if (!(p.until > p.from && Number.isFinite(p.until))) {
        fail(`backend ${i} phase ${k} ends at ${p.until} ms, not after its start (${p.from} ms)`)
      }
      if (!(p.factor > 0 && Number.isFinite(p.factor))) fail(`backend ${i} phase ${k} has factor ${p.factor}`)
      if (k > 0 && p.from < spells[k - 1]!.until) fail(`backend ${i} has overlapping phases`)
    })
  })
  if (scenario.swing !== undefined) {
    const { amplitude, every, period } = scenario.swing
    const step = Duration.toMillis(every)
    const min = Duration.toMillis(period.min)
    const max = Duration.toMillis(period.max)
    if (!(step > 0) || !Number.isFinite(step)) fail(`swing step is ${step} ms`)
    if (!(min > 0 && max >= min && Number.isFinite(max))) fail(`swing period is ${min} to ${max} ms`)
    if (!(amplitude >= 0 && amplitude <= 20)) fail(`swing amplitude is ${amplitude} (expected 0 to 20)`)
  }
  if (scenario.drift !== undefined) {
    const every = Duration.toMillis(scenario.drift.every)
    const timescale = Duration.toMillis(scenario.drift.timescale)
    if (!(every > 0) || !Number.isFinite(every)) fail(`drift step is ${every} ms`)
    if (!(timescale > 0)) fail(`drift time scale is ${timescale} ms`)
    if (!(scenario.drift.spread >= 0)) fail(`drift spread is ${scenario.drift.spread}`)
  }
}

const checkDistribution = (d: Distribution, what: string, fail: (problem: string) => never): void => {
  const positive = (x: number) => x >= 0 && Number.isFinite(x)
  switch (d._tag) {
    case "Constant":
      if (!positive(d.millis)) fail(`${what}: constant ${d.millis} ms`)
      return
    case "Exponential":
      if (!positive(d.mean)) fail(`${what}: exponential mean ${d.mean} ms`)
      return
    case "LogNormal":
      if (!positive(d.median) || !positive(d.sigma)) fail(`${what}: log-normal median ${d.median}, σ ${d.sigma}`)
      return
    case "Mixture":
      if (d.components.length === 0) fail(`${what}: a mixture of nothing`)
      for (const c of d.components) {
        if (!positive(c.weight)) fail(`${what}: mixture weight ${c.weight}`)
        checkDistribution(c.distribution, what, fail)
      }
      if (d.components.every((c) => c.weight === 0)) fail(`${what}: mixture weights are all 0`)
  }
}
