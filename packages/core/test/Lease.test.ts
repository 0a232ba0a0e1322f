import { assert, describe, it } from "@effect/vitest"
import { Balancer, Change, Endpoint, OutlierDetection, type Policy, RoundRobin } from "@switchyard/core"
import { Effect, Exit, Fiber, Metric, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { params } from "./seed.ts"

const ep = Endpoint.makeUnsafe
const a = ep("10.0.0.1:80")
const b = ep("10.0.0.2:80")

const balancerOf = (policy: Policy.Policy, endpoints: ReadonlyArray<Endpoint.Endpoint>) =>
  Effect.gen(function*() {
    const balancer = yield* Balancer.makeWith({ key: "api", policy })
    yield* balancer.apply(Change.diff([], endpoints, { key: "api" }))
    return balancer
  })

const statsOf = (balancer: Balancer.Balancer, address: string) =>
  Effect.map(balancer.snapshot, (all) => all.find((s) => s.endpoint.address === address)!)

/** A response that succeeded as an Effect: an HTTP status. */
const http = (status: number) => ({ status })
const byStatus = (exit: Exit.Exit<{ readonly status: number }, unknown>): Balancer.Classification =>
  Exit.isSuccess(exit)
    ? exit.value.status === 429 ? "ignore" : exit.value.status >= 500 ? "failure" : "success"
    : Balancer.classifyExit(exit)

describe("lease and classification", () => {
  it.effect("a successful Effect classified \"failure\" (an HTTP 503) ejects its host under OutlierDetection", () =>
    Effect.gen(function*() {
      const policy = OutlierDetection.make(RoundRobin.make(), { consecutiveFailures: 3 })
      const balancer = yield* balancerOf(policy, [a, b])
      for (let i = 0; i < 3; i++) {
        yield* balancer.useEndpoint(a, () => Effect.succeed(http(503)), { classify: byStatus })
      }
      assert.strictEqual((yield* statsOf(balancer, a.address)).failures, 3)
      const picked = new Set<string>()
      for (let i = 0; i < 20; i++) picked.add((yield* balancer.pick).address)
      assert.deepStrictEqual([...picked], [b.address], "the host that answered 503 three times is ejected")
    }))

  it.effect("\"ignore\" (an HTTP 429) leaves health, counts and the latency estimate untouched", () =>
    Effect.gen(function*() {
      const policy = OutlierDetection.make(RoundRobin.make(), { consecutiveFailures: 1 })
      const balancer = yield* balancerOf(policy, [a, b])
      const before = yield* statsOf(balancer, a.address)
      const slow = yield* Effect.forkChild(
        balancer.useEndpoint(a, () => Effect.as(Effect.sleep("500 millis"), http(429)), { classify: byStatus })
      )
      yield* TestClock.adjust("500 millis")
      assert.deepStrictEqual((yield* Fiber.join(slow)).status, 429)
      const after = yield* statsOf(balancer, a.address)
      assert.strictEqual(after.pending, 0)
      assert.strictEqual(after.failures, before.failures)
      assert.strictEqual(after.successes, before.successes)
      assert.isUndefined(after.latency, "no latency sample")
      const picked = new Set<string>()
      for (let i = 0; i < 20; i++) picked.add((yield* balancer.pick).address)
      assert.strictEqual(picked.size, 2, "nothing was ejected")
    }))

  it.effect("a lease holds its endpoint until complete; the latency runs from the lease to complete", () =>
    Effect.gen(function*() {
      const balancer = yield* balancerOf(RoundRobin.make(), [a])
      const scope = yield* Scope.make()
      const lease = yield* balancer.lease().pipe(Scope.provide(scope))
      assert.strictEqual(lease.endpoint.address, a.address)
      assert.strictEqual(yield* balancer.load(a.address), 1)
      yield* TestClock.adjust("40 millis")
      yield* lease.complete("success")
      assert.strictEqual(yield* balancer.load(a.address), 0)
      yield* lease.complete("failure", "late")
      yield* Scope.close(scope, Exit.void)
      const stats = yield* statsOf(balancer, a.address)
      assert.strictEqual(stats.successes, 1)
      assert.strictEqual(stats.failures, 0, "a second completion does nothing")
      assert.strictEqual(stats.pending, 0, "and neither does the scope after a completion")
      assert.closeTo(stats.latency!, 40, 1e-9)
    }))

  it.effect("a lease never completed is released by its scope, as an ignored request", () =>
    Effect.gen(function*() {
      const balancer = yield* balancerOf(RoundRobin.make(), [a])
      yield* Effect.scoped(balancer.lease())
      const stats = yield* statsOf(balancer, a.address)
      assert.strictEqual(stats.pending, 0)
      assert.strictEqual(stats.successes + stats.failures, 0)
      assert.strictEqual((yield* Effect.flip(balancer.lease(-1).pipe(Effect.scoped)))._tag, "InvalidHash")
    }))

  it("property: lease completions, scope releases and interruptions never double-count; pending returns to 0", async () => {
    type Op = {
      readonly complete: "success" | "failure" | "ignore" | "none"
      readonly twice: boolean
      readonly interrupt: boolean
    }
    const op: fc.Arbitrary<Op> = fc.record({
      complete: fc.constantFrom("success", "failure", "ignore", "none"),
      twice: fc.boolean(),
      interrupt: fc.boolean()
    })
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
        await Effect.runPromise(
          Effect.gen(function*() {
            const balancer = yield* balancerOf(RoundRobin.make(), [a, b])
            const fibers = []
            for (const o of ops) {
              const work = Effect.scoped(Effect.gen(function*() {
                const lease = yield* balancer.lease()
                if (o.interrupt) yield* Effect.never
                if (o.complete !== "none") yield* lease.complete(o.complete, "boom")
                if (o.twice) yield* lease.complete("failure", "again")
              }))
              fibers.push(yield* Effect.forkChild(work))
            }
            yield* Effect.yieldNow
            for (const fiber of fibers) yield* Fiber.interrupt(fiber)
            const stats = yield* balancer.snapshot
            const completed = ops.filter((o) => !o.interrupt)
            const successes = completed.filter((o) => o.complete === "success").length
            const failures = completed.filter((o) => o.complete === "failure").length +
              completed.filter((o) => o.complete === "none" && o.twice).length
            assert.strictEqual(stats.reduce((n, s) => n + s.pending, 0), 0)
            assert.strictEqual(stats.reduce((n, s) => n + s.successes, 0), successes)
            assert.strictEqual(stats.reduce((n, s) => n + s.failures, 0), failures)
          }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()), Effect.scoped)
        )
      }),
      params(300)
    )
  })

  it.effect("metrics are read from the slots: requests, pending, failures and the latency timer per endpoint", () =>
    Effect.gen(function*() {
      const balancer = yield* balancerOf(RoundRobin.make(), [a])
      yield* balancer.use(() => Effect.sleep("10 millis"), {}).pipe(Effect.forkChild)
      yield* TestClock.adjust("10 millis")
      yield* Effect.exit(balancer.use(() => Effect.fail("boom")))
      const attributes = { key: "api", endpoint: a.address }
      assert.strictEqual((yield* Metric.value(Metric.withAttributes(Balancer.picksTotal, attributes))).count, 2)
      assert.strictEqual((yield* Metric.value(Metric.withAttributes(Balancer.failuresTotal, attributes))).count, 1)
      assert.strictEqual((yield* Metric.value(Metric.withAttributes(Balancer.pendingGauge, attributes))).value, 0)
      const latency = yield* Metric.value(Metric.withAttributes(Balancer.latencyTimer, attributes))
      assert.strictEqual(latency.count, 2)
      assert.closeTo(latency.max, 10, 1e-9)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))
})
