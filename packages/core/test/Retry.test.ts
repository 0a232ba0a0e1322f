import { assert, describe, it } from "@effect/vitest"
import { Balancer, Change, Endpoint, LeastPending, Policy, RoundRobin, WeightedRandom } from "@switchyard/core"
import * as Budget from "@switchyard/core/Budget"
import * as Retry from "@switchyard/core/Retry"
import { Cause, Clock, Effect, Exit, Fiber, Random, Schedule, Schema } from "effect"
import { HttpClientError, HttpClientRequest } from "effect/http"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { params } from "./seed.ts"

const ep = Endpoint.makeUnsafe
const endpoints = (n: number) => Array.from({ length: n }, (_, i) => ep(`10.9.0.${i + 1}:80`))

const withBalancer = (set: ReadonlyArray<Endpoint.Endpoint>, policy: Policy.Policy = RoundRobin.make()) =>
  Effect.gen(function*() {
    const balancer = yield* Balancer.makeWith({ key: "api", policy })
    yield* balancer.apply(Change.diff([], set, { key: "api" }))
    return balancer
  })

const loads = (balancer: Balancer.Balancer, set: ReadonlyArray<Endpoint.Endpoint>) =>
  Effect.forEach(set, (e) => balancer.load(e.address))

/** A server error: `retryable` says whether it is worth retrying, `sent` whether the request went out. */
class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {
  attempt: Schema.Number,
  retryable: Schema.Boolean,
  sent: Schema.Boolean
}) {}

/** Forks `effect`, lets the TestClock run a minute, and returns its exit. */
const settle = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect)
    yield* TestClock.adjust("1 minute")
    return yield* Fiber.await(fiber)
  })

const failure = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Cause.findErrorOption((exit as Exit.Failure<A, E>).cause)
  assert.isTrue(error._tag === "Some", "expected a typed error")
  return (error as { readonly value: E }).value
}

