import { assert, describe, it } from "@effect/vitest"
import { Change, Discovery, Endpoint } from "@switchyard/core"
import { Arbitraries, Laws, TestDiscovery } from "@switchyard/core/testing"
import { Effect, Fiber, Metric, Ref, References, Result, Schedule, Stream, SubscriptionRef } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { params } from "./seed.ts"

const ep = Endpoint.makeUnsafe
const formatUpdate = (u: Discovery.Update) =>
  u._tag === "Changed" ? `changed ${Change.format(u.change)}` : `rejected ${u.error.reason} kept=${u.kept.length}`

/** Runs an effect with a fresh TestClock, a scope and a private metric registry. */
const runTest = <A, E>(effect: Effect.Effect<A, E, any>): Promise<A> =>
  Effect.runPromise(
    effect.pipe(
      Effect.provide(TestClock.layer()),
      Effect.scoped,
      Effect.provideService(Metric.MetricRegistry, new Map()),
      Effect.provideService(References.MinimumLogLevel, "None")
    ) as Effect.Effect<A, E>
  )

type Poll = { readonly kind: "set"; readonly set: ReadonlyArray<Endpoint.Endpoint> } | { readonly kind: "fail" } | {
  readonly kind: "malformed"
  readonly payload: unknown
}

const polls: fc.Arbitrary<ReadonlyArray<Poll>> = fc.tuple(
  Arbitraries.setSequence({ minLength: 1, maxLength: 10 }),
  fc.array(
    fc.tuple(
      fc.nat(),
      fc.oneof(
        fc.constant<Poll>({ kind: "fail" }),
        Arbitraries.malformedPayload.map((m): Poll => ({ kind: "malformed", payload: m.payload }))
      )
    ),
    { maxLength: 4 }
  )
).map(([sets, faults]) => {
  const out: Array<Poll> = sets.map((set) => ({ kind: "set", set }))
  for (const [i, fault] of faults) out.splice(i % (out.length + 1), 0, fault)
  return out
})

/** What a watcher must emit for a sequence of polls: the reference model (empty sets rejected). */
const model = (key: string, script: ReadonlyArray<Poll>): ReadonlyArray<string> => {
  let good: ReadonlyArray<Endpoint.Endpoint> = []
  let started = false
  let lastRejected: string | undefined
  const out: Array<string> = []
  for (const poll of script) {
    if (poll.kind === "set" && poll.set.length === 0) {
      if (lastRejected !== "empty") out.push(`rejected Empty kept=${good.length}`)
      lastRejected = "empty"
      continue
    }
    if (poll.kind !== "set") {
      const fingerprint = poll.kind === "fail" ? "fail" : `malformed ${JSON.stringify(poll.payload)}`
      if (fingerprint !== lastRejected) {
        out.push(`rejected ${poll.kind === "fail" ? "Fetch" : "Decode"} kept=${good.length}`)
      }
      lastRejected = fingerprint
      continue
    }
    lastRejected = undefined
    const change = Change.diff(good, poll.set, { key })
    if (!started || !Change.isEmpty(change)) out.push(`changed ${Change.format(change)}`)
    good = change.all
    started = true
  }
  return out
}

