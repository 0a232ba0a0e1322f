import { assert, describe, it } from "@effect/vitest"
import { Balancer, Change, Discovery, Endpoint, RoundRobin } from "@switchyard/core"
import { Arbitraries } from "@switchyard/core/testing"
import { Deferred, Duration, Effect, Fiber, Metric, Ref, References, Result, Schedule, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { params } from "./seed.ts"

const ep = Endpoint.makeUnsafe
const a = ep("10.0.0.1:80")
const b = ep("10.0.0.2:80")

const quiet = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.provideService(Metric.MetricRegistry, new Map()),
    Effect.provideService(References.MinimumLogLevel, "None")
  )

const rejectedCount = (key: string, reason: Discovery.Reason) =>
  Metric.value(Metric.withAttributes(Discovery.rejectedTotal, { key, reason })).pipe(Effect.map((s) => s.count))

const addresses = (balancer: Balancer.Balancer) =>
  Effect.map(balancer.endpoints, (xs) => xs.map((e) => e.address).sort())

/** A poll that answers the next of `answers` each time (the last one forever). */
const scripted = (answers: ReadonlyArray<Effect.Effect<unknown, unknown>>) => {
  let n = 0
  return Effect.suspend(() => answers[Math.min(n++, answers.length - 1)]!)
}

