/**
 * A deterministic discrete-event simulator for load-balancing policies (experimental): closed-loop
 * clients, backends with latency distributions and a fixed number of servers each, and the real
 * picker of a {@link Policy.Policy} choosing where each request goes.
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
 * - **The balancer side** is the one `Balancer` keeps: one {@link Policy.Slot} per backend (made by
 *   `Policy.makeSlot` for `Endpoint.makeUnsafe({ address: "10.0.0.<i+1>:8080", weight })`), the
 *   picker built by `policy.make` and told about each slot with `added` then `rebalanced`, `picks`
 *   and `pending` counted around each request, and on each completion the peak-EWMA latency
 *   update (`slot.latency`, `slot.stamp`) with τ = `policy.decayMillis ?? 10000`, as
 *   `Balancer.use` does. Policies get `context.now` from the virtual clock and `context.random`
 *   from the seeded generator. Hashed policies (`policy.hashed`) get a uniformly random 32-bit
 *   request hash, as from a large key space; the others get `-1`.
 * - **Drift.** With {@link Drift}, each backend's latency is scaled by `exp(x_i(t) − spread²/2)`
 *   where `x_i` is an independent Ornstein-Uhlenbeck process (a mean-reverting random walk in log
 *   space) with stationary deviation `spread` and time scale `timescale`, stepped every `every`.
 *   The mean factor is 1, so the average load does not move, but which backend is fastest does.
 * - **Measurement.** Requests that complete in the window `[warmup, warmup + duration)` are
 *   recorded: latency percentiles (nearest rank), throughput in requests per second of simulated
 *   time, each backend's share of them, and server utilisation in the window. When the window
 *   ends the clients stop and the requests in flight are drained, so every request sent completes
 *   and every slot's `pending` returns to 0.
 *
 * **Determinism.** A run is a pure function of the scenario, the policy and the seed, and gives
 * the same report on Node, Bun and Deno: virtual time, a seeded 32-bit generator (SFC32), and an
 * `exp` / `log` of its own made of exactly-rounded arithmetic (the engines' `Math.exp` may differ
 * in the last bit). Independent streams per use ("common random numbers"): backend `i`'s k-th
 * service time, client `j`'s k-th think time and the drift path are the same whatever the policy,
 * so policies are compared on the same workload and their differences are not sampling noise.
 * (The balancer's latency update and peak-EWMA's cost do use `Math.exp`; a last-bit difference
 * there could only flip an exact tie between two costs. The built-in scenarios give bit-identical
 * reports for every policy of the package on all three runtimes.)
 *
 * **The oracle.** {@link oracle} is shortest expected delay with full information (the true mean
 * service times, busy servers and queues); it is a yardstick and runs only inside the simulator.
 * {@link compare} reports each policy's p99 relative to the oracle's.
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
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Endpoint from "../Endpoint.ts"
import * as ewma from "../internal/ewma.ts"
import * as simulation from "../internal/simulation.ts"
import * as Policy from "../Policy.ts"

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
 * A workload: backends, clients and how long to run. A plain value; build your own or use
 * {@link homogeneous}, {@link oneSlow}, {@link drifting}.
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
  /** Requests it completed in the window. */
  readonly requests: number
  /** Its fraction of the window's requests; the shares sum to 1. */
  readonly share: number
  /** Mean response time of its requests in the window (ms), `NaN` if none. */
  readonly meanLatency: number
  /** Busy server-time over `concurrency × window`. */
  readonly utilization: number
  /** Times the picker chose it over the whole run (warm-up and drain included). */
  readonly picks: number
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
  /** Requests completed in the window: the latency sample. */
  readonly requests: number
  /** Requests sent and completed over the whole run; equal, as every request is drained. */
  readonly sent: number
  readonly completed: number
  /** Requests per second of simulated time, in the window. */
  readonly throughput: number
  /** Busy server-time over total server-time, in the window. */
  readonly utilization: number
  readonly latency: Latency
  readonly backends: ReadonlyArray<BackendReport>
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
}

/**
 * The context the simulator gives pickers: the usual {@link Policy.Context} and the true state.
 * Only the {@link oracle} reads `truth`.
 *
 * @category models
 * @since 0.1.0
 */