describe("Retry", () => {
  it("property: a retry never reuses an endpoint while an untried one remains, and stops at maxAttempts or the first success", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 10 }),
        fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
        fc.nat(),
        // round robin moves on by itself; random and least-pending picks would repeat endpoints
        fc.constantFrom(RoundRobin.make, WeightedRandom.uniform, LeastPending.make),
        (n, maxAttempts, succeeds, seed, makePolicy) => {
          const set = endpoints(n)
          const result = Effect.runSync(
            Effect.gen(function*() {
              const balancer = yield* withBalancer(set, makePolicy())
              const tried: Array<string> = []
              const policy = Retry.make<Unavailable>({ maxAttempts, idempotent: true, schedule: Schedule.spaced(0) })
              const exit = yield* Effect.exit(Retry.use(balancer, (e): Effect.Effect<number, Unavailable> => {
                const attempt = tried.push(e.address)
                return succeeds[attempt - 1]
                  ? Effect.succeed(attempt)
                  : Effect.fail(new Unavailable({ attempt, retryable: true, sent: true }))
              }, policy))
              return { tried, exit, loads: yield* loads(balancer, set) }
            }).pipe(Random.withSeed(seed))
          )
          const firstSuccess = succeeds.indexOf(true)
          const expected = firstSuccess >= 0 && firstSuccess < maxAttempts ? firstSuccess + 1 : maxAttempts
          assert.strictEqual(result.tried.length, expected)
          // rounds of n attempts: within a round, every endpoint is new
          result.tried.forEach((address, i) => {
            const round = result.tried.slice(i - (i % n), i)
            assert.notInclude(round, address, `attempt ${i + 1} reused ${address} with untried endpoints left`)
          })
          assert.strictEqual(new Set(result.tried.slice(0, n)).size, Math.min(n, expected))
          if (Exit.isSuccess(result.exit)) assert.strictEqual(result.exit.value, expected)
          else assert.strictEqual((failure(result.exit) as Unavailable).attempt, expected, "the last error is returned")
          assert.deepStrictEqual(result.loads, set.map(() => 0))
        }
      ),
      params(1000)
    )
  })

  it("property: the default backoff waits min(50·2ⁿ⁻¹ × [0.8, 1.2], 1000) ms before retry n", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), (seed) =>
        Effect.runPromise(
          Effect.gen(function*() {
            const balancer = yield* withBalancer(endpoints(3))
            const times: Array<number> = []
            const exit = yield* settle(Retry.use(
              balancer,
              () =>
                Effect.flatMap(Clock.currentTimeMillis, (t) => {
                  times.push(t)
                  return Effect.fail({ _tag: "ConnectError" as const })
                }),
              Retry.make({ maxAttempts: 9 })
            ))
            assert.strictEqual(failure(exit)._tag, "ConnectError")
            assert.strictEqual(times.length, 9)
            for (let n = 1; n < times.length; n++) {
              const gap = times[n]! - times[n - 1]!
              const base = 50 * 2 ** (n - 1)
              // 1e-6: the gap is a difference of fractional clock readings
              assert.isAtLeast(gap, Math.min(0.8 * base, 1000) - 1e-6, `retry ${n}`)
              assert.isAtMost(gap, Math.min(1.2 * base, 1000) + 1e-6, `retry ${n}`)
            }
          }).pipe(Random.withSeed(seed), Effect.provide(TestClock.layer()), Effect.scoped)
        )),
      params(200) // each run steps the TestClock through 8 sleeps; 200 seeds cover the jitter range
    )
  })

  it.effect("any Effect schedule sets the backoff, and its end stops retrying with the last error", () =>
    Effect.gen(function*() {
      const balancer = yield* withBalancer(endpoints(2))
      const times: Array<number> = []
      const f = () =>
        Effect.flatMap(Clock.currentTimeMillis, (t) => {
          const attempt = times.push(t)
          return Effect.fail(new Unavailable({ attempt, retryable: true, sent: false }))
        })
      const spaced = yield* settle(
        Retry.use(balancer, f, Retry.make({ maxAttempts: 4, schedule: Schedule.spaced("100 millis") }))
      )
      assert.strictEqual((failure(spaced) as Unavailable).attempt, 4)
      assert.deepStrictEqual(times.map((t) => t - times[0]!), [0, 100, 200, 300])
      times.length = 0
      const ended = yield* settle(Retry.use(balancer, f, Retry.make({ maxAttempts: 10, schedule: Schedule.recurs(2) })))
      assert.strictEqual((failure(ended) as Unavailable).attempt, 3)
    }))

  it.effect("a per-try timeout is a typed, retryable AttemptTimedOut; the balancer records it as a failure and releases the endpoint", () =>
    Effect.gen(function*() {
      const set = endpoints(2)
      const balancer = yield* withBalancer(set)
      const tried: Array<string> = []
      const exit = yield* settle(Retry.use(balancer, (e) => {
        tried.push(e.address)
        return tried.length === 1 ? Effect.never : Effect.succeed(e.address)
      }, Retry.make({ perTryTimeout: "100 millis", idempotent: true })))
      assert.isTrue(Exit.isSuccess(exit) && exit.value === tried[1])
      assert.notStrictEqual(tried[0], tried[1])
      const stats = yield* balancer.snapshot
      const first = stats.find((s) => s.endpoint.address === tried[0])!
      assert.strictEqual(first.failures, 1)
      assert.strictEqual(first.pending, 0)

      const all = yield* settle(
        Retry.use(balancer, () => Effect.never, Retry.make({ perTryTimeout: 100, idempotent: true }))
      )
      const error = failure(all)
      assert.strictEqual(error._tag, "AttemptTimedOut")
      if (error._tag === "AttemptTimedOut") {
        assert.strictEqual(error.attempt, 3)
        assert.strictEqual(error.timeoutMillis, 100)
        assert.include(error.message, "per-try timeout of 100 ms")
      }
      assert.deepStrictEqual(yield* loads(balancer, set), [0, 0])
    }))

  it.effect("a non-idempotent request is not retried after a post-send failure or a timeout, only after an unsent one", () =>
    Effect.gen(function*() {
      const balancer = yield* withBalancer(endpoints(3))
      const run = (
        error: (attempt: number) => unknown,
        options: { readonly idempotent?: boolean; readonly timeout?: boolean }
      ) =>
        Effect.gen(function*() {
          let attempts = 0
          const exit = yield* settle(Retry.use(
            balancer,
            () => options.timeout === true ? Effect.never : Effect.fail(error(++attempts)),
            Retry.make({ idempotent: options.idempotent, perTryTimeout: options.timeout === true ? 50 : undefined })
          ))
          assert.isTrue(Exit.isFailure(exit))
          return options.timeout === true ? (failure(exit) as Retry.AttemptTimedOut).attempt : attempts
        })
      const sent = (attempt: number) => new Unavailable({ attempt, retryable: true, sent: true })
      const unsent = (attempt: number) => new Unavailable({ attempt, retryable: true, sent: false })
      assert.strictEqual(yield* run(sent, {}), 1, "sent and not idempotent: no retry")
      assert.strictEqual(yield* run(sent, { idempotent: true }), 3, "idempotent: retried")
      assert.strictEqual(yield* run(unsent, {}), 3, "never sent: retried even if not idempotent")
      assert.strictEqual(yield* run(() => ({ _tag: "ConnectError" }), {}), 3, "connection errors count as unsent")
      assert.strictEqual(yield* run(() => ({ _tag: "TimeoutError" }), {}), 1, "a timeout may have been sent")
      assert.strictEqual(yield* run(() => null, { timeout: true }), 1, "a per-try timeout may have been sent")
      assert.strictEqual(yield* run(() => null, { timeout: true, idempotent: true }), 3)
    }))

  it.effect("only retryable errors are retried: retryOn decides, and the error comes back unchanged", () =>
    Effect.gen(function*() {
      const balancer = yield* withBalancer(endpoints(3))
      let attempts = 0
      const original = new Unavailable({ attempt: 1, retryable: false, sent: false })
      const exit = yield* settle(Retry.use(balancer, () => {
        attempts++
        return Effect.fail(original)
      }, Retry.make({ idempotent: true })))
      assert.strictEqual(attempts, 1)
      assert.strictEqual(failure(exit), original)
      attempts = 0
      yield* settle(Retry.use(balancer, () => {
        attempts++
        return Effect.fail("plain")
      }, Retry.make<string>({ retryOn: (e) => e === "plain", idempotent: true })))
      assert.strictEqual(attempts, 3)
      assert.isTrue(Retry.isRetryable({ _tag: "ConnectError" }))
      assert.isFalse(Retry.isRetryable({ _tag: "ConnectError", retryable: false }))
      assert.isFalse(Retry.isRetryable(new Error("x")))
      assert.isTrue(Retry.isNotSent({ sent: false }))
      assert.isFalse(Retry.isNotSent({ _tag: "ConnectError", sent: true }))
    }))

  it("an HttpClientError transport error is retryable; a refused connection is not sent, in each runtime's shape", () => {
    const transport = (cause: unknown) =>
      new HttpClientError.HttpClientError({
        reason: new HttpClientError.TransportError({ request: HttpClientRequest.get("http://x/"), cause })
      })
    // Node's fetch: TypeError("fetch failed") with the code on its cause; node:http: code on the error;
    // Bun's fetch: code on the error; Deno's fetch: no code, only the message of a cause
    const node = Object.assign(new TypeError("fetch failed"), {
      cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" })
    })
    const bun = Object.assign(new TypeError("Unable to connect"), { code: "ECONNREFUSED" })
    const deno = Object.assign(new TypeError("error sending request"), {
      cause: new Error("client error (Connect): tcp connect error: Connection refused (os error 111)")
    })
    for (const cause of [node, bun, deno]) {
      assert.isTrue(Retry.isRetryable(transport(cause)))
      assert.isTrue(Retry.isNotSent(transport(cause)))
    }
    const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })
    assert.isTrue(Retry.isRetryable(transport(reset)))
    assert.isFalse(Retry.isNotSent(transport(reset)), "a reset connection may have carried the request")
    const decode = new HttpClientError.HttpClientError({
      reason: new HttpClientError.InvalidUrlError({ request: HttpClientRequest.get("http://x/") })
    })
    assert.isFalse(Retry.isRetryable(decode))
    assert.isFalse(Retry.isNotSent(decode))
  })

  it.effect("a defect is never retried", () =>
    Effect.gen(function*() {
      const balancer = yield* withBalancer(endpoints(3))
      let attempts = 0
      const exit = yield* settle(Retry.use(balancer, () => {
        attempts++
        return Effect.die("bug")
      }, Retry.make({ idempotent: true })))
      assert.strictEqual(attempts, 1)
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
    }))

  it.effect("the deadline bounds attempts and backoffs: typed DeadlineExceeded, in-flight attempt interrupted, no wait that cannot pay off", () =>
    Effect.gen(function*() {
      const set = endpoints(3)
      const balancer = yield* withBalancer(set)
      const slowFailure = Effect.sleep("100 millis").pipe(
        Effect.andThen(Effect.fail(new Unavailable({ attempt: 0, retryable: true, sent: false })))
      )
      // attempts at [0, 100] and [150, 250]; the deadline at 230 interrupts the second
      const start = yield* Clock.currentTimeMillis
      const during = yield* Retry.use(
        balancer,
        () => slowFailure,
        Retry.make({
          deadline: "230 millis",
          schedule: Schedule.spaced("50 millis")
        })
      ).pipe(Effect.flip, Effect.forkChild)
      yield* TestClock.adjust("229 millis")
      assert.isUndefined(during.pollUnsafe())
      const inFlight = yield* loads(balancer, set)
      assert.strictEqual(inFlight.reduce((a, b) => a! + b!, 0), 1, "one attempt in flight")
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(during)
      assert.strictEqual(error._tag, "DeadlineExceeded")
      if (error._tag === "DeadlineExceeded") {
        assert.strictEqual(error.during, "attempt")
        assert.strictEqual(error.attempts, 2)
        assert.strictEqual(error.deadlineMillis, 230)
        assert.include(error.message, "during attempt 2")
      }
      assert.strictEqual((yield* Clock.currentTimeMillis) - start, 230)
      assert.deepStrictEqual(yield* loads(balancer, set), [0, 0, 0])

      // the first attempt fails at 100; a 50 ms backoff would end past the 120 ms deadline
      const t0 = yield* Clock.currentTimeMillis
      const backoff = yield* Retry.use(
        balancer,
        () => slowFailure,
        Retry.make({
          deadline: "120 millis",
          schedule: Schedule.spaced("50 millis")
        })
      ).pipe(Effect.flip, Effect.forkChild)
      yield* TestClock.adjust("100 millis")
      const early = yield* Fiber.join(backoff)
      assert.strictEqual(early._tag, "DeadlineExceeded")
      if (early._tag === "DeadlineExceeded") {
        assert.strictEqual(early.during, "backoff")
        assert.strictEqual(early.attempts, 1)
        assert.strictEqual(early.elapsedMillis, 100)
        assert.include(early.message, "before retry 2 could start")
      }
      assert.strictEqual((yield* Clock.currentTimeMillis) - t0, 100)
    }))

  it.effect("with a budget, a call deposits once and each retry withdraws; an empty budget stops retrying with a typed BudgetExhausted", () =>
    Effect.gen(function*() {
      const balancer = yield* withBalancer(endpoints(3))
      const budget = yield* Budget.make({ minRetriesPerSec: 0, percentCanRetry: 0.5 })
      let attempts = 0
      const f = () => {
        attempts++
        return Effect.fail({ _tag: "ConnectError" as const })
      }
      const policy = Retry.make({ maxAttempts: 5, budget, schedule: Schedule.spaced(0) })
      // no sleeps (spaced(0)) and no time passes, so no credit expires between the calls
      const first = yield* Effect.exit(Retry.use(balancer, f, policy))
      assert.strictEqual(attempts, 1, "0.5 tokens: no retry")
      const error = failure(first)
      assert.strictEqual(error._tag, "BudgetExhausted")
      if (error._tag === "BudgetExhausted") assert.strictEqual(error.balance, 0.5)
      attempts = 0
      const second = yield* Effect.exit(Retry.use(balancer, f, policy))
      assert.strictEqual(attempts, 2, "the second call's deposit makes one token: one retry")
      assert.strictEqual(failure(second)._tag, "BudgetExhausted")
      assert.strictEqual(yield* budget.balance, 0)
      // a success needs no token, and still deposits
      yield* Retry.use(balancer, () => Effect.succeed(1), policy)
      assert.strictEqual(yield* budget.balance, 0.5)
    }))

  it.effect("nothing to pick fails at once with the balancer's typed error, and deposits nothing", () =>
    Effect.gen(function*() {
      const empty = yield* Balancer.makeWith({ key: "none", policy: RoundRobin.make() })
      const budget = yield* Budget.make({ minRetriesPerSec: 0, percentCanRetry: 1 })
      const error = yield* Effect.flip(Retry.use(empty, () => Effect.succeed(1), Retry.make({ budget })))
      assert.strictEqual(error._tag, "NoEndpointAvailable")
      assert.strictEqual(yield* budget.balance, 0, "a deposit would have made it 1")
    }))

  it.effect("invalid options give a policy that fails with an OptionError naming the option, value and reason, sending nothing", () =>
    Effect.gen(function*() {
      const balancer = yield* withBalancer(endpoints(1))
      const cases = [
        [Retry.make({ maxAttempts: 0 }), "maxAttempts", "0", "OutOfRange"],
        [Retry.make({ maxAttempts: 2.5 }), "maxAttempts", "2.5", "NotInteger"],
        [Retry.make({ perTryTimeout: -1 }), "perTryTimeout", "-1", "OutOfRange"],
        [Retry.make({ deadline: "soon" as never }), "deadline", `"soon"`, "WrongType"],
        [Retry.make({ deadline: "Infinity" }), "deadline", `"Infinity"`, "NotFinite"]
      ] as const
      for (const [policy, option, value, reason] of cases) {
        let sent = 0
        const error = yield* Effect.flip(Retry.use(balancer, () => Effect.sync(() => sent++), policy))
        assert.strictEqual(error._tag, "OptionError")
        assert.strictEqual(policy.error, error, "the error the policy carries")
        if (error._tag === "OptionError") {
          assert.strictEqual(error.module, "retry")
          assert.strictEqual(error.option, option)
          assert.strictEqual(error.value, value)
          assert.strictEqual(error.reason, reason)
          assert.include(error.message, option)
        }
        assert.strictEqual(sent, 0)
      }
    }))
})