describe("a discovery watch never stops", () => {
  it.effect("a poll that dies (throws inside the effect) is a typed Fetch rejection, and polling goes on", () =>
    quiet(Effect.gen(function*() {
      const poll = scripted([
        Effect.succeed([a.address]),
        Effect.suspend(() => {
          throw new Error("registry client bug")
        }),
        Effect.succeed([a.address, b.address])
      ])
      const discovery = Discovery.polling(poll, Schedule.spaced("1 second"))
      const balancer = yield* Balancer.make({ discovery, target: "api", policy: RoundRobin.make() })
      yield* balancer.ready
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(yield* addresses(balancer), [a.address, b.address])
      assert.strictEqual(yield* rejectedCount("api", "Fetch"), 1)
    })))

  it.effect("a failure with no string form is a readable typed rejection, not a defect", () =>
    quiet(Effect.gen(function*() {
      const { proxy, revoke } = Proxy.revocable({}, {})
      revoke()
      const poll = scripted([
        Effect.succeed([a.address]),
        Effect.fail(Object.create(null)),
        Effect.fail({ toString: "" }),
        Effect.die(proxy),
        Effect.fail(new TypeError("")),
        Effect.succeed([b.address])
      ])
      const updates = yield* Discovery.polling(poll, Schedule.spaced("1 second"), {
        backoff: { initial: "1 second", max: "1 second" }
      }).updates("api").pipe(Stream.take(6), Stream.runCollect, Effect.forkChild)
      yield* TestClock.adjust("10 seconds")
      const collected = yield* Fiber.join(updates)
      const details = collected.filter(Discovery.isRejected).map((u) => u.error.detail)
      assert.deepStrictEqual(details, [
        "{}",
        `{ toString: "" }`,
        "defect: (a value that cannot be printed)",
        "TypeError (no message)"
      ])
      assert.deepStrictEqual(collected.filter(Discovery.isChanged).map((u) => u.change.all.map((e) => e.address)), [
        [a.address],
        [b.address]
      ])
    })))

  it.effect("a rejection says what was wrong: the parser's error for an HTML page, fields of a failure object, an empty message", () =>
    quiet(Effect.gen(function*() {
      const html = Effect.tryPromise(() => Promise.resolve("<!DOCTYPE html><h1>502</h1>").then((t) => JSON.parse(t)))
      const polls: ReadonlyArray<Effect.Effect<unknown, unknown>> = [
        html,
        Effect.fail({ code: 503, retry: false }),
        Effect.fail(new TypeError(""))
      ]
      const details = yield* Effect.forEach(
        polls,
        (poll) =>
          Effect.map(Effect.flip(Discovery.polling(poll, Schedule.spaced("1 second")).discover("api")), (e) => e.detail)
      )
      assert.match(details[0]!, /^SyntaxError: .*(DOCTYPE|JSON)/)
      assert.notInclude(details[0]!, "An error occurred in Effect.tryPromise")
      assert.strictEqual(details[1], "{ code: 503, retry: false }")
      assert.strictEqual(details[2], "TypeError (no message)")
    })))

  it.effect("a poll that hangs times out (typed) instead of stopping the watch", () =>
    quiet(Effect.gen(function*() {
      const poll = scripted([Effect.succeed([a.address]), Effect.never, Effect.succeed([b.address])])
      const discovery = Discovery.polling(poll, Schedule.spaced("1 second"), { timeout: "2 seconds" })
      const balancer = yield* Balancer.make({ discovery, target: "api", policy: RoundRobin.make() })
      yield* balancer.ready
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(yield* addresses(balancer), [b.address])
      assert.strictEqual(yield* rejectedCount("api", "Fetch"), 1)
    })))

  it.effect("repeated failed polls back off: after the n-th failure in a row (n ≥ 2) each wait is max(schedule, 1 s × 1.6^(n−2) ± 20%), capped", () =>
    quiet(Effect.gen(function*() {
      const times: Array<number> = []
      const poll = Effect.flatMap(
        Effect.clockWith((clock) => Effect.sync(() => times.push(clock.currentTimeMillisUnsafe()))),
        () => Effect.fail("refused")
      )
      const fiber = yield* Discovery.polling(poll, Schedule.spaced("500 millis"), {
        backoff: { initial: "1 second", max: "5 seconds" }
      }).updates("api").pipe(Stream.runDrain, Effect.forkChild)
      yield* TestClock.adjust("60 seconds")
      yield* Fiber.interrupt(fiber)
      const waits = times.slice(1).map((t, i) => t - times[i]!)
      assert.isAbove(waits.length, 8)
      assert.strictEqual(waits[0], 500, "one failure keeps the schedule")
      waits.slice(1).forEach((wait, i) => {
        const base = Math.min(5000, 1000 * 1.6 ** i)
        assert.isAtLeast(wait, Math.max(500, Math.min(5000, base * 0.8)) - 1e-6, `wait ${i}`)
        assert.isAtMost(wait, Math.min(5000, base * 1.2) + 1e-6, `wait ${i}`)
      })
    })))

  it.effect("a source stream that fails or ends is re-subscribed with backoff; survivors keep their state", () =>
    quiet(Effect.gen(function*() {
      const subscriptions: Array<number> = []
      const discovery = Discovery.make({
        fetch: () => Effect.succeed([a.address, b.address]),
        payloads: () =>
          Stream.unwrap(Effect.clockWith((clock) =>
            Effect.sync(() => {
              subscriptions.push(clock.currentTimeMillisUnsafe())
              const round = subscriptions.length
              // the first stream fails with a defect, the second ends, the third stays open
              const set = Stream.make(Result.succeed(round === 3 ? [a.address] : [a.address, b.address]))
              return round === 1
                ? Stream.concat(set, Stream.die(new Error("connection reset")))
                : round === 2
                ? set
                : Stream.concat(set, Stream.never)
            })
          ))
      })
      const balancer = yield* Balancer.make({ discovery, target: "api", policy: RoundRobin.make() })
      yield* balancer.ready
      // load on `a` survives the re-subscriptions: its slot is never removed
      const inFlight = yield* Effect.forkChild(balancer.useEndpoint(a, () => Effect.never))
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(subscriptions.length, 3)
      // each stop came after a good update, so each wait is the first backoff step, 1 s ± 20%
      assert.isAtLeast(subscriptions[1]! - subscriptions[0]!, 800)
      assert.isAtMost(subscriptions[1]! - subscriptions[0]!, 1200)
      assert.deepStrictEqual(yield* addresses(balancer), [a.address])
      assert.strictEqual(yield* balancer.load(a.address), 1)
      assert.strictEqual(yield* rejectedCount("api", "Source"), 1)
      assert.strictEqual(yield* rejectedCount("api", "Ended"), 1)
      yield* Fiber.interrupt(inFlight)
    })))

  it.effect("follow re-diffs a fresh subscription against the last good set: no change when nothing changed", () =>
    quiet(Effect.gen(function*() {
      let round = 0
      const discovery = Discovery.make({
        fetch: () => Effect.succeed([a.address]),
        payloads: () =>
          Stream.suspend(() => ++round <= 3 ? Stream.make(Result.succeed([a.address, b.address])) : Stream.never)
      })
      const fiber = yield* Discovery.follow(discovery, "api").pipe(Stream.take(4), Stream.runCollect, Effect.forkChild)
      yield* TestClock.adjust("30 seconds")
      const updates = yield* Fiber.join(fiber)
      assert.deepStrictEqual(updates.map((u) => u._tag === "Changed" ? "Changed" : u.error.reason), [
        "Changed",
        "Ended",
        "Ended",
        "Ended"
      ])
    })))

  it.effect("a finite source ends the watch for good; a static list is watched once", () =>
    quiet(Effect.gen(function*() {
      const updates = yield* Stream.runCollect(Discovery.follow(Discovery.static([a]), "api"))
      assert.deepStrictEqual(updates.map((u) => u._tag), ["Changed"])
    })))

  it("property: through random good updates, typed failures, defects, unprintable values, hangs, empty answers, stream ends and stream failures, the watch never stops, serves the last good set, and counts every failure", async () => {
    type Item =
      | { readonly kind: "set"; readonly set: ReadonlyArray<Endpoint.Endpoint> }
      | { readonly kind: "typed" | "defect" | "unprintable" | "hang" | "end" | "break" }
    const item: fc.Arbitrary<Item> = fc.oneof(
      {
        weight: 4,
        arbitrary: Arbitraries.endpointSet({ minLength: 0, maxLength: 6 }).map((set) => ({ kind: "set", set } as const))
      },
      fc.constantFrom<Item>(
        { kind: "typed" },
        { kind: "defect" },
        { kind: "unprintable" },
        { kind: "hang" },
        { kind: "end" },
        { kind: "break" }
      )
    )
    await fc.assert(
      fc.asyncProperty(
        Arbitraries.endpointSet({ minLength: 1, maxLength: 6 }),
        fc.array(item, { maxLength: 12 }),
        Arbitraries.endpointSet({ minLength: 1, maxLength: 6 }),
        async (first, script, fresh) => {
          await Effect.runPromise(
            quiet(Effect.scoped(Effect.gen(function*() {
              const items: ReadonlyArray<Item> = [{ kind: "set", set: first }, ...script]
              let cursor = 0
              let lastGood = Endpoint.dedupe(first)
              const progress = { done: false }
              let freshOn = false
              let stop: Deferred.Deferred<void, string> | undefined
              const poll = Effect.suspend((): Effect.Effect<unknown, unknown> => {
                const next = items[cursor]
                if (next === undefined) {
                  progress.done = true
                  return Effect.succeed((freshOn ? fresh : lastGood).map(Endpoint.encode))
                }
                cursor++
                switch (next.kind) {
                  case "set":
                    if (next.set.length > 0) lastGood = Endpoint.dedupe(next.set)
                    return Effect.succeed(next.set.map(Endpoint.encode))
                  case "typed":
                    return Effect.fail(new Error("registry unavailable"))
                  case "defect":
                    return Effect.suspend(() => {
                      throw new RangeError("bug in the client")
                    })
                  case "unprintable":
                    return Effect.fail(Object.create(null))
                  case "hang":
                    return Effect.never
                  case "end":
                    return Effect.andThen(Deferred.succeed(stop!, undefined), Effect.never)
                  case "break":
                    return Effect.andThen(Deferred.fail(stop!, "stream broke"), Effect.never)
                }
              })
              const polled = Discovery.polling(poll, Schedule.spaced("1 second"), {
                timeout: "2 seconds",
                backoff: { initial: "1 second", max: "1 second" }
              })
              const discovery: Discovery.Discovery = {
                ...polled,
                updates: (target) =>
                  Stream.unwrap(Effect.map(Deferred.make<void, string>(), (d) => {
                    stop = d
                    return polled.updates(target).pipe(Stream.interruptWhen(Deferred.await(d)))
                  })) as Stream.Stream<Discovery.Update, Discovery.DiscoveryError>
              }
              const balancer = yield* Balancer.make({
                discovery,
                target: "api",
                policy: RoundRobin.make(),
                backoff: { initial: "1 second", max: "1 second" }
              })
              for (let i = 0; i < items.length * 4 + 4 && !progress.done; i++) yield* TestClock.adjust("1 second")
              assert.isTrue(progress.done, "every item of the script was polled")
              assert.isTrue(Change.sameSet(yield* balancer.endpoints, lastGood), "the last good set is served")
              const count = (kind: Item["kind"]) => items.filter((x) => x.kind === kind).length
              assert.strictEqual(
                yield* rejectedCount("api", "Fetch"),
                count("typed") + count("defect") + count("unprintable") + count("hang")
              )
              assert.strictEqual(
                yield* rejectedCount("api", "Empty"),
                items.filter((x) => x.kind === "set" && x.set.length === 0).length
              )
              assert.strictEqual(yield* rejectedCount("api", "Ended"), count("end"))
              assert.strictEqual(yield* rejectedCount("api", "Source"), count("break"))
              // and it is still watching: a fresh set is applied
              freshOn = true
              yield* TestClock.adjust("3 seconds")
              assert.isTrue(
                Change.sameSet(yield* balancer.endpoints, Endpoint.dedupe(fresh)),
                "a later update is applied"
              )
            }))).pipe(Effect.provide(TestClock.layer()))
          )
        }
      ),
      params(1000)
    )
  })
})

