import { assert, describe, it } from "@effect/vitest"
import {
  Endpoint,
  LeastPending,
  Maglev,
  PeakEwma,
  Policy,
  RingHash,
  RoundRobin,
  WeightedRandom,
  WeightedRoundRobin
} from "@switchyard/core"
import { Simulator } from "@switchyard/core/testing"

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
  inspect: (context: Policy.Context, hash: number) => void,
  options?: { readonly hashed?: boolean }
): Policy.Policy => ({
  name: "spy",
  decayMillis: 50,
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
})
