import { assert, describe, it } from "@effect/vitest"
import {
  Budget,
  Endpoint,
  Hedge,
  LeastPending,
  Load,
  Maglev,
  Options,
  PeakEwma,
  Policy,
  RingHash,
  RoundRobin,
  WeightedRandom,
  WeightedRoundRobin
} from "@switchyard/core"
import * as OutlierDetection from "@switchyard/core/OutlierDetection"
import * as Retry from "@switchyard/core/Retry"
import { Simulator } from "@switchyard/core/testing"
import { Effect, Schedule } from "effect"

/** The policies and seed of `bench/sim.ts`: the acceptance checks run the same comparison. */
const policies: Record<string, Policy.Policy> = {
  "round-robin": RoundRobin.make(),
  "least-pending": LeastPending.make(),
  "peak-ewma": PeakEwma.make(),
  "weighted-round-robin": WeightedRoundRobin.make(),
  "weighted-random": WeightedRandom.make(),
  "uniform-random": WeightedRandom.uniform(),
  "ring-hash": RingHash.make(),
  "maglev": Maglev.make()
}
const seed = 1
const slow = 60_000

/** One backend, no think time, warm-up and window in ms: a scenario whose answers are known. */
const single = (
  latency: Simulator.Distribution,
  options: { readonly clients?: number; readonly concurrency?: number; readonly warmup?: number }
): Simulator.Scenario => ({
  name: "single",
  description: "one backend",
  backends: [{ latency, concurrency: options.concurrency ?? 1 }],
  clients: options.clients ?? 1,
  warmup: options.warmup ?? 0,
  duration: 1000
})

/** A policy that always picks slot 0 and lets `inspect` look at the context and hash on every pick. */
const spy = (
  inspect: (context: Policy.Host, hash: number) => void,
  options?: { readonly hashed?: boolean }
): Policy.Policy => ({
  name: "spy",
  load: { ...Load.pending, decayMillis: 50 },
  hashed: options?.hashed,
  make: (context) => ({
    ...Policy.stateless,
    pick: (hash) => {
      inspect(context, hash)
      return context.slots[0]
    },
    explain: () => ({ policy: "spy", chosen: undefined, candidates: [], note: "" })
  })
})

const near = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.isTrue(Math.abs(actual - expected) <= tolerance, `${what}: ${actual}, expected ${expected} ± ${tolerance}`)