export interface SimulationContext extends Policy.Context {
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

// -----------------------------------------------------------------------------
// guards
// -----------------------------------------------------------------------------

/**
 * Whether a picker context comes from the simulator (and carries the true state).
 *
 * @category guards
 * @since 0.1.0
 */
export const isSimulationContext = (context: Policy.Context): context is SimulationContext =>
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
 * All built-in scenarios by name.
 *
 * @category scenarios
 * @since 0.1.0
 */
export const scenarios: Readonly<Record<string, Scenario>> = { homogeneous, oneSlow, drifting }

// -----------------------------------------------------------------------------
// the oracle
// -----------------------------------------------------------------------------

/**
 * ORACLE, for comparison only: shortest expected delay with full information. Sends each request
 * to the backend with the lowest {@link Truth.expectedDelay} (true current mean service time,
 * busy servers and queue length); ties go to the lower occupancy, then at random.
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
    const pick = (): Policy.Slot | undefined => {
      let best: Policy.Slot | undefined
      let bestDelay = Infinity
      let bestOccupancy = Infinity
      let ties = 0
      for (let i = 0; i < slots.length; i++) {
        const slot = slots[i]!
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
    return {
      ...Policy.stateless,
      pick,
      explain: () => {
        const chosen = pick()
        return {
          policy: "oracle",
          chosen: chosen?.endpoint.address,
          candidates: slots.map((s) => ({ address: s.endpoint.address, score: truth.expectedDelay(s.index) })),
          note: "true expected delay (ms); lowest wins, then lowest occupancy, then random"
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
 *   requests have completed in it (and lifts the scenario's duration unless `duration` is given).
 * - The seed is any integer (both 32-bit halves are used).
 *
 * **Gotchas**
 *
 * Throws {@link InvalidScenario} for a scenario it cannot run, and an `Error` if the picker
 * returns nothing or a slot that is not in `context.slots`.
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
}): Report => {
  const { policy, scenario, seed } = options
  validate(scenario)
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
  const tau = policy.decayMillis ?? defaultDecayMillis

  // backends
  const concurrency = Int32Array.from(scenario.backends, (b) => b.concurrency)
  const baseMean = Float64Array.from(scenario.backends, (b) => mean(b.latency))
  const service = scenario.backends.map((b, i) => sampler(b.latency, simulation.rng(seed, streamBackend + i)))
  const factor = new Float64Array(n).fill(1)
  const busy = new Int32Array(n)
  const queueHead = new Int32Array(n)
  const queueLength = new Int32Array(n)
  const queues = scenario.backends.map(() => new Int32Array(clients))
  const busyArea = new Float64Array(n)
  const touched = new Float64Array(n)
  const served = new Float64Array(n)
  const latencySum = new Float64Array(n)

  // clients
  const sentAt = new Float64Array(clients)
  const backendOf = new Int32Array(clients)
  const thinkDistribution = scenario.think
  const think = thinkDistribution === undefined
    ? undefined
    : Array.from({ length: clients }, (_, j) => sampler(thinkDistribution, simulation.rng(seed, streamClient + j)))

  // the balancer side
  let now = 0
  const policyRng = simulation.rng(seed, streamPolicy)
  const hashRng = simulation.rng(seed, streamHash)
  const slots: Array<Policy.Slot> = []
  const truth: Truth = {
    expectedDelay: (i) => {
      const m = baseMean[i]! * factor[i]!
      const c = concurrency[i]!
      return busy[i]! < c ? m : m * (1 + (queueLength[i]! + 1) / c)
    },
    occupancy: (i) => busy[i]! / concurrency[i]!
  }
  const context: SimulationContext = { slots, random: policyRng.next, now: () => now, truth }
  const picker = policy.make(context)
  scenario.backends.forEach((b, i) => {
    const slot = Policy.makeSlot(Endpoint.makeUnsafe({ address: `10.0.0.${i + 1}:8080`, weight: b.weight ?? 1 }))
    slot.index = i
    slots.push(slot)
    picker.added(slot)
  })
  picker.rebalanced()

  // drift
  const drift = scenario.drift
  const driftEvery = drift === undefined ? 0 : Duration.toMillis(drift.every)
  const driftNormal = simulation.normals(simulation.rng(seed, streamDrift))
  const driftState = new Float64Array(n)
  let driftKeep = 0
  let driftNoise = 0
  let driftShift = 0
  if (drift !== undefined) {
    driftKeep = simulation.exp(-driftEvery / Duration.toMillis(drift.timescale))
    driftNoise = drift.spread * Math.sqrt(1 - driftKeep * driftKeep)
    driftShift = drift.spread * drift.spread / 2
    for (let i = 0; i < n; i++) {
      driftState[i] = drift.spread * driftNormal()
      factor[i] = simulation.exp(driftState[i]! - driftShift)
    }
  }

  // the run
  const events = simulation.eventQueue()
  const latencies: Array<number> = []
  let sent = 0
  let completed = 0
  let stopped = false

  const touch = (i: number): void => {
    const from = touched[i]! > warmup ? touched[i]! : warmup
    const to = now < end ? now : end
    if (to > from) busyArea[i] = busyArea[i]! + busy[i]! * (to - from)
    touched[i] = now
  }
  const start = (i: number, client: number): void => {
    touch(i)
    busy[i] = busy[i]! + 1
    events.push(now + factor[i]! * service[i]!(), client * 4 + eventDone)
  }
  const send = (client: number): void => {
    const slot = picker.pick(policy.hashed === true ? hashRng.nextU32() : -1)
    if (slot === undefined || slots[slot.index] !== slot) {
      throw new Error(
        `policy ${JSON.stringify(policy.name)} picked ${
          slot === undefined ? "nothing" : "a slot not in context.slots"
        } from ${n} endpoints`
      )
    }
    slot.picks++
    slot.pending++
    const i = slot.index
    sentAt[client] = now
    backendOf[client] = i
    sent++
    if (busy[i]! < concurrency[i]!) {
      start(i, client)
    } else {
      const q = queues[i]!
      q[(queueHead[i]! + queueLength[i]!) % clients] = client
      queueLength[i] = queueLength[i]! + 1
    }
  }
  const next = (client: number): void => {
    if (stopped) return
    if (think === undefined) send(client)
    else events.push(now + think[client]!(), client * 4 + eventSend)
  }
  const complete = (client: number): void => {
    const i = backendOf[client]!
    touch(i)
    busy[i] = busy[i]! - 1
    if (queueLength[i]! > 0) {
      const waiting = queues[i]![queueHead[i]!]!
      queueHead[i] = (queueHead[i]! + 1) % clients
      queueLength[i] = queueLength[i]! - 1
      start(i, waiting)
    }
    const slot = slots[i]!
    slot.pending--
    const latency = Math.max(now - sentAt[client]!, 0)
    slot.latency = ewma.observe(slot.latency, slot.stamp, latency, now, tau)
    slot.stamp = now
    slot.successes++
    completed++
    if (!stopped && now >= warmup && now < end) {
      latencies.push(latency)
      served[i] = served[i]! + 1
      latencySum[i] = latencySum[i]! + latency
      if (latencies.length >= limit) {
        end = now
        for (let b = 0; b < n; b++) touch(b)
      }
    }
    if (now >= end) stopped = true
    next(client)
  }

  for (let j = 0; j < clients; j++) {
    events.push(think === undefined ? 0 : think[j]!(), j * 4 + eventSend)
  }
  if (drift !== undefined) events.push(driftEvery, eventDrift)
  while (events.size() > 0) {
    const tag = events.pop()
    now = events.time()
    if (!stopped && now >= end) stopped = true
    const kind = tag & 3
    if (kind === eventDone) {
      complete(tag >> 2)
    } else if (kind === eventSend) {
      if (!stopped) send(tag >> 2)
    } else if (!stopped && drift !== undefined) {
      for (let i = 0; i < n; i++) {
        driftState[i] = driftState[i]! * driftKeep + driftNoise * driftNormal()
        factor[i] = simulation.exp(driftState[i]! - driftShift)
      }
      events.push(now + driftEvery, eventDrift)
    }
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
  return {
    scenario: scenario.name,
    policy: policy.name,
    seed,
    warmup,
    window: measured,
    requests: total,
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
    backends: slots.map((slot, i) => ({
      address: slot.endpoint.address,
      weight: slot.endpoint.weight,
      concurrency: concurrency[i]!,
      requests: served[i]!,
      share: total > 0 ? served[i]! / total : 0,
      meanLatency: served[i]! > 0 ? latencySum[i]! / served[i]! : NaN,
      utilization: measured > 0 ? busyArea[i]! / (concurrency[i]! * measured) : 0,
      picks: slot.picks,
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
 * the oracle itself is not run twice). Add a policy to a comparison by adding one entry.
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
}): ReadonlyArray<Row> => {
  const runOne = (policy: Policy.Policy) =>
    run({
      scenario: options.scenario,
      policy,
      seed: options.seed,
      requests: options.requests,
      duration: options.duration
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

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

const defaultDecayMillis = 10_000

const eventSend = 0
const eventDone = 1
const eventDrift = 2

const streamPolicy = 0
const streamHash = 1
const streamDrift = 2
const streamClient = 1 << 16
const streamBackend = 1 << 24

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
    checkDistribution(b.latency, `backend ${i} latency`, fail)
  })
  if (scenario.think !== undefined) checkDistribution(scenario.think, "think time", fail)
  const warmup = Duration.toMillis(scenario.warmup)
  if (!(warmup >= 0) || !Number.isFinite(warmup)) fail(`warm-up is ${warmup} ms`)
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