describe("Discovery", () => {
  it.effect("static: discover answers the list; watch emits it whole once, then ends", () =>
    Effect.gen(function*() {
      const endpoints = [ep("10.0.0.1:80"), ep("10.0.0.2:80")]
      const discovery = Discovery.static(endpoints)
      assert.strictEqual(discovery.key("api"), "api")
      assert.deepStrictEqual(yield* discovery.discover("api"), endpoints)
      const changes = yield* Stream.runCollect(discovery.watch("api"))
      assert.strictEqual(changes.length, 1)
      assert.deepStrictEqual(changes[0]!.added, endpoints)
      assert.strictEqual(changes[0]!.key, "api")
    }))

  it.effect("fromRef: each set of the ref is an update; a bad value is rejected and the set kept", () =>
    Effect.gen(function*() {
      const ref = yield* SubscriptionRef.make<unknown>(["10.0.0.1:80"])
      const discovery = Discovery.fromRef(ref, { key: (t: string) => `svc/${t}` })
      const fiber = yield* discovery.updates("api").pipe(Stream.take(3), Stream.runCollect, Effect.forkChild)
      yield* Effect.yieldNow
      yield* SubscriptionRef.set(ref, ["10.0.0.1:80", { address: "10.0.0.2:80", weight: -1 }])
      yield* Effect.yieldNow
      yield* SubscriptionRef.set(ref, ["10.0.0.1:80", "10.0.0.3:80"])
      const updates = yield* Fiber.join(fiber)
      assert.deepStrictEqual(updates.map(formatUpdate), [
        "changed svc/api: 1 endpoint (+1 ~0 -0)\n  + 10.0.0.1:80 w=1",
        "rejected Decode kept=1",
        "changed svc/api: 2 endpoints (+1 ~0 -0)\n  + 10.0.0.3:80 w=1"
      ])
      const rejected = updates[1] as Discovery.Rejected
      assert.strictEqual(rejected.error._tag, "DiscoveryError")
      assert.include(rejected.error.message, "[1].weight: -1")
      assert.include(rejected.error.message, "kept the last good set of 1 endpoint")
    }))

  it.effect("polling: the first poll runs at once, then on the schedule; unchanged polls emit nothing", () =>
    Effect.gen(function*() {
      const answers: Array<unknown> = [["a:1"], ["a:1"], ["a:1", "b:1"], ["b:1"]]
      const polled = yield* Ref.make(0)
      const fetch = Ref.getAndUpdate(polled, (n) => n + 1).pipe(
        Effect.map((n) => answers[Math.min(n, answers.length - 1)])
      )
      const discovery = Discovery.polling(fetch, Schedule.spaced("10 seconds"))
      const fiber = yield* discovery.watch("api").pipe(Stream.take(3), Stream.runCollect, Effect.forkChild)
      yield* Effect.yieldNow
      assert.strictEqual(yield* Ref.get(polled), 1)
      yield* TestClock.adjust("9 seconds")
      assert.strictEqual(yield* Ref.get(polled), 1)
      yield* TestClock.adjust("21 seconds")
      const changes = yield* Fiber.join(fiber)
      assert.deepStrictEqual(changes.map((c) => [c.added.length, c.updated.length, c.removed.length]), [[1, 0, 0], [
        1,
        0,
        0
      ], [0, 0, 1]])
      assert.strictEqual(yield* Ref.get(polled), 4)
    }))

  it("property: polling emits exactly the changes between consecutive good sets, and a typed rejection for each bad poll", async () => {
    await fc.assert(
      fc.asyncProperty(polls, async (script) => {
        const seen = await runTest(Effect.gen(function*() {
          const next = yield* Ref.make(0)
          const fetch = Ref.getAndUpdate(next, (n) => n + 1).pipe(Effect.flatMap((n) => {
            const poll = script[n]
            if (poll === undefined) return Effect.never
            if (poll.kind === "fail") return Effect.fail(new Error("registry unavailable"))
            return Effect.succeed(poll.kind === "set" ? poll.set.map(Endpoint.encode) : poll.payload)
          }))
          const log = yield* Ref.make<ReadonlyArray<string>>([])
          // a backoff no longer than the schedule keeps one poll a second, failed or not
          const backoff = { initial: "1 second", max: "1 second" } as const
          const fiber = yield* Discovery.polling(fetch, Schedule.spaced("1 second"), { backoff }).updates("svc").pipe(
            Stream.runForEach((u) => Ref.update(log, (xs) => [...xs, formatUpdate(u)])),
            Effect.forkChild
          )
          yield* TestClock.adjust(`${script.length} seconds`)
          yield* Fiber.interrupt(fiber)
          return yield* Ref.get(log)
        }))
        assert.deepStrictEqual(seen, model("svc", script))
      }),
      params(1000)
    )
  })

  it("property: 1000 malformed payloads through a discovery source each give a typed error, and the last good set stays", () => {
    fc.assert(
      fc.property(
        Arbitraries.endpointSet({ minLength: 1 }),
        Arbitraries.malformedPayload,
        Arbitraries.endpointSet(),
        (good, bad, after) => {
          const discovery = Discovery.make({
            fetch: () => Effect.succeed(bad.payload),
            payloads: () =>
              Stream.make(
                Result.succeed(good.map(Endpoint.encode)),
                Result.succeed(bad.payload),
                Result.succeed(after.map(Endpoint.encode))
              )
          })
          const registry = new Map()
          const updates = Effect.runSync(
            Stream.runCollect(discovery.updates("api")).pipe(
              Effect.provideService(Metric.MetricRegistry, registry),
              Effect.provideService(References.MinimumLogLevel, "None")
            )
          )
          const kept = Endpoint.dedupe(good)
          const rejected = updates.find(Discovery.isRejected)
          assert.isDefined(rejected)
          assert.strictEqual(rejected!.error._tag, "DiscoveryError")
          assert.strictEqual(rejected!.error.reason, "Decode")
          assert.include(rejected!.error.detail, bad.field)
          assert.strictEqual(rejected!.error.kept, kept.length)
          assert.isTrue(Change.sameSet(rejected!.kept, kept))
          assert.deepStrictEqual(Laws.checkUpdates("api", updates), [])
          const last = updates.findLast(Discovery.isChanged)!.change.all
          // an empty update is rejected (the default `empty: "reject"`): the good set stays
          assert.isTrue(Change.sameSet(last, after.length === 0 ? kept : after))
          const count = Effect.runSync(
            Metric.value(Metric.withAttributes(Discovery.rejectedTotal, { key: "api", reason: "Decode" })).pipe(
              Effect.provideService(Metric.MetricRegistry, registry)
            )
          )
          assert.strictEqual(count.count, 1)
          const discovered = Effect.runSync(Effect.flip(discovery.discover("api")))
          assert.strictEqual(discovered.reason, "Decode")
        }
      ),
      params(1000)
    )
  })

  it.effect("a failure repeated poll after poll is counted each time but reported once", () =>
    Effect.gen(function*() {
      const discovery = yield* TestDiscovery.make([
        { after: "0 millis", payload: ["a:1"] },
        { after: "1 second", fail: "timeout" },
        { after: "1 second", fail: "timeout" },
        { after: "1 second", fail: "refused" },
        { after: "1 second", payload: ["a:1"] },
        { after: "1 second", fail: "refused" }
      ])
      const fiber = yield* discovery.updates("api").pipe(Stream.runCollect, Effect.forkChild)
      yield* TestClock.adjust("5 seconds")
      const updates = yield* Fiber.join(fiber)
      assert.deepStrictEqual(updates.filter(Discovery.isRejected).map((u) => u.error.detail), [
        "timeout",
        "refused",
        "refused"
      ])
      const counted = yield* Metric.value(
        Metric.withAttributes(Discovery.rejectedTotal, { key: "api", reason: "Fetch" })
      )
      assert.strictEqual(counted.count, 4)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("a failed fetch is counted and logged, and the watcher recovers on the next good poll", () =>
    Effect.gen(function*() {
      const discovery = yield* TestDiscovery.make([
        { after: "0 millis", payload: ["a:1", "b:1"] },
        { after: "1 second", fail: "connection refused" },
        { after: "1 second", payload: ["a:1"] }
      ])
      const fiber = yield* discovery.updates("api").pipe(Stream.runCollect, Effect.forkChild)
      yield* TestClock.adjust("2 seconds")
      const updates = yield* Fiber.join(fiber)
      assert.deepStrictEqual(updates.map(formatUpdate), [
        "changed api: 2 endpoints (+2 ~0 -0)\n  + a:1 w=1\n  + b:1 w=1",
        "rejected Fetch kept=2",
        "changed api: 1 endpoint (+0 ~0 -1)\n  - b:1 w=1"
      ])
      assert.include((updates[1] as Discovery.Rejected).error.message, "connection refused")
      const fetchFailures = yield* Metric.value(
        Metric.withAttributes(Discovery.rejectedTotal, { key: "api", reason: "Fetch" })
      )
      assert.strictEqual(fetchFailures.count, 1)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("TestDiscovery.discover answers the step due now, on the TestClock", () =>
    Effect.gen(function*() {
      const discovery = yield* TestDiscovery.make([
        { after: "1 second", payload: ["a:1"] },
        { after: "1 second", payload: ["b:1"] }
      ])
      assert.strictEqual((yield* Effect.flip(discovery.discover("api"))).reason, "Fetch")
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual((yield* discovery.discover("api")).map((e) => e.address), ["a:1"])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual((yield* discovery.discover("api")).map((e) => e.address), ["b:1"])
    }))

  it.effect("every constructor obeys the discovery laws (Laws.checkDiscovery)", () =>
    Effect.gen(function*() {
      const sets: ReadonlyArray<unknown> = [
        ["a:1", "b:1"],
        ["a:1", { address: "b:1", weight: 3 }],
        "garbage",
        ["c:1"],
        ["c:1"],
        []
      ]
      yield* Laws.checkDiscovery(Discovery.static([ep("a:1")]), "api", { updates: 1 })

      const ref = yield* SubscriptionRef.make<unknown>(sets[0])
      yield* Laws.checkDiscovery(Discovery.fromRef(ref, { empty: "accept" }), "api", {
        updates: 5,
        drive: Effect.forEach(sets.slice(1), (s) => Effect.yieldNow.pipe(Effect.andThen(SubscriptionRef.set(ref, s))), {
          discard: true
        })
      })

      const counter = yield* Ref.make(0)
      const polled = Discovery.polling(
        Ref.getAndUpdate(counter, (n) => n + 1).pipe(Effect.map((n) => sets[Math.min(n, sets.length - 1)])),
        Schedule.spaced("1 second"),
        { empty: "accept" }
      )
      const updates = yield* Laws.checkDiscovery(polled, "api", { updates: 5, drive: TestClock.adjust("10 seconds") })
      assert.deepStrictEqual(updates.map((u) => u._tag), ["Changed", "Changed", "Rejected", "Changed", "Changed"])

      const scripted = yield* TestDiscovery.fromEvents([
        { delay: 0, event: { _tag: "Available", endpoint: ep("a:1") } },
        { delay: 100, event: { _tag: "Available", endpoint: ep("b:1") } },
        { delay: 100, event: { _tag: "Expired", address: ep("a:1").address } }
      ])
      yield* Laws.checkDiscovery(scripted, "api", { updates: 3, drive: TestClock.adjust("1 second") })
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("the laws catch a discovery that emits empty changes or drops the first full set", () =>
    Effect.gen(function*() {
      const a = ep("a:1")
      const broken: Discovery.Discovery = {
        key: (t) => t,
        discover: () => Effect.succeed([a]),
        updates: () =>
          Stream.make<Array<Discovery.Update>>(
            { _tag: "Changed", change: { key: "api", all: [a], added: [], updated: [], removed: [] } },
            { _tag: "Changed", change: { key: "api", all: [a], added: [], updated: [], removed: [] } }
          ),
        watch: () => Stream.empty
      }
      const error = yield* Effect.flip(Laws.checkDiscovery(broken, "api", { updates: 2 }))
      assert.strictEqual(error._tag, "LawViolation")
      if (error._tag === "LawViolation") {
        assert.isTrue(error.violations.some((v) => v.includes("first change does not carry the full set")))
        assert.isTrue(error.violations.some((v) => v.includes("empty change")))
      }
    }))
})
