import { assert, describe, it } from "@effect/vitest"
import { Discovery, type Endpoint, Options, Policy, Registry, RoundRobin } from "@switchyard/core"
import { Deferred, Effect, Exit, Fiber, Layer, Result, Stream } from "effect"
import { TestClock } from "effect/testing"

const fleet: Record<string, ReadonlyArray<string>> = {
  checkout: ["10.0.0.1:8080", "10.0.0.2:8080"],
  search: ["10.0.1.1:9000"]
}

/** Each target's list, then an open stream; `subscribed` and `closed` record the watches. */
const fleetDiscovery = () => {
  const subscribed: Array<string> = []
  const closed: Array<string> = []
  const discovery = Discovery.make({
    fetch: (target: string) => Effect.succeed(fleet[target] ?? []),
    payloads: (target: string) =>
      Stream.concat(Stream.make(Result.succeed(fleet[target] ?? [])), Stream.never).pipe(
        Stream.onStart(Effect.sync(() => subscribed.push(target))),
        Stream.ensuring(Effect.sync(() => closed.push(target)))
      )
  })
  return { discovery, subscribed, closed }
}

const address = (endpoint: Endpoint.Endpoint) => Effect.succeed(endpoint.address)

describe("Registry", () => {
  it.effect("one balancer per target, made on first use, shared by concurrent callers", () =>
    Effect.gen(function*() {
      const { discovery, subscribed } = fleetDiscovery()
      yield* Effect.gen(function*() {
        const registry = yield* Registry.Registry
        const [a, b, c] = yield* Effect.all([
          registry.get("checkout"),
          registry.get("checkout"),
          registry.get("checkout")
        ], { concurrency: "unbounded" })
        assert.strictEqual(a, b)
        assert.strictEqual(b, c)
        const picked = new Set<string>()
        for (let i = 0; i < 4; i++) picked.add(yield* Registry.use("checkout", address))
        assert.deepStrictEqual([...picked].sort(), [...fleet.checkout!])
        assert.strictEqual(yield* Registry.use("search", address), "10.0.1.1:9000")
        assert.deepStrictEqual(yield* registry.targets, ["checkout", "search"])
        assert.deepStrictEqual(subscribed, ["checkout", "search"])
      }).pipe(Effect.provide(Registry.layer({ discovery, policy: RoundRobin.make() })))
    }))

  it.effect("a balancer idle for idleTimeout with nothing in flight is closed; the next get makes a fresh one", () =>
    Effect.gen(function*() {
      const { closed, discovery } = fleetDiscovery()
      yield* Effect.gen(function*() {
        const registry = yield* Registry.Registry
        const first = yield* registry.get("checkout")
        yield* registry.get("search")
        // a request to search stays in flight: search is kept
        const started = yield* Deferred.make<void>()
        const held = yield* Effect.forkChild(
          Registry.use("search", () => Effect.andThen(Deferred.succeed(started, undefined), Effect.never))
        )
        yield* Deferred.await(started)
        yield* TestClock.adjust("59 seconds")
        assert.deepStrictEqual(yield* registry.targets, ["checkout", "search"])
        yield* TestClock.adjust("31 seconds")
        assert.deepStrictEqual(yield* registry.targets, ["search"])
        assert.deepStrictEqual(closed, ["checkout"])
        const again = yield* registry.get("checkout")
        assert.notStrictEqual(again, first)
        assert.strictEqual(
          yield* Registry.use("checkout", address).pipe(Effect.map((a) => fleet.checkout!.includes(a))),
          true
        )
        yield* Fiber.interrupt(held)
        yield* TestClock.adjust("2 minutes")
        assert.deepStrictEqual(yield* registry.targets, [])
      }).pipe(Effect.provide(Registry.layer({ discovery, policy: RoundRobin.make(), idleTimeout: "1 minute" })))
    }))

  it.effect("closing the layer closes every balancer's watch", () =>
    Effect.gen(function*() {
      const { closed, discovery } = fleetDiscovery()
      yield* Effect.gen(function*() {
        yield* Registry.use("checkout", address)
        yield* Registry.use("search", address)
      }).pipe(Effect.provide(Registry.layer({ discovery, policy: RoundRobin.make() })))
      assert.deepStrictEqual([...closed].sort(), ["checkout", "search"])
    }))

  it.effect("a policy per target; invalid options fail the layer, or that target's get, with an OptionError", () =>
    Effect.gen(function*() {
      const { discovery } = fleetDiscovery()
      const bad = yield* Effect.flip(
        Layer.build(Registry.layer({ discovery, policy: RoundRobin.make(), idleTimeout: Number.NaN })).pipe(
          Effect.scoped
        )
      )
      assert(Options.isOptionError(bad))
      assert.include(bad, { module: "registry", option: "idleTimeout", value: "NaN", reason: "NotFinite" })
      const invalid = Policy.invalid(
        new Options.OptionError({ module: "p", option: "x", value: "1", reason: "OutOfRange", problem: "no" })
      )
      const refused = yield* Effect.flip(
        Layer.build(Registry.layer({ discovery, policy: invalid })).pipe(Effect.scoped)
      )
      assert.strictEqual(refused, invalid.error)
      const perTarget = (target: string) => target === "search" ? invalid : RoundRobin.make()
      yield* Effect.gen(function*() {
        assert.include(fleet.checkout!, yield* Registry.use("checkout", address))
        const error = yield* Effect.flip(Registry.use("search", address))
        assert.strictEqual(error, invalid.error)
        assert.deepStrictEqual(yield* Registry.Registry.use((r) => r.targets), ["checkout"])
      }).pipe(Effect.provide(Registry.layer({ discovery, policy: perTarget })))
    }))

  it.effect("use waits for the target's first set, and fails with NotReady when it never comes", () =>
    Effect.gen(function*() {
      const discovery = Discovery.make({
        fetch: () => Effect.never,
        payloads: () => Stream.never
      })
      yield* Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Effect.exit(Registry.use("nowhere", address)))
        yield* TestClock.adjust("1 second")
        const exit = yield* Fiber.join(fiber)
        assert(Exit.isFailure(exit))
        assert.include(String(exit.cause), "NotReady")
      }).pipe(Effect.provide(Registry.layer({ discovery, policy: RoundRobin.make(), readyTimeout: "1 second" })))
    }))
})