describe("ready", () => {
  it.effect("when the source fails before any good update, ready fails with NotReady carrying the source's error after readyTimeout", () =>
    quiet(Effect.gen(function*() {
      const discovery = Discovery.polling(Effect.fail(new Error("connection refused")), Schedule.spaced("1 second"))
      const balancer = yield* Balancer.make({ discovery, target: "api", policy: RoundRobin.make() })
      const waiting = yield* Effect.forkChild(Effect.flip(balancer.ready))
      yield* TestClock.adjust("29 seconds")
      assert.isUndefined(waiting.pollUnsafe())
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(waiting)
      assert.strictEqual(error._tag, "NotReady")
      assert.strictEqual(error.waitedMillis, 30_000)
      assert.strictEqual(error.last?.reason, "Fetch")
      assert.include(error.message, "connection refused")
      // an hour later, still not ready, and ready still ends
      yield* TestClock.adjust("1 hour")
      const again = yield* Effect.forkChild(Effect.flip(balancer.ready))
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual((yield* Fiber.join(again))._tag, "NotReady")
    })))

  it.effect("readyTimeout bounds ready; it succeeds as soon as a good update arrives within it", () =>
    quiet(Effect.gen(function*() {
      const poll = scripted([Effect.fail("down"), Effect.fail("down"), Effect.succeed([a.address])])
      const discovery = Discovery.polling(poll, Schedule.spaced("1 second"), {
        backoff: { initial: "1 second", max: "1 second" }
      })
      const balancer = yield* Balancer.make({
        discovery,
        target: "api",
        policy: RoundRobin.make(),
        readyTimeout: "5 seconds"
      })
      const waiting = yield* Effect.forkChild(balancer.ready)
      yield* TestClock.adjust("3 seconds")
      yield* Fiber.join(waiting)
      assert.deepStrictEqual(yield* addresses(balancer), [a.address])
    })))

  it.effect("a finite source that ends without a good update fails ready at once", () =>
    quiet(Effect.gen(function*() {
      const balancer = yield* Balancer.make({
        discovery: Discovery.static([]),
        target: "api",
        policy: RoundRobin.make()
      })
      const error = yield* Effect.flip(balancer.ready)
      assert.strictEqual(error._tag, "NotReady")
      assert.strictEqual(error.last?.reason, "Empty")
    })))

  it.effect("readyTimeout: Duration.infinity waits for as long as it takes", () =>
    quiet(Effect.gen(function*() {
      const ref = yield* Ref.make(0)
      const poll = Effect.flatMap(Ref.getAndUpdate(ref, (n) => n + 1), (n) =>
        n < 100 ? Effect.fail("down") : Effect.succeed([a.address]))
      const discovery = Discovery.polling(poll, Schedule.spaced("1 minute"), {
        backoff: { initial: "1 second", max: "1 second" }
      })
      const balancer = yield* Balancer.make({
        discovery,
        target: "api",
        policy: RoundRobin.make(),
        readyTimeout: Duration.infinity
      })
      const waiting = yield* Effect.forkChild(balancer.ready)
      yield* TestClock.adjust("101 minutes")
      yield* Fiber.join(waiting)
    })))
})

