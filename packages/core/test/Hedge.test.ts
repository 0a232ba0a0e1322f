import { assert, describe, it } from "@effect/vitest"
import { Balancer, Change, Endpoint, RoundRobin } from "@switchyard/core"
import * as Budget from "@switchyard/core/Budget"
import * as Hedge from "@switchyard/core/Hedge"
import { Cause, Clock, Duration, Effect, Exit, Fiber, Option, Random } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { params } from "./seed.ts"

const ep = Endpoint.makeUnsafe
const endpoints = (n: number) => Array.from({ length: n }, (_, i) => ep(`10.8.0.${i + 1}:80`))

const withBalancer = (set: ReadonlyArray<Endpoint.Endpoint>) =>
  Effect.gen(function*() {
    const balancer = yield* Balancer.makeWith({ key: "api", policy: RoundRobin.make() })
    yield* balancer.apply(Change.diff([], set, { key: "api" }))
    return balancer
  })

const loads = (balancer: Balancer.Balancer, set: ReadonlyArray<Endpoint.Endpoint>) =>
  Effect.forEach(set, (e) => balancer.load(e.address))

/** What happened to each attempt of one call. */
interface Log {
  readonly started: Array<{ readonly address: string; readonly at: number }>
  completed: number
  interrupted: number
}

/**
 * A fake call: on `address` it takes `latency(address)` ms, then succeeds with the address or
 * fails (when `fails(address)`), and it counts starts, completions and interruptions.
 */
const fake = (log: Log, latency: (address: string) => number, fails: (address: string) => boolean = () => false) =>
(
  endpoint: Endpoint.Endpoint
): Effect.Effect<string, string> =>
  Effect.gen(function*() {
    log.started.push({ address: endpoint.address, at: yield* Clock.currentTimeMillis })
    yield* Effect.sleep(Duration.millis(latency(endpoint.address)))
    log.completed++
    if (fails(endpoint.address)) return yield* Effect.fail(`failed on ${endpoint.address}`)
    return endpoint.address
  }).pipe(Effect.onInterrupt(() => Effect.sync(() => log.interrupted++)))

const newLog = (): Log => ({ started: [], completed: 0, interrupted: 0 })

/** Forks `effect`, runs the TestClock `ms` ahead, and returns its exit. */
const settle = <A, E>(effect: Effect.Effect<A, E>, ms = 60_000) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect)
    yield* TestClock.adjust(ms)
    return yield* Fiber.await(fiber)
  })

