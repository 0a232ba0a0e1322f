import { assert, describe, it } from "@effect/vitest"
import {
  Balancer,
  Change,
  Discovery,
  Endpoint,
  Health,
  LeastPending,
  Maglev,
  PeakEwma,
  Policy,
  RingHash,
  RoundRobin,
  WeightedRandom,
  WeightedRoundRobin
} from "@switchyard/core"
import { Arbitraries } from "@switchyard/core/testing"
import { Deferred, Effect, Exit, Fiber, Metric, Random, Ref, Result, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { params } from "./seed.ts"

const ep = Endpoint.makeUnsafe
const three = [ep("10.0.0.1:80"), ep("10.0.0.2:80"), ep("10.0.0.3:80")]

export const policies: ReadonlyArray<readonly [string, () => Policy.Policy]> = [
  ["round-robin", RoundRobin.make],
  ["least-pending", LeastPending.make],
  ["peak-ewma", () => PeakEwma.make()],
  ["weighted-round-robin", WeightedRoundRobin.make],
  ["weighted-random", WeightedRandom.make],
  ["uniform-random", WeightedRandom.uniform],
  // small rings and tables: these properties are about membership, not about hash spread
  ["ring-hash", () => RingHash.make({ vnodes: 64 })],
  ["maglev", () => Maglev.make({ tableSize: 1031 })]
]

const withBalancer = (policy: Policy.Policy, endpoints: ReadonlyArray<Endpoint.Endpoint>) =>
  Effect.gen(function*() {
    const balancer = yield* Balancer.makeWith({ key: "api", policy })
    yield* balancer.apply(Change.diff([], endpoints, { key: "api" }))
    return balancer
  })

const provideTest = <A, E>(effect: Effect.Effect<A, E, any>, seed: number) =>
  effect.pipe(
    Random.withSeed(seed),
    Effect.provide(TestClock.layer()),
    Effect.scoped,
    Effect.provideService(Metric.MetricRegistry, new Map())
  ) as Effect.Effect<A, E>

const runAsync = <A, E>(effect: Effect.Effect<A, E, any>, seed = 1): Promise<A> =>
  Effect.runPromise(provideTest(effect, seed))

/** Runs an effect with a seeded Random, a TestClock and a private metric registry. */
const run = <A, E>(effect: Effect.Effect<A, E, any>, seed = 1): A => Effect.runSync(provideTest(effect, seed))

describe("Balancer", () => {
  it.effect("made from a discovery: picks fail as not ready before the first change, then pick from the set", () =>
    Effect.gen(function*() {
      const discovery = Discovery.static(three)
      const balancer = yield* Balancer.make({ discovery, target: "api", policy: RoundRobin.make() })
      yield* balancer.ready
      const picked = yield* Effect.forEach(Array.from({ length: 6 }), () => balancer.pick)
      assert.deepStrictEqual(new Set(picked.map((e) => e.address)), new Set(three.map((e) => e.address)))
      const empty = yield* Balancer.makeWith({ key: "none", policy: RoundRobin.make() })
      const notReady = yield* Effect.flip(empty.pick)
      assert.isTrue(notReady._tag === "NoEndpointAvailable" && !notReady.ready)
      yield* empty.apply(Change.empty("none"))
      const isEmpty = yield* Effect.flip(empty.pick)
      assert.isTrue(isEmpty._tag === "NoEndpointAvailable" && isEmpty.ready)
      assert.include(isEmpty.message, "the endpoint set is empty")
    }))

  it.effect("pick picks anew each time it is yielded or run, and fails typed when empty", () =>
    Effect.gen(function*() {
      const balancer = yield* withBalancer(RoundRobin.make(), three)
      const a = yield* balancer.pick
      const b = yield* balancer.pick
      const c = yield* Effect.map(balancer.pick, (e) => e)
      assert.strictEqual(new Set([a.address, b.address, c.address]).size, 3)
      const viaRun = [Effect.runSync(balancer.pick), Effect.runSync(balancer.pick), Effect.runSync(balancer.pick)]
      assert.strictEqual(new Set(viaRun.map((e) => e.address)).size, 3)
      const all = yield* Effect.all([balancer.pick, balancer.pick, balancer.pick])
      assert.strictEqual(new Set(all.map((e) => e.address)).size, 3)
      const empty = yield* Balancer.makeWith({ key: "none", policy: RoundRobin.make() })
      const caught = yield* empty.pick.pipe(Effect.catchTag("NoEndpointAvailable", (e) => Effect.succeed(e.key)))
      assert.strictEqual(caught, "none")
      const inGen = yield* Effect.flip(Effect.gen(function*() {
        return yield* empty.pick
      }))
      assert.strictEqual(inGen._tag, "NoEndpointAvailable")
    }))

  it.effect("picks yields every endpoint once, the policy's choice first", () =>
    Effect.gen(function*() {
      for (const [, policy] of policies) {
        const balancer = yield* withBalancer(policy(), three)
        const all = [...(yield* balancer.picks())].map((e) => e.address)
        assert.strictEqual(all.length, 3)
        assert.strictEqual(new Set(all).size, 3)
      }
    }))

  it.effect("use tracks pending while running, records latency from the Clock, and counts failures", () =>
    Effect.gen(function*() {
      const balancer = yield* withBalancer(RoundRobin.make(), [ep("10.0.0.1:80")])
      const gate = yield* Deferred.make<void>()
      const fiber = yield* balancer.use(() => Effect.sleep("100 millis").pipe(Effect.andThen(Deferred.await(gate))))
        .pipe(Effect.forkChild)
      yield* Effect.yieldNow
      assert.strictEqual(yield* balancer.load("10.0.0.1:80"), 1)
      yield* TestClock.adjust("100 millis")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(fiber)
      assert.strictEqual(yield* balancer.load("10.0.0.1:80"), 0)
      const failed = yield* Effect.exit(balancer.use(() => Effect.fail("boom")))
      assert.isTrue(Exit.isFailure(failed))
      const [stats] = yield* balancer.snapshot
      assert.strictEqual(stats!.successes, 1)
      assert.strictEqual(stats!.failures, 1)
      assert.strictEqual(stats!.pending, 0)
      assert.isAbove(stats!.latency!, 99)
      const picks = yield* Metric.value(
        Metric.withAttributes(Balancer.picksTotal, { key: "api", endpoint: "10.0.0.1:80" })
      )
      assert.strictEqual(picks.count, 2)
      const failures = yield* Metric.value(
        Metric.withAttributes(Balancer.failuresTotal, { key: "api", endpoint: "10.0.0.1:80" })
      )
      assert.strictEqual(failures.count, 1)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("an interrupted or timed-out use releases its pending count and is not a failure", () =>
    Effect.gen(function*() {
      const balancer = yield* withBalancer(LeastPending.make(), [ep("10.0.0.1:80")])
      const fiber = yield* balancer.use(() => Effect.never).pipe(Effect.forkChild)
      yield* Effect.yieldNow
      assert.strictEqual(yield* balancer.load("10.0.0.1:80"), 1)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(yield* balancer.load("10.0.0.1:80"), 0)
      const timed = yield* balancer.use(() => Effect.never).pipe(Effect.timeout("1 second"), Effect.forkChild)
      yield* TestClock.adjust("1 second")
      assert.isTrue(Exit.isFailure(yield* Fiber.await(timed)))
      const [stats] = yield* balancer.snapshot
      assert.strictEqual(stats!.pending, 0)
      assert.strictEqual(stats!.failures, 0)
    }))

  it.effect("an endpoint removed with requests in flight keeps its count, and rejoins with it if it comes back", () =>
    Effect.gen(function*() {
      const a = ep("10.0.0.1:80")
      const balancer = yield* withBalancer(RoundRobin.make(), [a])
      const gate = yield* Deferred.make<void>()
      const fiber = yield* balancer.use(() => Deferred.await(gate)).pipe(Effect.forkChild)
      yield* Effect.yieldNow
      yield* balancer.apply(Change.diff([a], []))
      assert.isUndefined(yield* balancer.load(a.address))
      yield* balancer.apply(Change.diff([], [a]))
      assert.strictEqual(yield* balancer.load(a.address), 1)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(fiber)
      assert.strictEqual(yield* balancer.load(a.address), 0)
      const [stats] = yield* balancer.snapshot
      assert.strictEqual(stats!.successes, 1)
    }))

  it.effect("a policy with invalid options fails the balancer with an OptionError naming the option, value and reason", () =>
    Effect.gen(function*() {
      const cases = [
        [PeakEwma.make({ decay: "0 seconds" }), "decay", `"0 seconds"`, "OutOfRange"],
        [PeakEwma.make({ decay: "ten seconds" as never }), "decay", `"ten seconds"`, "WrongType"],
        [PeakEwma.make({ defaultLatency: -5 }), "defaultLatency", "-5", "OutOfRange"],
        [RingHash.make({ vnodes: 0 }), "vnodes", "0", "OutOfRange"],
        [RingHash.make({ maxRingSize: 2.5 }), "maxRingSize", "2.5", "NotInteger"],
        [Maglev.make({ tableSize: Number.NaN }), "tableSize", "NaN", "NotFinite"],
        [Maglev.make({ tableSize: 2 ** 30 }), "tableSize", String(2 ** 30), "OutOfRange"]
      ] as const
      for (const [policy, option, value, reason] of cases) {
        const error = yield* Effect.flip(Balancer.make({ discovery: Discovery.static(three), target: "api", policy }))
        assert(error._tag === "OptionError", error._tag)
        assert.strictEqual(error.option, option)
        assert.strictEqual(error.value, value)
        assert.strictEqual(error.reason, reason)
        assert.strictEqual(error.module, policy.name)
        assert.include(error.message, policy.name)
      }
    }))

  it.effect("pickUnsafe picks through a user's wrapper that copies a built-in picker and replaces its pick", () =>
    Effect.gen(function*() {
      for (const inner of [RoundRobin.make(), LeastPending.make(), PeakEwma.make(), Maglev.make(), RingHash.make()]) {
        // always the last endpoint: a wrapper written as `{ ...inner, pick }`
        const policy: Policy.Policy = {
          name: `last(${inner.name})`,
          make: (context) => ({ ...inner.make(context), pick: () => context.slots[context.slots.length - 1] })
        }
        const balancer = yield* Balancer.makeWith({ key: "api", policy })
        yield* balancer.apply(Change.diff([], three, { key: "api" }))
        for (let i = 0; i < 20; i++) assert.strictEqual(balancer.pickUnsafe()?.address, three[2]!.address, inner.name)
      }
    }).pipe(Effect.scoped))

  it.effect("pickUnsafe returns the endpoint as last updated (same address, new zone or tags), for every policy", () =>
    Effect.gen(function*() {
      const policies = [
        RoundRobin.make(),
        LeastPending.make(),
        PeakEwma.make(),
        WeightedRoundRobin.make(),
        WeightedRandom.make(),
        Maglev.make(),
        RingHash.make()
      ]
      const moved = three.map((e) => Endpoint.makeUnsafe({ address: e.address, zone: "eu-2b" }))
      for (const policy of policies) {
        const balancer = yield* Balancer.makeWith({ key: "api", policy })
        yield* balancer.apply(Change.diff([], three, { key: "api" }))
        balancer.pickUnsafe()
        yield* balancer.apply(Change.diff(three, moved, { key: "api" }))
        for (let i = 0; i < 10; i++) {
          assert.strictEqual(balancer.pickUnsafe(i * 7919)?.zone, "eu-2b", policy.name)
          assert.strictEqual(balancer.pickUnsafe()?.zone, "eu-2b", policy.name)
        }
      }
    }).pipe(Effect.scoped))

  it.effect("with trace, every pick reports its candidates and scores and picks what it reports", () =>
    Effect.gen(function*() {
      for (const [name, policy] of policies) {
        const traces: Array<Policy.Explanation> = []
        const balancer = yield* Balancer.makeWith({ key: "api", policy: policy(), trace: (e) => traces.push(e) })
        yield* balancer.apply(Change.diff([], three))
        const picked = yield* Effect.forEach(Array.from({ length: 12 }), () => balancer.pick)
        assert.strictEqual(traces.length, 12, name)
        picked.forEach((e, i) => {
          assert.strictEqual(traces[i]!.chosen, e.address, name)
          assert.isAbove(traces[i]!.candidates.length, 0, name)
        })
        const counts = new Map<string, number>()
        for (const e of picked) counts.set(e.address, (counts.get(e.address) ?? 0) + 1)
        if (name === "round-robin" || name === "weighted-round-robin") {
          assert.deepStrictEqual([...counts.values()], [4, 4, 4], `${name} must take turns while tracing`)
        }
      }
    }))

  it.effect("a resubscription re-opens the discovery watch and applies its full set as a diff: survivors keep state", () =>
    Effect.gen(function*() {
      const subscriptions = yield* Ref.make(0)
      const current = yield* Ref.make<ReadonlyArray<string>>(["10.0.0.1:80", "10.0.0.2:80"])
      const discovery = Discovery.make({
        fetch: () => Ref.get(current),
        payloads: () =>
          Stream.fromEffect(Ref.update(subscriptions, (n) => n + 1).pipe(Effect.andThen(Ref.get(current)))).pipe(
            Stream.map(Result.succeed),
            Stream.concat(Stream.never)
          )
      })
      let resubscribe: (() => void) | undefined
      const inner = RoundRobin.make()
      const policy: Policy.Policy = {
        name: "spy",
        make: (context) => {
          resubscribe = context.resubscribe
          return inner.make(context)
        }
      }
      const balancer = yield* Balancer.make({ discovery, target: "api", policy })
      yield* balancer.ready
      yield* balancer.use(() => Effect.void)
      yield* balancer.use(() => Effect.void)
      const before = (yield* balancer.snapshot).find((s) => s.endpoint.address === "10.0.0.1:80")!
      yield* Ref.set(current, ["10.0.0.1:80", "10.0.0.3:80"])
      resubscribe!()
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* Ref.get(subscriptions), 2)
      const after = yield* balancer.snapshot
      assert.deepStrictEqual(after.map((s) => s.endpoint.address).sort(), ["10.0.0.1:80", "10.0.0.3:80"])
      assert.deepStrictEqual(after.find((s) => s.endpoint.address === "10.0.0.1:80"), before)
    }))

  it.effect("picks() never offers an unhealthy endpoint", () =>
    Effect.gen(function*() {
      const policy = Health.make(RoundRobin.make(), { threshold: 1, probe: () => Effect.fail("still down") })
      const balancer = yield* withBalancer(policy, three)
      yield* Effect.exit(balancer.useEndpoint(three[0]!, () => Effect.fail("refused")))
      for (let i = 0; i < 20; i++) {
        const offered = [...(yield* balancer.picks())].map((e) => e.address)
        assert.deepStrictEqual(offered.sort(), ["10.0.0.2:80", "10.0.0.3:80"])
      }
    }))

  it.effect("explain names the candidates and their scores", () =>
    Effect.gen(function*() {
      const balancer = yield* withBalancer(LeastPending.make(), three)
      const explanation = yield* balancer.explain()
      assert.strictEqual(explanation.policy, "least-pending")
      assert.strictEqual(explanation.candidates.length, 2)
      assert.notStrictEqual(explanation.candidates[0]!.address, explanation.candidates[1]!.address)
      assert.include(explanation.candidates.map((c) => c.address), explanation.chosen)
    }))

  it("property: a removed or never-present endpoint is never picked, for every policy", () => {
    fc.assert(
      fc.property(Arbitraries.setSequence({ minLength: 2, maxLength: 6 }), fc.nat(), (sets, seed) => {
        for (const [name, policy] of policies) {
          run(
            Effect.gen(function*() {
              const balancer = yield* Balancer.makeWith({ key: "api", policy: policy() })
              let current: ReadonlyArray<Endpoint.Endpoint> = []
              for (const next of sets) {
                const change = Change.diff(current, next)
                yield* balancer.apply(change)
                current = change.all
                const allowed = new Set(current.map((e) => e.address))
                for (let i = 0; i < 20; i++) {
                  const picked = balancer.pickUnsafe()
                  if (current.length === 0) assert.isUndefined(picked, name)
                  else assert.isTrue(allowed.has(picked!.address), `${name} picked ${picked?.address}`)
                }
                const iterated = [...(yield* balancer.picks())].map((e) => e.address)
                assert.strictEqual(new Set(iterated).size, current.length, name)
                assert.isTrue(iterated.every((a) => allowed.has(a)), name)
              }
            }),
            seed
          )
        }
      }),
      params(1000)
    )
  }, 120_000)

  it("property: round robin over any k·n picks gives counts that differ by at most 1 (exactly k)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 20 }),
        fc.nat(),
        fc.nat({ max: 100 }),
        (n, k, seed, skip) => {
          run(
            Effect.gen(function*() {
              const endpoints = Array.from({ length: n }, (_, i) => ep(`10.1.${i >> 8}.${i & 255}:80`))
              const balancer = yield* withBalancer(RoundRobin.make(), endpoints)
              for (let i = 0; i < skip; i++) balancer.pickUnsafe()
              const counts = new Map<string, number>()
              for (let i = 0; i < k * n; i++) {
                const a = balancer.pickUnsafe()!.address
                counts.set(a, (counts.get(a) ?? 0) + 1)
              }
              const values = [...counts.values()]
              assert.strictEqual(counts.size, n)
              assert.isAtMost(Math.max(...values) - Math.min(...values), 1)
              assert.isTrue(values.every((v) => v === k))
            }),
            seed
          )
        }
      ),
      params(1000)
    )
  })

  it("property: power of two choices never picks the more loaded (or costlier) of its two samples", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            pending: fc.nat({ max: 20 }),
            latency: fc.oneof(fc.constant(-1), fc.double({ min: 0.1, max: 500, noNaN: true }))
          }),
          { minLength: 2, maxLength: 50 }
        ),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (loads, u) => {
          for (
            const [name, policy] of [["least-pending", LeastPending.make()], ["peak-ewma", PeakEwma.make()]] as const
          ) {
            const slots = loads.map((load, i) => {
              const slot = {
                ...Policy.makeSlot(ep(`10.2.0.${i + 1}:80`)),
                pending: load.pending,
                latency: load.latency,
                stamp: 0
              }
              slot.index = i
              // the host keeps `cost` (the policy's load metric) current, as the balancer does
              policy.load!.update(slot)
              return slot
            })
            const picker = policy.make({ slots, random: () => u, now: () => 1000 })
            const explanation = picker.explain(-1)
            const picked = picker.pick(-1)!
            const [a, b] = explanation.candidates
            assert.notStrictEqual(a!.address, b!.address, "the two samples must differ")
            assert.include([a!.address, b!.address], picked.endpoint.address, name)
            const score = picked.endpoint.address === a!.address ? a!.score : b!.score
            assert.isAtMost(score, Math.min(a!.score, b!.score), `${name} picked the worse sample`)
          }
        }
      ),
      params(1000)
    )
  })

  it("property: pending counts track in-flight requests and return to 0 after any interleaving of picks, completions, failures and interruptions", async () => {
    type Op = { readonly kind: "start" } | {
      readonly kind: "succeed" | "fail" | "interrupt" | "timeout"
      readonly which: number
    } | { readonly kind: "change"; readonly keep: number }
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 4, arbitrary: fc.constant<Op>({ kind: "start" }) },
      {
        weight: 6,
        arbitrary: fc.record({
          kind: fc.constantFrom("succeed", "fail", "interrupt", "timeout"),
          which: fc.nat()
        }) as fc.Arbitrary<Op>
      },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant("change"), keep: fc.integer({ min: 1, max: 4 }) }) as fc.Arbitrary<Op>
      }
    )
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...policies),
        fc.array(op, { maxLength: 40 }),
        fc.nat(),
        async ([, policy], ops, seed) => {
          await runAsync(
            Effect.gen(function*() {
              const all = [ep("10.3.0.1:80"), ep("10.3.0.2:80"), ep("10.3.0.3:80"), ep("10.3.0.4:80")]
              const balancer = yield* withBalancer(policy(), all)
              let current: ReadonlyArray<Endpoint.Endpoint> = all
              const live: Array<
                {
                  readonly address: string
                  readonly gate: Deferred.Deferred<void, string>
                  readonly fiber: Fiber.Fiber<unknown, unknown>
                }
              > = []
              const expected = new Map<string, number>()
              const check = Effect.gen(function*() {
                for (const e of all) {
                  const load = yield* balancer.load(e.address)
                  if (load !== undefined) assert.strictEqual(load, expected.get(e.address) ?? 0, e.address)
                }
              })
              for (const o of ops) {
                if (o.kind === "start") {
                  const gate = yield* Deferred.make<void, string>()
                  const picked = yield* Deferred.make<string>()
                  const fiber = yield* balancer.use((e) =>
                    Deferred.succeed(picked, e.address).pipe(Effect.andThen(Deferred.await(gate)))
                  ).pipe(Effect.forkChild)
                  const address = yield* Deferred.await(picked)
                  expected.set(address, (expected.get(address) ?? 0) + 1)
                  live.push({ address, gate, fiber })
                } else if (o.kind === "change") {
                  const next = all.slice(0, o.keep)
                  yield* balancer.apply(Change.diff(current, next))
                  current = next
                } else if (live.length > 0) {
                  const [req] = live.splice(o.which % live.length, 1)
                  if (o.kind === "succeed") yield* Deferred.succeed(req!.gate, undefined)
                  else if (o.kind === "fail") yield* Deferred.fail(req!.gate, "boom")
                  else if (o.kind === "interrupt") yield* Fiber.interrupt(req!.fiber)
                  else {
                    yield* TestClock.adjust("0 millis")
                    yield* Fiber.interrupt(req!.fiber)
                  }
                  yield* Fiber.await(req!.fiber)
                  expected.set(req!.address, expected.get(req!.address)! - 1)
                }
                yield* check
              }
              for (const req of live) yield* Fiber.interrupt(req.fiber)
              for (const e of current) assert.strictEqual(yield* balancer.load(e.address), 0)
              const stats = yield* balancer.snapshot
              assert.isTrue(stats.every((s) => s.pending === 0))
            }),
            seed
          )
        }
      ),
      params(1000)
    )
  })

  it("property: a rebalance leaves the state of endpoints it does not touch unchanged", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...policies),
        Arbitraries.setSequence({ minLength: 2, maxLength: 2 }),
        fc.nat(),
        async ([, policy], [first, second], seed) => {
          await runAsync(
            Effect.gen(function*() {
              const balancer = yield* Balancer.makeWith({ key: "api", policy: policy() })
              const a = Change.diff([], first!)
              yield* balancer.apply(a)
              for (let i = 0; i < 30; i++) {
                yield* Effect.exit(
                  balancer.use(() =>
                    Effect.sleep("5 millis").pipe(Effect.andThen(i % 3 === 0 ? Effect.fail("x") : Effect.void))
                  ).pipe(Effect.forkChild)
                )
              }
              yield* TestClock.adjust("5 millis")
              for (let i = 0; i < 10; i++) yield* balancer.use(() => Effect.never).pipe(Effect.forkChild)
              yield* Effect.yieldNow
              const before = new Map((yield* balancer.snapshot).map((s) => [s.endpoint.address, s]))
              const b = Change.diff(a.all, second!)
              yield* balancer.apply(b)
              const touched = new Set([...b.added, ...b.updated, ...b.removed].map((e) => e.address))
              for (const s of yield* balancer.snapshot) {
                if (touched.has(s.endpoint.address)) continue
                const old = before.get(s.endpoint.address)!
                assert.deepStrictEqual(s, old)
              }
              for (const e of b.updated) {
                const now = (yield* balancer.snapshot).find((s) => s.endpoint.address === e.address)!
                const old = before.get(e.address)!
                assert.deepStrictEqual({ ...now, endpoint: old.endpoint }, old, "an update keeps the learned state")
                assert.isTrue(Endpoint.equals(now.endpoint, e))
              }
            }),
            seed
          )
        }
      ),
      params(1000)
    )
  })
})
