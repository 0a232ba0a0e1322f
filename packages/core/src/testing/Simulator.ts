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
 * - **The client's resilience** ({@link Client}, per run; none by default): the `Retry` policy,
 *   `Budget` and `Hedge` options you deploy, decoded and decided by those modules' own code
 *   (`internal/retry.ts`, `internal/hedge.ts`, `internal/budget.ts`). A request is one or more
 *   tries. Retries go to a backend not yet tried, after the retry schedule's delay, up to
 *   `maxAttempts` and within the `deadline`; a per-try timeout fails a try the client stops
 *   waiting for; hedging sends backups after a delay (or at once after a failure) and takes the
 *   first success. Retries and backups draw tokens from one retry budget, shared by all clients,
 *   that each original request feeds. The request ends when a try succeeds, or when every try
 *   failed and no retry is left; then the client thinks and sends its next request.
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
 *   With a {@link Swing}, each backend's factor also follows a sine in log space of its own
 *   period and phase; a backend's {@link Phase}s multiply it by a factor during a spell.
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
import type * as Duration from "effect/Duration"
import * as Policy from "../Policy.ts"
import { run } from "./simulator/engine.ts"
import { type Client, isSimulationContext, type Row, type Scenario } from "./simulator/model.ts"

export { run } from "./simulator/engine.ts"
export * from "./simulator/model.ts"
export * from "./simulator/report.ts"
export * from "./simulator/scenarios.ts"

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