describe("Hedge", () => {
  it("property: every losing attempt is interrupted, pending counts return to 0, and the first success wins at the time the schedule of hedges predicts", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        // odd latencies and even delays: a hedge never starts at the very instant an attempt ends
        fc.array(fc.integer({ min: 0, max: 200 }).map((k) => 2 * k + 1), { minLength: 5, maxLength: 5 }),
        fc.integer({ min: 0, max: 150 }).map((k) => 2 * k),
        fc.integer({ min: 0, max: 4 }),
        fc.option(fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }), { nil: undefined }),
        fc.nat(),
        (n, latencies, delay, maxHedges, failing, seed) =>
          Effect.runPromise(
            Effect.gen(function*() {
              const set = endpoints(n)
              const index = new Map(set.map((e, i) => [e.address as string, i]))
              const latency = (address: string) => latencies[index.get(address)!]!
              const fails = (address: string) => failing?.[index.get(address)!] ?? false
              const balancer = yield* withBalancer(set)
              const hedger = yield* Hedge.make({ delay, maxHedges })
              const log = newLog()
              const start = yield* Clock.currentTimeMillis
              // checked as `use` returns, in the same fiber (not once the caller's fiber has ended)
              const exit = yield* settle(
                Effect.exit(hedger.use(balancer, fake(log, latency, fails))).pipe(
                  Effect.tap(() =>
                    Effect.gen(function*() {
                      // every attempt either completed or was interrupted, and released its endpoint
                      assert.strictEqual(log.started.length, log.completed + log.interrupted)
                      assert.deepStrictEqual(yield* loads(balancer, set), set.map(() => 0))
                    })
                  ),
                  Effect.flatten
                )
              )
              if (Exit.isFailure(exit) && Cause.hasDies(exit.cause)) throw Cause.squash(exit.cause)
              assert.isAtMost(log.started.length, 1 + maxHedges)
              const addresses = log.started.map((s) => s.address)
              assert.strictEqual(new Set(addresses).size, addresses.length, "each attempt on a distinct endpoint")
              const ends = log.started.map((s) => s.at - start + latency(s.address))
              if (Exit.isSuccess(exit)) {
                assert.isFalse(fails(exit.value))
                const won = ends[addresses.indexOf(exit.value)]!
                // attempts still running when the winner returned were interrupted (ties may go either way)
                assert.isAtLeast(log.interrupted, ends.filter((e) => e > won).length)
                assert.isAtMost(log.interrupted, ends.filter((e) => e >= won).length - 1)
                if (failing === undefined) {
                  // no failures: attempt i starts at i × delay while nothing has succeeded yet
                  assert.strictEqual(won, Math.min(...ends), "the first success wins")
                  log.started.forEach((s, i) => assert.strictEqual(s.at - start, i * delay))
                  const reachable = delay === 0 ? Infinity : Math.floor((won - 1) / delay) + 1
                  assert.strictEqual(log.started.length, Math.min(1 + maxHedges, n, reachable))
                }
              } else {
                assert.isDefined(failing, "without failures the call succeeds")
                assert.strictEqual(log.interrupted, 0, "a failed call had no attempt left to interrupt")
                assert.isTrue(log.started.every((s) => fails(s.address)))
              }
            }).pipe(Random.withSeed(seed), Effect.provide(TestClock.layer()), Effect.scoped)
          )
      ),
      params(500) // each run forks attempts and steps a TestClock; 500 runs take about a second
    )
  })

  it.effect("a slow primary is hedged after the delay on another endpoint; the backup wins and the primary is interrupted, not failed", () =>
    Effect.gen(function*() {
      const set = endpoints(2)
      const balancer = yield* withBalancer(set)
      const hedger = yield* Hedge.make({ delay: "100 millis" })
      const log = newLog()
      let first: string | undefined
      const exit = yield* settle(
        hedger.use(
          balancer,
          fake(log, (a) => {
            first ??= a
            return a === first ? 1_000 : 10
          })
        ).pipe(Effect.tap(() =>
          Effect.gen(function*() {
            // as soon as `use` returns, in the caller's fiber
            assert.strictEqual(log.interrupted, 1)
            assert.deepStrictEqual(yield* loads(balancer, set), [0, 0])
          })
        ))
      )
      if (Exit.isFailure(exit) && Cause.hasDies(exit.cause)) throw Cause.squash(exit.cause)
      assert.isTrue(Exit.isSuccess(exit) && exit.value !== first)
      assert.deepStrictEqual(log.started.map((s) => s.at), [0, 100])
      assert.strictEqual(log.interrupted, 1)
      const stats = yield* balancer.snapshot
      assert.isTrue(stats.every((s) => s.failures === 0 && s.pending === 0))
      assert.strictEqual(stats.reduce((n, s) => n + s.successes, 0), 1)
    }))

  it.effect("a fast primary sends no backup", () =>
    Effect.gen(function*() {
      const balancer = yield* withBalancer(endpoints(3))
      const hedger = yield* Hedge.make({ delay: "100 millis", maxHedges: 2 })
      const log = newLog()
      yield* settle(hedger.use(balancer, fake(log, () => 99)))
      assert.strictEqual(log.started.length, 1)
    }))

  it.effect("maxHedges backups go out one delay apart, each to a new endpoint, and stop when none is left", () =>
    Effect.gen(function*() {
      const balancer = yield* withBalancer(endpoints(3))
      const two = yield* Hedge.make({ delay: "100 millis", maxHedges: 2 })
      const log = newLog()
      yield* settle(two.use(balancer, fake(log, () => 1_000)))
      assert.deepStrictEqual(log.started.map((s) => s.at), [0, 100, 200])
      assert.strictEqual(new Set(log.started.map((s) => s.address)).size, 3)
      const many = yield* Hedge.make({ delay: "100 millis", maxHedges: 10 })
      const again = newLog()
      yield* settle(many.use(balancer, fake(again, () => 1_000)))
      assert.strictEqual(again.started.length, 3, "three endpoints: at most two backups")
    }))

  it.effect("a failed attempt sends the next backup at once (gRFC A6), and the call fails with the last failure when all have failed", () =>
    Effect.gen(function*() {
      const balancer = yield* withBalancer(endpoints(3))
      const hedger = yield* Hedge.make({ delay: "100 millis", maxHedges: 2 })
      const log = newLog()
      const exit = yield* settle(hedger.use(balancer, fake(log, () => 20, () => true)))
      assert.deepStrictEqual(log.started.map((s) => s.at), [0, 20, 40])
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        assert.deepStrictEqual(Cause.findErrorOption(exit.cause), Option.some(`failed on ${log.started[2]!.address}`))
      }
    }))

  it.effect("while others are in flight, a failure does not end the call: a later success wins", () =>
    Effect.gen(function*() {
      const balancer = yield* withBalancer(endpoints(2))
      const hedger = yield* Hedge.make({ delay: "10 millis", maxHedges: 1 })
      const log = newLog()
      let first: string | undefined
      const exit = yield* settle(hedger.use(
        balancer,
        fake(log, (a) => (first ??= a) === a ? 300 : 50, (a) => a !== first)
      ))
      // the backup (sent at 10) fails at 60; the primary succeeds at 300
      assert.isTrue(Exit.isSuccess(exit) && exit.value === first)
      assert.strictEqual(log.interrupted, 0)
    }))

  it.effect("a fatal failure interrupts every other attempt and is returned at once", () =>
    Effect.gen(function*() {
      const set = endpoints(2)
      const balancer = yield* withBalancer(set)
      const hedger = yield* Hedge.make<string>({ delay: "10 millis", nonFatal: (e) => !e.startsWith("failed") })
      const log = newLog()
      let first: string | undefined
      const fiber = yield* hedger.use(balancer, fake(log, (a) => (first ??= a) === a ? 50 : 1_000, (a) => a === first))
        .pipe(Effect.forkChild)
      yield* TestClock.adjust("50 millis")
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(log.interrupted, 1)
      assert.deepStrictEqual(yield* loads(balancer, set), [0, 0])
    }))

  it.effect("with an empty budget no backup is sent, and that is not an error; each call deposits once", () =>
    Effect.gen(function*() {
      const balancer = yield* withBalancer(endpoints(2))
      const budget = yield* Budget.make({ minRetriesPerSec: 0, percentCanRetry: 0.5 })
      const hedger = yield* Hedge.make({ delay: "100 millis", budget })
      const log = newLog()
      const fiber = yield* hedger.use(balancer, fake(log, () => 1_000)).pipe(Effect.forkChild)
      yield* TestClock.adjust("1 second")
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(fiber)))
      assert.strictEqual(log.started.length, 1)
      assert.strictEqual(yield* budget.balance, 0.5)
      // the next call's deposit makes a whole token: this one is hedged
      const again = newLog()
      const second = yield* hedger.use(balancer, fake(again, () => 1_000)).pipe(Effect.forkChild)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(second)
      assert.strictEqual(again.started.length, 2)
      assert.strictEqual(yield* budget.balance, 0)
    }))

  it.effect("a percentile delay waits for enough latencies, then hedges at their nearest-rank quantile", () =>
    Effect.gen(function*() {
      const balancer = yield* withBalancer(endpoints(2))
      const hedger = yield* Hedge.make({ delay: { percentile: 0.75 }, window: 8 })
      assert.isTrue(Option.isNone(yield* hedger.delay))
      // ⌈1/(1−0.75)⌉ = 4 latencies are needed: 10, 20, 30, 40 ms
      for (const ms of [10, 20, 30, 40]) {
        const log = newLog()
        yield* settle(hedger.use(balancer, fake(log, () => ms)), ms)
        assert.strictEqual(log.started.length, 1, "no time-based hedge while warming up")
      }
      assert.deepStrictEqual(yield* hedger.delay, Option.some(Duration.millis(30)))
      const log = newLog()
      let first: string | undefined
      yield* settle(hedger.use(balancer, fake(log, (a) => (first ??= a) === a ? 500 : 5)))
      assert.deepStrictEqual(log.started.map((s) => s.at - log.started[0]!.at), [0, 30])
      // recorded: the backup's 5 ms and the superseded primary's 35 ms so far
      // window of 8 now holds 10 20 30 40 5 35: p75 is the 5th of 6 → 35
      assert.deepStrictEqual(yield* hedger.delay, Option.some(Duration.millis(35)))
    }))

  it.effect("a backup the primary beats is not recorded: the percentile does not drift down until every call hedges", () =>
    Effect.gen(function*() {
      const balancer = yield* withBalancer(endpoints(2))
      const hedger = yield* Hedge.make({ delay: { percentile: 0.5 }, window: 16 })
      // two 4 ms calls set a 4 ms delay; then every primary answers at 9 ms, its backup (sent at
      // the delay) later still. Recording the beaten backups' time so far (9 − delay) would pull
      // the median below 9 ms for good; recording the winners only moves it to 9 ms.
      for (const ms of [4, 4]) yield* settle(hedger.use(balancer, fake(newLog(), () => ms)), ms)
      assert.deepStrictEqual(yield* hedger.delay, Option.some(Duration.millis(4)))
      for (let call = 0; call < 6; call++) {
        const log = newLog()
        let first: string | undefined
        yield* settle(hedger.use(balancer, fake(log, (a) => (first ??= a) === a ? 9 : 100)))
      }
      assert.deepStrictEqual(yield* hedger.delay, Option.some(Duration.millis(9)))
    }))

  it.effect("interrupting the call interrupts every attempt and releases every endpoint", () =>
    Effect.gen(function*() {
      const set = endpoints(3)
      const balancer = yield* withBalancer(set)
      const hedger = yield* Hedge.make({ delay: "10 millis", maxHedges: 2 })
      const log = newLog()
      const fiber = yield* hedger.use(balancer, fake(log, () => 1_000)).pipe(Effect.forkChild)
      yield* TestClock.adjust("50 millis")
      assert.deepStrictEqual(yield* loads(balancer, set), [1, 1, 1])
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(log.interrupted, 3)
      assert.deepStrictEqual(yield* loads(balancer, set), [0, 0, 0])
    }))

  it.effect("nothing to pick fails with the balancer's typed error", () =>
    Effect.gen(function*() {
      const empty = yield* Balancer.makeWith({ key: "none", policy: RoundRobin.make() })
      const hedger = yield* Hedge.make({ delay: 10 })
      const error = yield* Effect.flip(hedger.use(empty, () => Effect.succeed(1)))
      assert.strictEqual(error._tag, "NoEndpointAvailable")
    }))

  it.effect("invalid options fail make with an OptionError naming the option and value", () =>
    Effect.gen(function*() {
      const cases = [
        [{ delay: -1 }, "delay", "-1"],
        [{ delay: "soon" as never }, "delay", `"soon"`],
        [{ delay: { percentile: 1 } }, "delay.percentile", "1"],
        [{ delay: { percentile: 0 } }, "delay.percentile", "0"],
        [{ delay: 10, maxHedges: -1 }, "maxHedges", "-1"],
        [{ delay: 10, maxHedges: 1.5 }, "maxHedges", "1.5"],
        [{ delay: 10, window: 0 }, "window", "0"]
      ] as const
      for (const [options, option, value] of cases) {
        const error = yield* Effect.flip(Hedge.make(options))
        assert.strictEqual(error._tag, "OptionError")
        assert.strictEqual(error.module, "hedge")
        assert.strictEqual(error.option, option)
        assert.strictEqual(error.value, value)
        assert.include(error.message, "invalid hedge option")
      }
    }))
})