describe("Simulator", () => {
  describe("determinism", () => {
    it("the same seed gives an identical report; another seed gives another", () => {
      const options = { scenario: Simulator.drifting, policy: PeakEwma.make(), duration: "10 seconds" } as const
      const a = Simulator.run({ ...options, seed: 42 })
      const b = Simulator.run({ ...options, seed: 42 })
      const c = Simulator.run({ ...options, seed: 43 })
      assert.deepStrictEqual(a, b)
      assert.notDeepEqual(a, c)
      assert.notStrictEqual(a.latency.p99, c.latency.p99)
    })

    it("a run gives the same figures, to the last bit, on Node, Bun and Deno", () => {
      // The oracle on the drifting scenario uses every source of numbers the simulator has: the
      // seeded streams, its own exp / log, log-normal service times, exponential think times and
      // the drift. These figures were measured on Node 24 and must hold on every runtime; a change
      // to the model changes them, and then they are updated from a run on any one runtime.
      const report = Simulator.run({ scenario: Simulator.drifting, policy: Simulator.oracle, seed: 7, duration: 5000 })
      assert.strictEqual(report.requests, 18852)
      assert.strictEqual(report.sent, 54299)
      assert.strictEqual(report.latency.p50, 11.762086172037016)
      assert.strictEqual(report.latency.p99, 37.68922628659129)
      assert.strictEqual(report.latency.max, 81.29834021725583)
      assert.deepStrictEqual(report.backends.map((b) => b.requests), [
        6464,
        366,
        4428,
        1952,
        244,
        384,
        0,
        3850,
        559,
        605
      ])
    })
  })

  describe("conservation", () => {
    it("every request sent completes, pending returns to 0 and the shares sum to 1", () => {
      for (const built of Object.values(Simulator.scenarios)) {
        const scenario: Simulator.Scenario = { ...built, warmup: "1 second" }
        for (const policy of [Simulator.oracle, ...Object.values(policies)]) {
          const report = Simulator.run({ scenario, policy, seed, duration: "2 seconds" })
          const what = `${scenario.name} ${policy.name}`
          assert.isTrue(report.requests > 0, what)
          assert.strictEqual(report.completed, report.sent, what)
          assert.deepStrictEqual(report.backends.map((b) => b.pending), report.backends.map(() => 0), what)
          assert.strictEqual(report.backends.reduce((n, b) => n + b.picks, 0), report.sent, what)
          assert.strictEqual(report.backends.reduce((n, b) => n + b.requests, 0), report.requests, what)
          near(report.backends.reduce((s, b) => s + b.share, 0), 1, 1e-9, `${what} shares`)
        }
      }
    })

    it("requests ends the window after that many completions, then drains", () => {
      const report = Simulator.run({ scenario: Simulator.oneSlow, policy: LeastPending.make(), seed, requests: 5000 })
      assert.strictEqual(report.requests, 5000)
      assert.strictEqual(report.completed, report.sent)
      assert.isTrue(report.backends.every((b) => b.pending === 0))
      near(report.throughput, 5000 / (report.window / 1000), 1e-6, "throughput")
    })

    it("pending counts the requests in flight at every pick", () => {
      const clients = 5
      let picks = 0
      const policy = spy((context) => {
        picks++
        const pending = context.slots.reduce((n, s) => n + s.pending, 0)
        assert.isTrue(pending >= 0 && pending < clients, `pending ${pending} at a pick`)
      })
      const report = Simulator.run({
        scenario: single(Simulator.exponential(3), { clients, concurrency: 2 }),
        policy,
        seed
      })
      assert.strictEqual(picks, report.sent)
      assert.strictEqual(report.backends[0]!.pending, 0)
    })
  })

  describe("model", () => {
    it("one client on one backend sees exactly the service time", () => {
      const report = Simulator.run({ scenario: single(Simulator.constant(10), {}), policy: RoundRobin.make(), seed })
      // completions at 10, 20, …, 1000 ms; the window is [0, 1000), so 99 are recorded
      assert.strictEqual(report.requests, 99)
      assert.strictEqual(report.sent, 100)
      assert.strictEqual(report.latency.p50, 10)
      assert.strictEqual(report.latency.max, 10)
      assert.strictEqual(report.utilization, 1)
    })

    it("requests beyond the servers wait their turn in FIFO order", () => {
      const queued = Simulator.run({
        scenario: single(Simulator.constant(10), { clients: 3, warmup: 100 }),
        policy: RoundRobin.make(),
        seed
      })
      assert.strictEqual(queued.latency.p50, 30)
      assert.strictEqual(queued.latency.max, 30)
      near(queued.throughput, 100, 1, "throughput of one server at 10 ms")
      const parallel = Simulator.run({
        scenario: single(Simulator.constant(10), { clients: 2, concurrency: 2 }),
        policy: RoundRobin.make(),
        seed
      })
      assert.strictEqual(parallel.latency.max, 10)
    })

    it("service times follow their distribution", () => {
      const cases: ReadonlyArray<readonly [string, Simulator.Distribution, number]> = [
        // [name, distribution, tolerance on the sample mean: 4 standard errors of 50,000 draws]
        ["exponential", Simulator.exponential(5), 4 * 5 / Math.sqrt(50_000)],
        ["log-normal", Simulator.lognormal({ median: 5, sigma: 0.8 }), 4 * 6.8 * 0.95 / Math.sqrt(50_000)],
        [
          "bimodal",
          Simulator.bimodal({ fast: Simulator.exponential(2), slow: Simulator.constant(50), slowFraction: 0.05 }),
          4 * 10.7 / Math.sqrt(50_000)
        ]
      ]
      for (const [name, distribution, tolerance] of cases) {
        const report = Simulator.run({
          scenario: single(distribution, {}),
          policy: RoundRobin.make(),
          seed,
          requests: 50_000
        })
        near(report.latency.mean, Simulator.mean(distribution), tolerance, `${name} mean`)
      }
      near(Simulator.mean(Simulator.lognormal({ median: 5, sigma: 0.8 })), 5 * Math.exp(0.32), 1e-12, "log-normal mean")
      near(Simulator.mean(Simulator.lognormal({ mean: 12, sigma: 0.6 })), 12, 1e-12, "log-normal from its mean")
      const lognormal = Simulator.run({
        scenario: single(Simulator.lognormal({ median: 5, sigma: 0.8 }), {}),
        policy: RoundRobin.make(),
        seed,
        requests: 50_000
      })
      near(lognormal.latency.p50, 5, 0.1, "log-normal median")
    })

    it("completions update the slot's peak-EWMA estimate as the balancer does, with the policy's τ", () => {
      // one client, no think time: each pick comes right after the previous completion
      let previous: { now: number; latency: number; stamp: number } | undefined
      let sentAt = 0
      let checked = 0
      const tau = 50
      const policy = spy((context) => {
        const now = context.now()
        const slot = context.slots[0]!
        if (previous !== undefined) {
          const rtt = now - sentAt
          const w = Math.exp(-Math.max(now - previous.stamp, 0) / tau)
          const expected = previous.latency < 0 || rtt > previous.latency ? rtt : previous.latency * w + rtt * (1 - w)
          assert.strictEqual(slot.latency, expected)
          assert.strictEqual(slot.stamp, now)
          checked++
        }
        previous = { now, latency: slot.latency, stamp: slot.stamp }
        sentAt = now
      })
      Simulator.run({ scenario: single(Simulator.exponential(4), {}), policy, seed })
      assert.isTrue(checked > 100)
    })

    it("hashed policies get a 32-bit request hash, the others -1", () => {
      const seen = { hashed: new Set<number>(), plain: new Set<number>() }
      const scenario = single(Simulator.constant(5), {})
      Simulator.run({ scenario, policy: spy((_, hash) => seen.hashed.add(hash), { hashed: true }), seed })
      Simulator.run({ scenario, policy: spy((_, hash) => seen.plain.add(hash)), seed })
      assert.deepStrictEqual([...seen.plain], [-1])
      assert.isTrue(seen.hashed.size > 150)
      assert.isTrue([...seen.hashed].every((h) => Number.isInteger(h) && h >= 0 && h <= 0xffffffff))
    })

    it("backends get the addresses 10.0.0.<i+1>:8080 and their weights", () => {
      const report = Simulator.run({
        scenario: {
          ...single(Simulator.constant(1), {}),
          backends: [
            { latency: Simulator.constant(1), concurrency: 1 },
            { latency: Simulator.constant(1), concurrency: 1, weight: 3 }
          ]
        },
        policy: RoundRobin.make(),
        seed
      })
      assert.deepStrictEqual(report.backends.map((b) => [b.address, b.weight]), [["10.0.0.1:8080", 1], [
        "10.0.0.2:8080",
        3
      ]])
    })

    it("a scenario it cannot run is an InvalidScenario", () => {
      const bad: ReadonlyArray<Simulator.Scenario> = [
        { ...Simulator.homogeneous, backends: [] },
        { ...Simulator.homogeneous, clients: 0 },
        { ...Simulator.homogeneous, backends: [{ latency: Simulator.exponential(5), concurrency: 0 }] },
        { ...Simulator.homogeneous, think: Simulator.exponential(-1) }
      ]
      for (const scenario of bad) {
        let thrown: unknown
        try {
          Simulator.run({ scenario, policy: RoundRobin.make(), seed })
        } catch (e) {
          thrown = e
        }
        assert.instanceOf(thrown, Simulator.InvalidScenario)
      }
    })
  })

  describe("the oracle", () => {
    it("only runs inside the simulator", () => {
      const context = {
        slots: [Policy.makeSlot(Endpoint.makeUnsafe("10.0.0.1:80"))],
        random: () => 0.5,
        now: () => 0
      }
      assert.throws(() => Simulator.oracle.make(context), /only runs inside Simulator.run/)
    })

    it("beats uniform random with one slow backend, and leaves the slow backend idle", () => {
      const rows = Simulator.compare({
        scenario: Simulator.oneSlow,
        policies: { random: WeightedRandom.uniform() },
        seed,
        duration: "20 seconds"
      })
      const [oracle, random] = rows.map((r) => r.report)
      assert.isTrue(oracle!.latency.p99 < random!.latency.p99)
      assert.isTrue(oracle!.latency.mean < random!.latency.mean)
      assert.isTrue(oracle!.throughput > random!.throughput)
      assert.isTrue(oracle!.backends[9]!.share < 0.001)
      assert.isTrue(random!.backends[9]!.share > 0.09)
    })
  })

  describe("acceptance: p99 relative to the oracle (bench/sim.ts, same seed and sizes)", () => {
    // each run is independent of the others in a comparison, so running only the policies a
    // target names gives the same ratios as the full table
    const ratios = (scenario: Simulator.Scenario, labels: ReadonlyArray<string> = Object.keys(policies)) =>
      new Map(
        Simulator.compare({
          scenario,
          policies: Object.fromEntries(labels.map((label) => [label, policies[label]!])),
          seed
        }).map((row) => [row.label, row.p99VsOracle])
      )

    it("homogeneous: every policy within 1.06×", { timeout: slow }, () => {
      const homogeneous = ratios(Simulator.homogeneous)
      assert.strictEqual(homogeneous.size, Object.keys(policies).length + 1)
      for (const [label, ratio] of homogeneous) assert.isAtMost(ratio, 1.06, label)
    })

    it("one backend 10× slower: peak-EWMA within 1.1×, least pending within 2.5×", { timeout: slow }, () => {
      const oneSlow = ratios(Simulator.oneSlow, ["peak-ewma", "least-pending"])
      assert.isAtMost(oneSlow.get("peak-ewma")!, 1.1)
      assert.isAtMost(oneSlow.get("least-pending")!, 2.5)
    })

    it("drifting latencies: peak-EWMA within 2.5×", { timeout: slow }, () => {
      assert.isAtMost(ratios(Simulator.drifting, ["peak-ewma"]).get("peak-ewma")!, 2.5)
    })
  })
  describe("failures, retries, timeouts and hedging", () => {
    /** Backends with the given models, `clients` clients without think time, a 1 s window. */
    const cluster = (
      backends: ReadonlyArray<Simulator.Backend>,
      options?: { readonly clients?: number; readonly duration?: number }
    ): Simulator.Scenario => ({
      name: "cluster",
      description: "backends for one model check",
      backends,
      clients: options?.clients ?? 1,
      warmup: 0,
      duration: options?.duration ?? 1000
    })
    const backend = (latency: number, more?: Partial<Simulator.Backend>): Simulator.Backend => ({
      latency: Simulator.constant(latency),
      concurrency: 1,
      ...more
    })
    /** A policy that always picks slot `index` and records every outcome it observes. */
    const always = (
      index: number,
      outcomes: Array<readonly [number, Policy.Outcome]> = []
    ): Policy.Policy => ({
      name: "always",
      make: (context) => ({
        ...Policy.stateless,
        pick: () => context.slots[index],
        explain: () => ({ policy: "always", chosen: undefined, candidates: [], note: "" }),
        observe: (slot, outcome) => {
          outcomes.push([slot.index, outcome])
        }
      })
    })
    /** Every try ends once: observed (success or failure) or abandoned; nothing stays pending. */
    const conserved = (report: Simulator.Report, what: string) => {
      assert.strictEqual(report.completed, report.sent, `${what}: every request ends`)
      for (const b of report.backends) {
        assert.strictEqual(b.pending, 0, `${what}: ${b.address} pending`)
        assert.strictEqual(b.picks, b.successes + b.failures + b.abandoned, `${what}: ${b.address} tries`)
      }
      assert.strictEqual(report.backends.reduce((n, b) => n + b.requests, 0), report.requests, what)
      assert.isAtLeast(report.tries.sent, report.requests + report.failed, what)
    }

    it("bad failure rates are an InvalidScenario; client options the constructors refuse, their OptionError", () => {
      for (const failureRate of [1.5, -0.1]) {
        assert.throws(
          () => Simulator.run({ scenario: cluster([backend(1, { failureRate })]), policy: always(0), seed }),
          Simulator.InvalidScenario
        )
      }
      const scenario = cluster([backend(1)])
      const bad: ReadonlyArray<readonly [Simulator.Client, string, string, Options.OptionError | undefined]> = [
        [{ retry: { maxAttempts: 0 } }, "retry", "maxAttempts", Retry.make({ maxAttempts: 0 }).error],
        [{ retry: { maxAttempts: 1.5 } }, "retry", "maxAttempts", Retry.make({ maxAttempts: 1.5 }).error],
        [{ timeout: 0 }, "retry", "perTryTimeout", Retry.make({ perTryTimeout: 0 }).error],
        [{ hedge: -1 }, "hedge", "delay", undefined],
        [{ retry: { maxAttempts: 2, deadline: -5 } }, "retry", "deadline", Retry.make({ deadline: -5 }).error],
        [{ retry: { maxAttempts: 2 }, budget: { percentCanRetry: -1 } }, "budget", "percentCanRetry", undefined],
        [{ retry: { maxAttempts: 2 }, budget: { ttl: "500 millis" } }, "budget", "ttl", undefined]
      ]
      for (const [client, module, option, same] of bad) {
        let thrown: unknown
        try {
          Simulator.run({ scenario, policy: always(0), seed, client })
        } catch (error) {
          thrown = error
        }
        assert(Options.isOptionError(thrown), JSON.stringify(client))
        assert.strictEqual(thrown.module, module)
        assert.strictEqual(thrown.option, option)
        if (same !== undefined) {
          assert.deepStrictEqual({ ...thrown }, { ...same }, "the error Retry.make gives for the same value")
        }
      }
      // Budget.make refuses the same ttl with the same error
      const budgetError = Effect.runSync(Effect.flip(Budget.make({ ttl: "500 millis" })))
      assert.throws(
        () => Simulator.run({ scenario, policy: always(0), seed, client: { hedge: 5, budget: { ttl: "500 millis" } } }),
        budgetError.message
      )
      assert.throws(
        () =>
          Simulator.run({
            scenario,
            policy: always(0),
            seed,
            client: { retry: Retry.make({ perTryTimeout: 10 }), timeout: 10 }
          }),
        Simulator.InvalidScenario
      )
    })

    it("a phase scales a backend's service time during its spell; a swing moves it between e^−A and e^A", () => {
      const spell = Simulator.run({
        scenario: cluster([backend(10, { phases: [{ from: 1000, until: 2000, factor: 5 }] })], { duration: 3000 }),
        policy: always(0),
        seed
      })
      assert.strictEqual(spell.latency.p50, 10)
      assert.strictEqual(spell.latency.max, 50)
      // 20 requests of 50 ms in the spell, 100 of 10 ms before it and 100 after
      near(spell.requests, 100 + 20 + 100, 2, "requests")
      const swing = Simulator.run({
        scenario: {
          ...cluster([backend(10)], { duration: 60_000 }),
          swing: { amplitude: 1.2, period: { min: "15 seconds", max: "35 seconds" }, every: "250 millis" }
        },
        policy: always(0),
        seed
      })
      const low = 10 * Math.exp(-1.2)
      const high = 10 * Math.exp(1.2)
      assert.isAbove(swing.latency.max, 0.95 * high)
      assert.isAtMost(swing.latency.max, high * (1 + 1e-9))
      assert.isAtLeast(swing.latency.mean, low)
      const bad: ReadonlyArray<Simulator.Scenario> = [
        cluster([backend(1, { phases: [{ from: 100, until: 100, factor: 2 }] })]),
        cluster([backend(1, { phases: [{ from: 0, until: 100, factor: 0 }] })]),
        cluster([backend(1, { phases: [{ from: 0, until: 100, factor: 2 }, { from: 50, until: 150, factor: 2 }] })]),
        { ...cluster([backend(1)]), swing: { amplitude: -1, period: { min: 1000, max: 2000 }, every: 100 } },
        { ...cluster([backend(1)]), swing: { amplitude: 1, period: { min: 2000, max: 1000 }, every: 100 } }
      ]
      for (const scenario of bad) {
        assert.throws(() => Simulator.run({ scenario, policy: always(0), seed }), Simulator.InvalidScenario)
      }
    })

    it("a failing backend answers with a BackendFailure after its service time, and the picker observes it", () => {
      const outcomes: Array<readonly [number, Policy.Outcome]> = []
      const report = Simulator.run({
        scenario: cluster([backend(10, { failureRate: 1 })]),
        policy: always(0, outcomes),
        seed
      })
      // ends at 10, 20, …, 990 ms in the window
      assert.strictEqual(report.requests, 0)
      assert.strictEqual(report.failed, 99)
      assert.strictEqual(report.successRate, 0)
      assert.isTrue(Number.isNaN(report.latency.p50))
      assert.strictEqual(outcomes.length, report.sent)
      for (const [index, outcome] of outcomes) {
        assert.strictEqual(index, 0)
        assert.isFalse(outcome.success)
        assert.strictEqual(outcome.latency, 10)
        assert.instanceOf(outcome.error, Simulator.BackendFailure)
      }
      assert.strictEqual(report.backends[0]!.failures, report.sent)
      conserved(report, "failing")
    })

    it("a flaky backend fails its failure rate of requests", () => {
      const report = Simulator.run({
        scenario: cluster([backend(1, { failureRate: 0.3 })]),
        policy: always(0),
        seed,
        requests: 20_000
      })
      near(report.successRate, 0.7, 4 * Math.sqrt(0.21 / 20_000), "success rate")
    })

    it("a retry goes to a backend the request has not tried, after Retry's jittered exponential backoff", () => {
      const outcomes: Array<readonly [number, Policy.Outcome]> = []
      const report = Simulator.run({
        scenario: cluster([backend(1, { failureRate: 1, concurrency: 8 }), backend(10, { concurrency: 8 })], {
          clients: 8,
          duration: 5000
        }),
        policy: always(0, outcomes),
        seed,
        client: {
          retry: { maxAttempts: 2, schedule: Schedule.jittered(Schedule.exponential("8 millis")) },
          budget: false
        }
      })
      // a failure at 1 ms, a backoff of 8 ms × [0.8, 1.2), then 10 ms on the other backend
      assert.strictEqual(report.failed, 0)
      assert.isAtLeast(report.latency.p50, 17.4)
      assert.isBelow(report.latency.max, 20.6)
      near(report.latency.mean, 19, 0.1, "mean latency (mean backoff 8 ms)")
      assert.strictEqual(report.tries.retries, report.requests)
      assert.strictEqual(report.tries.amplification, 2)
      assert.strictEqual(report.backends[1]!.picks, report.backends[0]!.picks)
      assert.strictEqual(report.backends[1]!.share, 1)
      assert.isTrue(outcomes.every(([index, outcome]) => outcome.success === (index === 1)))
      conserved(report, "retry")
    })

    it("a Retry policy runs as deployed: its retryOn, its schedule, its deadline (during a try and before a retry)", () => {
      const failing = cluster([backend(1, { failureRate: 1 }), backend(10)], { duration: 2000 })
      // Retry.make's defaults do not retry a BackendFailure (not a connection error, not idempotent)
      const defaults = Simulator.run({ scenario: failing, policy: always(0), seed, client: { retry: Retry.make() } })
      assert.strictEqual(defaults.tries.retries, 0)
      assert.strictEqual(defaults.requests, 0)
      const retryAll = { idempotent: true, retryOn: () => true } as const
      // a schedule that ends after one recurrence: the second retry is never sent
      const once = Simulator.run({
        scenario: cluster([
          backend(1, { failureRate: 1 }),
          backend(1, { failureRate: 1 }),
          backend(1, { failureRate: 1 })
        ]),
        policy: always(0),
        seed,
        client: { retry: Retry.make({ ...retryAll, maxAttempts: 5, schedule: Schedule.recurs(1) }), budget: false }
      })
      assert.strictEqual(once.tries.amplification, 2)
      assert.strictEqual(once.requests, 0)
      // a deadline of 5 ms with a 10 ms backoff: no retry may start, every request fails on it
      const before = Simulator.run({
        scenario: failing,
        policy: always(0),
        seed,
        client: { retry: Retry.make({ ...retryAll, deadline: 5, schedule: Schedule.spaced(10) }), budget: false }
      })
      assert.strictEqual(before.tries.retries, 0)
      assert.strictEqual(before.tries.deadlines, before.failed)
      assert.isAbove(before.failed, 0)
      // a deadline of 5 ms on a 10 ms backend: the try is interrupted (abandoned, not observed)
      const outcomes: Array<readonly [number, Policy.Outcome]> = []
      const during = Simulator.run({
        scenario: cluster([backend(10)]),
        policy: always(0, outcomes),
        seed,
        client: { retry: Retry.make({ deadline: 5 }) }
      })
      assert.strictEqual(during.requests, 0)
      assert.strictEqual(during.tries.deadlines, during.failed)
      assert.strictEqual(outcomes.length, 0)
      assert.strictEqual(during.backends[0]!.abandoned, during.sent)
      conserved(during, "deadline")
    })

    it("a Budget made by Budget.make is simulated with its parameters on the virtual clock", () =>
      Effect.gen(function*() {
        const scenario = cluster([backend(1, { failureRate: 1 }), backend(10)], { duration: 20_000 })
        const client = (budget: Budget.Budget) => ({ retry: { maxAttempts: 2 }, budget })
        const none = yield* Budget.make({ minRetriesPerSec: 0, percentCanRetry: 0 })
        const half = yield* Budget.make({ minRetriesPerSec: 0, percentCanRetry: 0.5 })
        assert.strictEqual(Simulator.run({ scenario, policy: always(0), seed, client: client(none) }).requests, 0)
        const report = Simulator.run({ scenario, policy: always(0), seed, client: client(half) })
        near(report.successRate, 0.5, 0.01, "requests retried on half a token each")
        // as a Retry policy's own budget, too
        const own = Simulator.run({
          scenario,
          policy: always(0),
          seed,
          client: { retry: Retry.make({ maxAttempts: 2, idempotent: true, retryOn: () => true, budget: half }) }
        })
        assert.deepStrictEqual(own.tries, report.tries)
      }).pipe(Effect.runSync))

    it("retries avoid the backends a request tried while one remains, then start a new round", () => {
      const report = Simulator.run({
        scenario: cluster([backend(1, { failureRate: 1 }), backend(1, { failureRate: 1 })]),
        policy: always(0),
        seed,
        client: { retry: { maxAttempts: 4, schedule: Schedule.spaced(0) }, budget: false }
      })
      // slot 0, slot 1 (untried); both tried: a new round, slot 0 (the policy's pick), slot 1
      assert.strictEqual(report.requests, 0)
      assert.strictEqual(report.backends[0]!.picks, 2 * report.sent)
      assert.strictEqual(report.backends[1]!.picks, 2 * report.sent)
      assert.strictEqual(report.tries.amplification, 4)
      conserved(report, "distinct")
    })

    it("a retry without a budget token is not sent, and the request fails", () => {
      const scenario = cluster([backend(1, { failureRate: 1 }), backend(10)], { duration: 20_000 })
      const none = Simulator.run({
        scenario,
        policy: always(0),
        seed,
        client: { retry: { maxAttempts: 2 }, budget: { minRetriesPerSec: 0, percentCanRetry: 0 } }
      })
      assert.strictEqual(none.requests, 0)
      assert.strictEqual(none.tries.retries, 0)
      assert.strictEqual(none.tries.budgetExhausted, none.failed)
      assert.strictEqual(none.backends[1]!.picks, 0)
      // half a token per request: every other request can be retried
      const half = Simulator.run({
        scenario,
        policy: always(0),
        seed,
        client: { retry: { maxAttempts: 2 }, budget: { minRetriesPerSec: 0, percentCanRetry: 0.5 } }
      })
      near(half.successRate, 0.5, 0.01, "requests retried on half a token each")
      assert.strictEqual(half.tries.budgetExhausted, half.failed)
      conserved(half, "budget")
    })

    it("a per-try timeout is a failure outcome with the timeout as latency; the backend keeps its server", () => {
      const outcomes: Array<readonly [number, Policy.Outcome]> = []
      const report = Simulator.run({
        scenario: cluster([backend(10, { blackHole: true }), backend(10)]),
        policy: always(0, outcomes),
        seed,
        client: { retry: { maxAttempts: 2, schedule: Schedule.spaced(0) }, timeout: "50 millis", budget: false }
      })
      // 50 ms waiting on the black hole, then 10 ms on the other backend
      assert.strictEqual(report.latency.p50, 60)
      assert.strictEqual(report.latency.max, 60)
      assert.strictEqual(report.tries.timeouts, report.requests)
      const timedOut = outcomes.filter(([index]) => index === 0).map(([, outcome]) => outcome)
      assert.strictEqual(timedOut.length, report.backends[0]!.picks)
      for (const outcome of timedOut) {
        assert.isFalse(outcome.success)
        assert.strictEqual(outcome.latency, 50)
        assert.instanceOf(outcome.error, Retry.AttemptTimedOut)
        assert.include(outcome.error as Retry.AttemptTimedOut, {
          endpoint: "10.0.0.1:8080",
          timeoutMillis: 50,
          attempt: 1
        })
      }
      assert.strictEqual(report.backends[0]!.failures, report.backends[0]!.picks)
      assert.strictEqual(report.backends[0]!.abandoned, 0)
      assert.strictEqual(report.backends[0]!.utilization, 1)
      conserved(report, "timeout")
    })

    it("a hedge goes to another backend after the delay; the first success wins, the loser is abandoned unobserved", () => {
      const outcomes: Array<readonly [number, Policy.Outcome]> = []
      const report = Simulator.run({
        scenario: cluster([backend(100), backend(10)]),
        policy: always(0, outcomes),
        seed,
        client: { hedge: "20 millis", budget: false }
      })
      assert.strictEqual(report.latency.p50, 30)
      assert.strictEqual(report.latency.max, 30)
      assert.strictEqual(report.tries.hedges, report.requests)
      assert.strictEqual(report.tries.amplification, 2)
      assert.isTrue(outcomes.every(([index, outcome]) => index === 1 && outcome.success))
      const slow = report.backends[0]!
      assert.strictEqual(slow.successes + slow.failures, 0)
      assert.strictEqual(slow.abandoned, slow.picks)
      // the backend is not told: it serves the abandoned tries all the same
      assert.strictEqual(slow.utilization, 1)
      conserved(report, "hedge")
    })

    it("a failure before the hedge delay sends the backup at once", () => {
      const report = Simulator.run({
        scenario: cluster([backend(5, { failureRate: 1 }), backend(10)]),
        policy: always(0),
        seed,
        client: { hedge: "20 millis", budget: false }
      })
      assert.strictEqual(report.latency.p50, 15)
      assert.strictEqual(report.latency.max, 15)
      assert.strictEqual(report.tries.hedges, report.requests)
      assert.strictEqual(report.tries.retries, 0)
      conserved(report, "hedge on failure")
    })

    it("Hedge.make's options run as Hedge.use does: maxHedges, a percentile delay, nonFatal, and its errors", () =>
      Effect.gen(function*() {
        // eight servers each, so that the tries a request abandons do not queue the next request
        const wide = { concurrency: 8 }
        const slowPair = cluster([backend(100, wide), backend(100, wide), backend(10, wide)], { duration: 5000 })
        const one = Simulator.run({
          scenario: slowPair,
          policy: always(0),
          seed,
          client: { hedge: { delay: "20 millis" }, budget: false }
        })
        const two = Simulator.run({
          scenario: slowPair,
          policy: always(0),
          seed,
          client: { hedge: { delay: "20 millis", maxHedges: 2 }, budget: false }
        })
        // one backup finds the fast backend half the time; two always reach it by 40 + 10 ms
        assert.strictEqual(one.latency.max, 100)
        assert.strictEqual(two.latency.max, 50)
        assert.isAbove(two.tries.hedges, two.requests)
        assert.isAtMost(two.tries.hedges, 2 * two.sent)
        conserved(two, "two hedges")
        // a percentile of the latencies the calls record: backups only for the slow tail (9.5 ms
        // answers, one in ten 200 ms; the 85th percentile settles at the 10 ms of a backup)
        const tail = cluster([
          backend(0, {
            ...wide,
            latency: Simulator.mixture([{ weight: 9, distribution: Simulator.constant(9.5) }, {
              weight: 1,
              distribution: Simulator.constant(200)
            }])
          }),
          backend(10, wide)
        ], { duration: 20_000 })
        const percentile = Simulator.run({
          scenario: tail,
          policy: always(0),
          seed,
          client: { hedge: { delay: { percentile: 0.85 }, window: 100 }, budget: false }
        })
        assert.isBelow(percentile.latency.p99, 25)
        assert.isBelow(percentile.tries.hedges, 0.13 * percentile.requests)
        assert.isAbove(percentile.tries.hedges, 0.07 * percentile.requests)
        const unhedged = Simulator.run({ scenario: tail, policy: always(0), seed })
        assert.strictEqual(unhedged.latency.p99, 200)
        // a fatal failure sends no backup
        const failing = cluster([backend(1, { failureRate: 1 }), backend(10)])
        const nonFatal = Simulator.run({
          scenario: failing,
          policy: always(0),
          seed,
          client: { hedge: 50, budget: false }
        })
        assert.strictEqual(nonFatal.failed, 0)
        const fatal = Simulator.run({
          scenario: failing,
          policy: always(0),
          seed,
          client: { hedge: { delay: 50, nonFatal: () => false }, budget: false }
        })
        assert.strictEqual(fatal.requests, 0)
        assert.strictEqual(fatal.tries.hedges, 0)
        // what Hedge.make refuses, the simulator refuses with the same error
        for (const options of [{ delay: { percentile: 1 } }, { delay: 5, maxHedges: 11 }, { delay: 5, window: 0 }]) {
          const expected = yield* Effect.flip(Hedge.make(options))
          let thrown: unknown
          try {
            Simulator.run({ scenario: failing, policy: always(0), seed, client: { hedge: options } })
          } catch (error) {
            thrown = error
          }
          assert(Options.isOptionError(thrown))
          assert.deepStrictEqual({ ...thrown }, { ...expected })
        }
      }).pipe(Effect.runSync))

    it("a backup without a budget token is not sent, and the request waits for its first try", () => {
      const report = Simulator.run({
        scenario: cluster([backend(100), backend(10)]),
        policy: always(0),
        seed,
        client: { hedge: "20 millis", budget: { minRetriesPerSec: 0, percentCanRetry: 0 } }
      })
      assert.strictEqual(report.latency.p50, 100)
      assert.strictEqual(report.tries.hedges, 0)
      assert.strictEqual(report.backends[1]!.picks, 0)
      conserved(report, "hedge without a token")
    })

    it("a black hole without a timeout hangs its clients; the run fails their requests as unanswered", () => {
      const report = Simulator.run({
        scenario: cluster([backend(10, { blackHole: true })], { clients: 3 }),
        policy: always(0),
        seed,
        client: { retry: { maxAttempts: 3 } }
      })
      assert.strictEqual(report.sent, 3)
      assert.strictEqual(report.failed, 3)
      assert.strictEqual(report.tries.unanswered, 3)
      assert.strictEqual(report.backends[0]!.abandoned, 3)
      conserved(report, "black hole")
    })

    it("the oracle never sends a request to a faulty backend", () => {
      for (const built of Object.values(Simulator.failureScenarios)) {
        const scenario: Simulator.Scenario = { ...built, warmup: "1 second" }
        const report = Simulator.run({ scenario, policy: Simulator.oracle, seed, duration: "2 seconds" })
        assert.strictEqual(report.successRate, 1, scenario.name)
        assert.strictEqual(report.backends[9]!.picks, 0, scenario.name)
        conserved(report, scenario.name)
      }
    })

    it("every request ends succeeded or failed, and every slot's pending returns to 0", () => {
      const clients: ReadonlyArray<Simulator.Client> = [
        {},
        { retry: { maxAttempts: 3 } },
        { retry: { maxAttempts: 3 }, timeout: "100 millis", hedge: "30 millis" }
      ]
      const makers = [() => LeastPending.make(), () => PeakEwma.make(), () => RoundRobin.make()]
      for (const built of Object.values(Simulator.failureScenarios)) {
        const scenario: Simulator.Scenario = { ...built, warmup: "1 second" }
        for (const client of clients) {
          for (const make of makers) {
            for (const policy of [make(), OutlierDetection.make(make())]) {
              const report = Simulator.run({ scenario, policy, seed, duration: "1 second", client })
              const what = `${scenario.name} ${policy.name} ${JSON.stringify(client)}`
              assert.isTrue(report.requests > 0, what)
              conserved(report, what)
              near(report.backends.reduce((s, b) => s + b.share, 0), 1, 1e-9, `${what} shares`)
            }
          }
        }
      }
    })

    it("runs with failures are deterministic, and give the same figures on Node, Bun and Deno", () => {
      const client = { retry: { maxAttempts: 3 }, timeout: "100 millis", hedge: "30 millis" } as const
      const options = { client, duration: "5 seconds" } as const
      for (const built of Object.values(Simulator.failureScenarios)) {
        const scenario: Simulator.Scenario = { ...built, warmup: "1 second" }
        const run = (seed: number) =>
          Simulator.run({
            client,
            duration: "2 seconds",
            scenario,
            policy: OutlierDetection.make(PeakEwma.make()),
            seed
          })
        const a = run(42)
        assert.deepStrictEqual(a, run(42), scenario.name)
        assert.notDeepEqual(a, run(43), scenario.name)
      }
      // Measured on Node 24; every runtime must give these figures. Between them they draw on every
      // new source of numbers: failure draws, the backoff jitter, the budget, timeouts, hedges and
      // outlier detection (which, over least pending, uses only exactly-rounded arithmetic).
      const figures = (report: Simulator.Report) => ({
        requests: report.requests,
        failed: report.failed,
        sent: report.sent,
        p50: report.latency.p50,
        p99: report.latency.p99,
        tries: report.tries,
        picks: report.backends.map((b) => b.picks)
      })
      const blackHole = Simulator.run({
        ...options,
        scenario: Simulator.oneBlackHole,
        policy: OutlierDetection.make(LeastPending.make()),
        seed: 7
      })
      assert.deepStrictEqual(figures(blackHole), {
        requests: 18880,
        failed: 0,
        sent: 56535,
        p50: 10.385287261939084,
        p99: 45.37076125659405,
        tries: {
          sent: 20244,
          retries: 0,
          hedges: 1364,
          amplification: 1.0722457627118644,
          timeouts: 0,
          budgetExhausted: 0,
          deadlines: 0,
          unanswered: 0
        },
        picks: [6422, 6525, 6456, 6447, 6470, 6488, 6478, 6521, 6469, 2353]
      })
      // without hedging, so that failures are retried (a backup would go at once instead)
      const flaky = Simulator.run({
        scenario: Simulator.oneFlaky,
        policy: LeastPending.make(),
        client: { retry: { maxAttempts: 3 }, timeout: "100 millis" },
        duration: "5 seconds",
        seed: 7
      })
      assert.deepStrictEqual(figures(flaky), {
        requests: 18183,
        failed: 0,
        sent: 54402,
        p50: 10.490899462705784,
        p99: 83.82737116330645,
        tries: {
          sent: 19121,
          retries: 938,
          hedges: 0,
          amplification: 1.0515866468679536,
          timeouts: 0,
          budgetExhausted: 0,
          deadlines: 0,
          unanswered: 0
        },
        picks: [5728, 5732, 5733, 5722, 5724, 5730, 5725, 5776, 5689, 5644]
      })
    })

    describe("acceptance: the failure targets (bench/sim.ts, same seed and sizes)", () => {
      const retry = { maxAttempts: 3 } as const

      it("one backend failing every request: with outlier detection and retries, ≥ 99.9% succeed at ≤ 1.2 tries each", {
        timeout: slow
      }, () => {
        for (const policy of [LeastPending.make(), PeakEwma.make()]) {
          const report = Simulator.run({
            scenario: Simulator.oneFailing,
            policy: OutlierDetection.make(policy),
            seed,
            client: { retry }
          })
          assert.isAtLeast(report.successRate, 0.999, policy.name)
          assert.isAtMost(report.tries.amplification, 1.2, policy.name)
        }
      })

      it("a black-holed backend: with a per-try timeout and hedging, p99 ≤ timeout + one hedge delay", {
        timeout: slow
      }, () => {
        for (const policy of [LeastPending.make(), PeakEwma.make()]) {
          const report = Simulator.run({
            scenario: Simulator.oneBlackHole,
            policy: OutlierDetection.make(policy),
            seed,
            client: { retry, timeout: "100 millis", hedge: "30 millis" }
          })
          assert.isAtMost(report.latency.p99, 130, policy.name)
          assert.strictEqual(report.tries.unanswered, 0, policy.name)
        }
      })
    })
  })
})
