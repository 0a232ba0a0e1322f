/**
 * The built-in scenarios: plain values, re-exported by `Simulator`.
 */
import { exponential, lognormal, type Scenario } from "./model.ts"

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