describe("an empty endpoint list", () => {
  it.effect("is rejected by default (reason Empty): the last good set is kept", () =>
    quiet(Effect.gen(function*() {
      const poll = scripted([Effect.succeed([a.address, b.address]), Effect.succeed([])])
      const updates = yield* Discovery.polling(poll, Schedule.spaced("1 second")).updates("api").pipe(
        Stream.take(2),
        Stream.runCollect,
        Effect.forkChild
      )
      yield* TestClock.adjust("1 second")
      const [first, second] = yield* Fiber.join(updates)
      assert.strictEqual(first?._tag, "Changed")
      assert(second?._tag === "Rejected")
      assert.strictEqual(second.error.reason, "Empty")
      assert.strictEqual(second.kept.length, 2)
      assert.include(second.error.message, `empty: "accept"`)
      assert.strictEqual((yield* Effect.flip(Discovery.static([]).discover("api"))).reason, "Empty")
    })))

  it.effect("with empty: \"accept\" it is a real state: the set empties", () =>
    quiet(Effect.gen(function*() {
      const poll = scripted([Effect.succeed([a.address, b.address]), Effect.succeed([])])
      const discovery = Discovery.polling(poll, Schedule.spaced("1 second"), { empty: "accept" })
      const balancer = yield* Balancer.make({ discovery, target: "api", policy: RoundRobin.make() })
      yield* balancer.ready
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* addresses(balancer), [])
      assert.deepStrictEqual(yield* Discovery.static([], { empty: "accept" }).discover("api"), [])
    })))
})
