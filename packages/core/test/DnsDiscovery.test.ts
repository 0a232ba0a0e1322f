import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Metric, Random, Ref, References, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import type * as Discovery from "../src/Discovery.ts"
import * as DnsDiscovery from "../src/DnsDiscovery.ts"
import * as Resolver from "../src/Resolver.ts"
import { params } from "./seed.ts"

const name = "_http._tcp.api.test"

const srv = (target: string, port: number, weight: number, ttl: number, priority = 0): Resolver.SrvRecord => ({
  target,
  port,
  priority,
  weight,
  ttl
})

/** Runs an effect with a fresh TestClock, a seeded Random, a scope and a private metric registry. */
const runTest = <A, E>(effect: Effect.Effect<A, E, any>, seed: number | string = 1): Promise<A> =>
  Effect.runPromise(
    effect.pipe(
      Random.withSeed(seed),
      Effect.provide(TestClock.layer()),
      Effect.scoped,
      Effect.provideService(Metric.MetricRegistry, new Map()),
      Effect.provideService(References.MinimumLogLevel, "None")
    ) as Effect.Effect<A, E>
  )

/** An in-memory resolver that also records the (test clock) time of every query, in ms. */
const recording = Effect.gen(function*() {
  const memory = yield* Resolver.makeMemory()
  const times = yield* Ref.make<ReadonlyArray<number>>([])
  const stamp = Effect.flatMap(Clock.currentTimeMillis, (t) => Ref.update(times, (xs) => [...xs, t]))
  const resolver = Resolver.Resolver.of({
    srv: (n) => Effect.andThen(stamp, memory.resolver.srv(n)),
    addresses: (n, f) => Effect.andThen(stamp, memory.resolver.addresses(n, f))
  })
  return { memory, times: Ref.get(times), resolver }
})

/** Watches `name` in the background, collecting every update. */
const watching = (discovery: Discovery.Discovery<string>, target = name) =>
  Effect.gen(function*() {
    const updates = yield* Ref.make<ReadonlyArray<Discovery.Update>>([])
    yield* discovery.updates(target).pipe(
      Stream.runForEach((u) => Ref.update(updates, (xs) => [...xs, u])),
      Effect.forkScoped
    )
    yield* Effect.yieldNow
    return Ref.get(updates)
  })

const summary = (u: Discovery.Update): string =>
  u._tag === "Changed"
    ? `changed +${u.change.added.length} ~${u.change.updated.length} -${u.change.removed.length} =${u.change.all.length}`
    : `rejected ${u.error.reason} kept=${u.kept.length}`

describe("DnsDiscovery", () => {
  it("srv: each record is an endpoint target:port with the SRV weight and priority; weight 0 is 1; \".\" is no endpoint", () =>
    runTest(Effect.gen(function*() {
      const { memory, resolver } = yield* recording
      yield* memory.setSrv(name, [
        srv("A.api.test.", 8080, 10, 30, 1),
        srv("b.api.test", 8081, 0, 30, 0),
        srv("a.api.test", 8080, 3, 30, 5), // same target:port, worse priority: dropped
        srv(".", 0, 0, 30)
      ])
      const discovery = yield* DnsDiscovery.srv().pipe(Effect.provideService(Resolver.Resolver, resolver))
      const endpoints = yield* discovery.discover(name)
      assert.deepStrictEqual(
        endpoints.map((e) => [String(e.address), e.weight, e.priority]),
        [["a.api.test:8080", 10, 1], ["b.api.test:8081", 1, 0]]
      )
    })))

  it("addresses: every A/AAAA address is an endpoint on the fixed port; \"both\" joins the families", () =>
    runTest(Effect.gen(function*() {
      const { memory, resolver } = yield* recording
      yield* memory.setAddresses("api.test", 4, [{ address: "10.0.0.1", ttl: 5 }, { address: "10.0.0.2", ttl: 5 }])
      yield* memory.setAddresses("api.test", 6, [{ address: "2001:db8::1", ttl: 5 }])
      const v4 = yield* DnsDiscovery.addresses({ port: 8080 }).pipe(Effect.provideService(Resolver.Resolver, resolver))
      const both = yield* DnsDiscovery.addresses({ port: 9000, family: "both" }).pipe(
        Effect.provideService(Resolver.Resolver, resolver)
      )
      assert.deepStrictEqual((yield* v4.discover("api.test")).map((e) => e.address), ["10.0.0.1:8080", "10.0.0.2:8080"])
      assert.deepStrictEqual((yield* both.discover("api.test")).map((e) => e.address), [
        "10.0.0.1:9000",
        "10.0.0.2:9000",
        "[2001:db8::1]:9000"
      ])
    })))

  it("the refresh waits for the least TTL of the answer, clamped to [minTtl, maxTtl]", () =>
    runTest(Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<number>, number]> = [
        [[3, 7], 3_000], // least TTL
        [[0], 2_000], // TTL 0: minTtl
        [[1], 2_000], // below minTtl
        [[3600], 10_000] // above maxTtl
      ]
      for (const [ttls, expected] of cases) {
        const { memory, resolver, times } = yield* recording
        yield* memory.setSrv(name, ttls.map((ttl, i) => srv(`h${i}.test`, 80, 1, ttl)))
        const discovery = yield* DnsDiscovery.srv({ minTtl: "2 seconds", maxTtl: "10 seconds", jitter: 0 }).pipe(
          Effect.provideService(Resolver.Resolver, resolver)
        )
        const start = yield* Clock.currentTimeMillis
        const fiber = yield* discovery.updates(name).pipe(Stream.runDrain, Effect.forkChild)
        yield* Effect.yieldNow
        yield* TestClock.adjust(expected * 3)
        yield* Fiber.interrupt(fiber)
        const gaps = (yield* times).map((t) => t - start)
        assert.deepStrictEqual(gaps, [0, expected, 2 * expected, 3 * expected], `TTLs ${ttls.join(",")}`)
      }
    })))

  it("property: a jittered refresh comes within [(1 - jitter) * ttl, ttl] of the previous one", () =>
    fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 120 }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.integer(),
        async (ttl, jitter, seed) => {
          const gaps = await runTest(
            Effect.gen(function*() {
              const { memory, resolver, times } = yield* recording
              yield* memory.setSrv(name, [srv("a.test", 80, 1, ttl)])
              const discovery = yield* DnsDiscovery.srv({ minTtl: "1 second", maxTtl: "1 hour", jitter }).pipe(
                Effect.provideService(Resolver.Resolver, resolver)
              )
              const fiber = yield* discovery.updates(name).pipe(Stream.runDrain, Effect.forkChild)
              yield* Effect.yieldNow
              yield* TestClock.adjust(ttl * 1000 * 5)
              yield* Fiber.interrupt(fiber)
              const ts = yield* times
              return ts.slice(1).map((t, i) => t - ts[i]!)
            }),
            seed
          )
          assert.isAtLeast(gaps.length, 5)
          for (const gap of gaps) {
            assert.isAtMost(gap, ttl * 1000)
            assert.isAtLeast(gap, Math.floor((1 - jitter) * ttl * 1000) - 1)
          }
        }
      ),
      params(200)
    ))

  it("failed queries back off (1 s growing 1.6x, ±20%), and the first good answer returns to the TTL", () =>
    runTest(
      Effect.gen(function*() {
        const { memory, resolver, times } = yield* recording
        yield* memory.setSrv(name, "ServerFailure")
        const discovery = yield* DnsDiscovery.srv({ minTtl: "1 second", jitter: 0 }).pipe(
          Effect.provideService(Resolver.Resolver, resolver)
        )
        const fiber = yield* discovery.updates(name).pipe(Stream.runDrain, Effect.forkChild)
        yield* Effect.yieldNow
        // failures at 0, then waits of about 1, 1.6, 2.56, 4.1 s
        yield* TestClock.adjust("9500 millis")
        yield* memory.setSrv(name, [srv("a.test", 80, 1, 20)])
        yield* TestClock.adjust("60 seconds")
        yield* Fiber.interrupt(fiber)
        const ts = yield* times
        const gaps = ts.slice(1).map((t, i) => t - ts[i]!)
        const expected = [1000, 1600, 2560, 4096]
        expected.forEach((base, i) => {
          assert.isAtLeast(gaps[i]!, base * 0.8 - 1, `backoff ${i + 1}`)
          assert.isAtMost(gaps[i]!, base * 1.2 + 1, `backoff ${i + 1}`)
        })
        // the recovery query is the next backoff; after it, waits are the 20 s TTL
        const after = gaps.slice(5)
        assert.isAtLeast(after.length, 2)
        for (const gap of after) assert.closeTo(gap, 20_000, 1e-6)
      }),
      7
    ))

  for (const reason of Resolver.reasons) {
    it(`a ${reason} answer keeps the last good set, with a typed rejection naming the reason`, () =>
      runTest(Effect.gen(function*() {
        const { memory, resolver } = yield* recording
        yield* memory.setSrv(name, [srv("a.test", 80, 1, 5), srv("b.test", 80, 2, 5)])
        const discovery = yield* DnsDiscovery.srv({ minTtl: "1 second", jitter: 0 }).pipe(
          Effect.provideService(Resolver.Resolver, resolver)
        )
        const updates = yield* watching(discovery)
        yield* memory.setSrv(name, reason)
        yield* TestClock.adjust("5 seconds")
        yield* TestClock.adjust("20 seconds") // more failures: counted, reported once
        yield* memory.setSrv(name, [srv("a.test", 80, 7, 5)])
        yield* TestClock.adjust("60 seconds")
        const seen = yield* updates
        const decode = reason === "Malformed" || reason === "TooLarge"
        assert.deepStrictEqual(seen.map(summary), [
          "changed +2 ~0 -0 =2",
          `rejected ${decode ? "Decode" : "Fetch"} kept=2`,
          "changed +0 ~1 -1 =1"
        ])
        const rejected = seen[1]!
        assert.isTrue(rejected._tag === "Rejected" && rejected.error.message.includes(`(${reason})`))
      })))
  }

  it("NXDOMAIN before any good answer is a rejection with nothing kept; the first answer is then the full set", () =>
    runTest(Effect.gen(function*() {
      const { memory, resolver } = yield* recording
      const discovery = yield* DnsDiscovery.srv({ minTtl: "1 second", backoff: { initial: "1 second" } }).pipe(
        Effect.provideService(Resolver.Resolver, resolver)
      )
      const updates = yield* watching(discovery)
      yield* TestClock.adjust("500 millis")
      yield* memory.setSrv(name, [srv("a.test", 80, 1, 5)])
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual((yield* updates).map(summary), ["rejected Fetch kept=0", "changed +1 ~0 -0 =1"])
    })))

  it("records added, re-weighted and removed give the right Changes within the TTL", () =>
    runTest(Effect.gen(function*() {
      const { memory, resolver } = yield* recording
      yield* memory.setSrv(name, [srv("a.test", 80, 1, 2)])
      const discovery = yield* DnsDiscovery.srv({ minTtl: "1 second", jitter: 0.2 }).pipe(
        Effect.provideService(Resolver.Resolver, resolver)
      )
      const updates = yield* watching(discovery)
      yield* memory.setSrv(name, [srv("a.test", 80, 1, 2), srv("b.test", 80, 1, 2)])
      yield* TestClock.adjust("2 seconds")
      yield* memory.setSrv(name, [srv("a.test", 80, 1, 2), srv("b.test", 80, 9, 2)])
      yield* TestClock.adjust("2 seconds")
      yield* memory.setSrv(name, [srv("b.test", 80, 9, 2)])
      yield* TestClock.adjust("2 seconds")
      assert.deepStrictEqual((yield* updates).map(summary), [
        "changed +1 ~0 -0 =1",
        "changed +1 ~0 -0 =2",
        "changed +0 ~1 -0 =2",
        "changed +0 ~0 -1 =1"
      ])
    })))

  it("an answer with more endpoints than maxEndpoints is rejected (Decode) and the last good set kept", () =>
    runTest(Effect.gen(function*() {
      const { memory, resolver } = yield* recording
      yield* memory.setSrv(name, [srv("a.test", 80, 1, 5)])
      const discovery = yield* DnsDiscovery.srv({ minTtl: "1 second", maxEndpoints: 2 }).pipe(
        Effect.provideService(Resolver.Resolver, resolver)
      )
      const updates = yield* watching(discovery)
      yield* memory.setSrv(name, [srv("a.test", 80, 1, 5), srv("b.test", 80, 1, 5), srv("c.test", 80, 1, 5)])
      yield* TestClock.adjust("10 seconds")
      const seen = yield* updates
      assert.deepStrictEqual(seen.map(summary), ["changed +1 ~0 -0 =1", "rejected Decode kept=1"])
      assert.include((seen[1] as Discovery.Rejected).error.detail, "3 endpoints, more than maxEndpoints 2")
    })))

  it("a resolver that never answers is a Timeout after `timeout`, and the last good set is kept", () =>
    runTest(Effect.gen(function*() {
      const { memory, resolver } = yield* recording
      yield* memory.setSrv(name, [srv("a.test", 80, 1, 5)])
      const hanging = yield* Ref.make(false)
      const slow = Resolver.Resolver.of({
        srv: (n) => Effect.flatMap(Ref.get(hanging), (h) => h ? Effect.never : resolver.srv(n)),
        addresses: resolver.addresses
      })
      const discovery = yield* DnsDiscovery.srv({ minTtl: "1 second", timeout: "3 seconds" }).pipe(
        Effect.provideService(Resolver.Resolver, slow)
      )
      const updates = yield* watching(discovery)
      yield* Ref.set(hanging, true)
      yield* TestClock.adjust("10 seconds")
      const seen = yield* updates
      assert.deepStrictEqual(seen.map(summary), ["changed +1 ~0 -0 =1", "rejected Fetch kept=1"])
      assert.include((seen[1] as Discovery.Rejected).error.detail, "did not answer within 3000 ms")
    })))

  it("an empty answer is rejected unless empty: \"accept\"", () =>
    runTest(Effect.gen(function*() {
      const { memory, resolver } = yield* recording
      yield* memory.setSrv(name, [srv("a.test", 80, 1, 5)])
      const strict = yield* DnsDiscovery.srv({ minTtl: "1 second" }).pipe(
        Effect.provideService(Resolver.Resolver, resolver)
      )
      const lenient = yield* DnsDiscovery.srv({ minTtl: "1 second", empty: "accept" }).pipe(
        Effect.provideService(Resolver.Resolver, resolver)
      )
      const a = yield* watching(strict)
      const b = yield* watching(lenient)
      yield* memory.setSrv(name, [])
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual((yield* a).map(summary), ["changed +1 ~0 -0 =1", "rejected Empty kept=1"])
      assert.deepStrictEqual((yield* b).map(summary), ["changed +1 ~0 -0 =1", "changed +0 ~0 -1 =0"])
    })))

  const refusedCases: ReadonlyArray<readonly [string, unknown, string, string, string]> = [
    ["srv", { minTtl: Number.NaN }, "minTtl", "NaN", "NotFinite"],
    ["srv", { minTtl: 0 }, "minTtl", "0", "OutOfRange"],
    ["srv", { minTtl: "10 seconds", maxTtl: "1 second" }, "maxTtl", "\"1 second\"", "OutOfRange"],
    ["srv", { jitter: 0.9 }, "jitter", "0.9", "OutOfRange"],
    ["srv", { maxEndpoints: 1.5 }, "maxEndpoints", "1.5", "NotInteger"],
    ["srv", { backoff: { initial: -1 } }, "backoff.initial", "-1", "OutOfRange"],
    ["srv", { empty: "maybe" }, "empty", "\"maybe\"", "UnknownChoice"],
    ["srv", { timeout: "soon" }, "timeout", "\"soon\"", "WrongType"],
    ["addresses", {}, "port", "undefined", "WrongType"],
    ["addresses", { port: 70000 }, "port", "70000", "OutOfRange"],
    ["addresses", { port: 80, family: 7 }, "family", "7", "UnknownChoice"]
  ]
  for (const [kind, options, option, value, reason] of refusedCases) {
    it(`${kind}: an invalid ${option} (${value}) fails with an OptionError naming it; nothing is asked`, () =>
      runTest(Effect.gen(function*() {
        const { resolver, times } = yield* recording
        const error = yield* Effect.flip(
          (kind === "srv"
            ? DnsDiscovery.srv(options as DnsDiscovery.Options)
            : DnsDiscovery.addresses(options as DnsDiscovery.Options & { port: number })).pipe(
              Effect.provideService(Resolver.Resolver, resolver)
            )
        )
        assert.strictEqual(error._tag, "OptionError")
        assert.strictEqual(error.module, "dns-discovery")
        assert.strictEqual(error.option, option)
        assert.strictEqual(error.value, value)
        assert.strictEqual(error.reason, reason)
        assert.deepStrictEqual(yield* times, [])
      })))
  }
})
