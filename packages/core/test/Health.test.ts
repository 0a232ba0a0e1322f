import { assert, describe, it } from "@effect/vitest"
import {
  Balancer,
  Change,
  Discovery,
  Endpoint,
  LeastPending,
  Policy,
  RoundRobin,
  WeightedRandom
} from "@switchyard/core"
import * as Health from "@switchyard/core/Health"
import { Clock, Deferred, Effect, Exit, Fiber, Random, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { params } from "./seed.ts"

const ep = Endpoint.makeUnsafe
const a = ep("10.0.0.1:80")
const b = ep("10.0.0.2:80")
const c = ep("10.0.0.3:80")

/** Random pinned to one value, so every jittered wait is exactly predictable. */
const fixedRandom = (u: number) =>
  Effect.provideService(Random.Random, { nextDoubleUnsafe: () => u, nextIntUnsafe: () => 0 })

/** An inner policy that records the slots it is given: the eligible subset. */
const spy = (inner: Policy.Policy = RoundRobin.make()) => {
  let seen: ReadonlyArray<Policy.Slot> = []
  return {
    policy: {
      name: inner.name,
      make: (context: Policy.Host) => {
        seen = context.slots
        return inner.make(context)
      }
    } satisfies Policy.Policy,
    eligible: (): Array<string> => seen.map((slot) => slot.endpoint.address).sort()
  }
}

/** A probe that counts its runs and passes only for the addresses in `passing`. */
const probeOf = () => {
  const passing = new Set<string>()
  const runs: Array<{ readonly address: string; readonly at: number }> = []
  return {
    passing,
    runs,
    probe: (endpoint: Endpoint.Endpoint) =>
      Effect.gen(function*() {
        runs.push({ address: endpoint.address, at: yield* Clock.currentTimeMillis })
        if (!passing.has(endpoint.address)) return yield* Effect.fail("refused")
      })
  }
}

const balancerOf = (policy: Policy.Policy, endpoints: ReadonlyArray<Endpoint.Endpoint>) =>
  Effect.gen(function*() {
    const balancer = yield* Balancer.makeWith({ key: "api", policy })
    yield* balancer.apply(Change.diff([], endpoints, { key: "api" }))
    return balancer
  })

const fail = (balancer: Balancer.Balancer, endpoint: Endpoint.Endpoint, times = 1, error: unknown = "boom") =>
  Effect.forEach(
    Array.from({ length: times }),
    () => Effect.exit(balancer.useEndpoint(endpoint, () => Effect.fail(error))),
    { discard: true }
  )

const succeed = (balancer: Balancer.Balancer, endpoint: Endpoint.Endpoint) =>
  balancer.useEndpoint(endpoint, () => Effect.void)

const picked = (balancer: Balancer.Balancer, times = 30): Array<string> => {
  const seen = new Set<string>()
  for (let i = 0; i < times; i++) {
    const endpoint = balancer.pickUnsafe()
    if (endpoint !== undefined) seen.add(endpoint.address)
  }
  return [...seen].sort()
}

/** mulberry32: a seeded uniform double in [0, 1). */
const prng = (seed: number) => {
  let s = seed | 0
  return () => {
    s = (s + 0x6d2b79f5) | 0
    let t = Math.imul(s ^ (s >>> 15), 1 | s)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A picker driven by hand, as the simulator drives it: no `fork`, time set by the test. */
const driven = (policy: Policy.Policy, endpoints: ReadonlyArray<Endpoint.Endpoint>, seed = 1) => {
  const clock = { now: 0 }
  const slots: Array<Policy.Slot> = []
  const picker = policy.make({ slots, random: prng(seed), now: () => clock.now })
  for (const endpoint of endpoints) {
    const slot = { ...Policy.makeSlot(endpoint), index: slots.length }
    slots.push(slot)
    picker.added(slot)
  }
  picker.rebalanced()
  const slotOf = (endpoint: Endpoint.Endpoint) => slots.find((slot) => slot.endpoint.address === endpoint.address)!
  return {
    clock,
    slots,
    picker,
    slotOf,
    outcome: (endpoint: Endpoint.Endpoint, success: boolean) =>
      picker.observe?.(slotOf(endpoint), {
        success,
        ...(success ? {} : { error: "boom" }),
        latency: 1,
        now: clock.now
      })
  }
}

describe("Health", () => {
  it.effect("a host leaves selection after `threshold` consecutive failures, and a success resets the count", () =>
    Effect.gen(function*() {
      const { probe } = probeOf()
      const balancer = yield* balancerOf(Health.make(RoundRobin.make(), { threshold: 3, probe }), [a, b])
      yield* fail(balancer, a, 2)
      yield* succeed(balancer, a)
      yield* fail(balancer, a, 2)
      assert.deepStrictEqual(
        picked(balancer),
        [a.address, b.address],
        "2 + 2 failures around a success are not 3 in a row"
      )
      yield* fail(balancer, a)
      assert.deepStrictEqual(picked(balancer), [b.address], "the third consecutive failure takes it out")
      assert.include((yield* balancer.explain()).note, `unhealthy (probing): ${a.address}`)
    }))

  it.effect("only failures that isFailure counts make a host unhealthy; the others reset the count", () =>
    Effect.gen(function*() {
      const { probe } = probeOf()
      const policy = Health.make(RoundRobin.make(), {
        threshold: 2,
        probe,
        isFailure: (error) => error === "connect"
      })
      const balancer = yield* balancerOf(policy, [a, b])
      yield* fail(balancer, a, 5, "http 500")
      yield* fail(balancer, a, 1, "connect")
      yield* fail(balancer, a, 1, "http 500")
      yield* fail(balancer, a, 1, "connect")
      assert.deepStrictEqual(picked(balancer), [a.address, b.address])
      yield* fail(balancer, a, 1, "connect")
      assert.deepStrictEqual(picked(balancer), [b.address])
    }))

  it.effect("a negative threshold turns health checking off: the policy is the inner one and failing hosts stay", () =>
    Effect.gen(function*() {
      const inner = RoundRobin.make()
      const policy = Health.make(inner, { threshold: -1, probe: () => Effect.void })
      assert.strictEqual(policy, inner)
      const balancer = yield* balancerOf(policy, [a, b])
      yield* fail(balancer, a, 50)
      assert.deepStrictEqual(picked(balancer), [a.address, b.address])
    }))

  it.effect("invalid options fail Balancer.make with an OptionError naming the option and value", () =>
    Effect.gen(function*() {
      const probe = () => Effect.void
      const cases = [
        [{ threshold: 0 }, "threshold", "0"],
        [{ threshold: 2.5 }, "threshold", "2.5"],
        [{ interval: "0 seconds" }, "interval", `"0 seconds"`],
        [{ jitter: "-1 seconds" }, "jitter", `"-1 seconds"`],
        [{ jitter: "5 seconds" }, "jitter", `"5 seconds"`],
        [{ interval: "1 second" }, "jitter", "3000 ms (the default)"],
        [{ resubscribeJitter: "10 seconds" }, "resubscribeJitter", `"10 seconds"`],
        [{ slowStart: "0 seconds" }, "slowStart", `"0 seconds"`]
      ] as const
      for (const [options, option, value] of cases) {
        const policy = Health.make(RoundRobin.make(), { probe, ...options })
        const error = yield* Effect.flip(Balancer.make({ discovery: Discovery.static([a]), target: "api", policy }))
        assert(error._tag === "OptionError", error._tag)
        assert.strictEqual(error.option, option)
        assert.strictEqual(error.value, value)
        assert.strictEqual(error.module, "health")
      }
      const inner = Health.make(RoundRobin.make(), { probe, threshold: 0 })
      assert.strictEqual(Health.make(inner, { probe }), inner, "an invalid inner policy is passed through")
    }))

  it.effect("the defaults are ServiceTalk's: threshold 5, probes every 5 s ± 3 s", () =>
    Effect.gen(function*() {
      const { probe, runs } = probeOf()
      const balancer = yield* balancerOf(Health.make(RoundRobin.make(), { probe }), [a, b]).pipe(fixedRandom(0))
      yield* fail(balancer, a, 4)
      assert.deepStrictEqual(picked(balancer), [a.address, b.address])
      yield* fail(balancer, a)
      assert.deepStrictEqual(picked(balancer), [b.address])
      yield* TestClock.adjust("1999 millis")
      assert.strictEqual(runs.length, 0)
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(runs.map((r) => r.at), [2000], "the shortest wait is interval − jitter = 2 s")
    }))

  it.effect("probes run every interval ± jitter, the wait drawn from Random", () =>
    Effect.gen(function*() {
      for (const [u, wait] of [[0, 800], [0.5, 1000], [0.75, 1100]] as const) {
        const { probe, runs } = probeOf()
        const start = yield* Clock.currentTimeMillis
        const policy = Health.make(RoundRobin.make(), {
          threshold: 1,
          probe,
          interval: "1 second",
          jitter: "200 millis"
        })
        const balancer = yield* balancerOf(policy, [a, b]).pipe(fixedRandom(u))
        yield* fail(balancer, a)
        yield* TestClock.adjust(wait - 1)
        assert.strictEqual(runs.length, 0, `u = ${u}: no probe before ${wait} ms`)
        yield* TestClock.adjust(2 * wait + 1)
        assert.deepStrictEqual(runs.map((r) => r.at - start), [wait, 2 * wait, 3 * wait], `u = ${u}`)
        yield* TestClock.adjust("10 seconds")
      }
      // seeded: every gap within [800, 1200], and not all the same
      const { probe, runs } = probeOf()
      const policy = Health.make(RoundRobin.make(), { threshold: 1, probe, interval: "1 second", jitter: "200 millis" })
      const balancer = yield* balancerOf(policy, [a, b]).pipe(Random.withSeed(7))
      yield* fail(balancer, a)
      yield* TestClock.adjust("30 seconds")
      const gaps = runs.slice(1).map((r, i) => r.at - runs[i]!.at)
      assert.isAbove(gaps.length, 20)
      assert.isTrue(gaps.every((g) => g >= 800 && g <= 1200), String(gaps))
      assert.isAbove(new Set(gaps).size, 5)
    }))

  it.effect("a passing probe brings the host back at once, with its failure count reset", () =>
    Effect.gen(function*() {
      const { probe, runs, passing } = probeOf()
      const policy = Health.make(RoundRobin.make(), { threshold: 2, probe, interval: "1 second", jitter: "0 millis" })
      const balancer = yield* balancerOf(policy, [a, b])
      yield* fail(balancer, a, 2)
      yield* TestClock.adjust("3 seconds")
      assert.strictEqual(runs.length, 3)
      assert.deepStrictEqual(picked(balancer), [b.address])
      passing.add(a.address)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(runs.length, 4)
      assert.deepStrictEqual(picked(balancer), [a.address, b.address], "back right after the passing probe")
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(runs.length, 4, "the probe loop ended")
      yield* fail(balancer, a)
      assert.deepStrictEqual(picked(balancer), [a.address, b.address], "the count started again from zero")
      yield* fail(balancer, a)
      assert.deepStrictEqual(picked(balancer), [b.address])
    }))

  it.effect("a request that was in flight when its host went unhealthy and then succeeds brings the host back", () =>
    Effect.gen(function*() {
      const { probe, runs } = probeOf()
      const policy = Health.make(RoundRobin.make(), { threshold: 1, probe, interval: "1 second", jitter: "0 millis" })
      const balancer = yield* balancerOf(policy, [a, b])
      const gate = yield* Deferred.make<void>()
      const inFlight = yield* balancer.useEndpoint(a, () => Deferred.await(gate)).pipe(Effect.forkChild)
      yield* Effect.yieldNow
      yield* fail(balancer, a)
      assert.deepStrictEqual(picked(balancer), [b.address])
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(inFlight)
      assert.deepStrictEqual(picked(balancer), [a.address, b.address])
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(runs.length, 0, "its probe stopped")
    }))

  it.effect("a probe that hangs or dies counts as failed (probeTimeout, default the interval); the next probe still runs", () =>
    Effect.gen(function*() {
      let runs = 0
      const probe = (_: Endpoint.Endpoint) =>
        Effect.suspend(() => {
          runs++
          if (runs === 1) return Effect.never
          if (runs === 2) throw new Error("probe bug")
          return Effect.void
        })
      const policy = Health.make(RoundRobin.make(), { threshold: 1, probe, interval: "1 second", jitter: 0 })
      const balancer = yield* balancerOf(policy, [a, b])
      yield* fail(balancer, a)
      assert.deepStrictEqual(picked(balancer), [b.address])
      yield* TestClock.adjust("1 second") // probe 1 starts and hangs
      yield* TestClock.adjust("1 second") // … times out; 1 s later probe 2 dies
      yield* TestClock.adjust("1 second")
      assert.strictEqual(runs, 2)
      assert.deepStrictEqual(picked(balancer), [b.address])
      yield* TestClock.adjust("1 second") // probe 3 passes
      assert.strictEqual(runs, 3)
      assert.deepStrictEqual(picked(balancer), [a.address, b.address])
    }))

  it.effect("when every host is unhealthy, picks fail typed and resubscribe runs every interval ± jitter, and not otherwise", () =>
    Effect.gen(function*() {
      const base = Discovery.static([a, b])
      let subscriptions = 0
      // the balancer watches `updates` (through Discovery.follow)
      const discovery: Discovery.Discovery<string> = {
        ...base,
        updates: (target) =>
          Stream.unwrap(Effect.sync(() => {
            subscriptions++
            return base.updates(target)
          }))
      }
      const { probe, passing } = probeOf()
      const policy = Health.make(RoundRobin.make(), {
        threshold: 1,
        probe,
        resubscribeInterval: "10 seconds",
        resubscribeJitter: "2 seconds"
      })
      const balancer = yield* Balancer.make({ discovery, target: "api", policy }).pipe(fixedRandom(0.5))
      yield* balancer.ready
      assert.strictEqual(subscriptions, 1)
      yield* fail(balancer, a)
      yield* TestClock.adjust("60 seconds")
      assert.strictEqual(subscriptions, 1, "one healthy host left: no resubscription")
      yield* fail(balancer, b)
      const error = yield* Effect.flip(balancer.pick)
      assert.strictEqual(error._tag, "AllEndpointsExcluded")
      yield* TestClock.adjust("9999 millis")
      assert.strictEqual(subscriptions, 1)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(subscriptions, 2)
      yield* TestClock.adjust("20 seconds")
      assert.strictEqual(subscriptions, 4, "again every 10 s while all stay unhealthy")
      passing.add(b.address)
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(picked(balancer), [b.address])
      yield* TestClock.adjust("60 seconds")
      assert.strictEqual(subscriptions, 4, "a host came back: resubscription stopped")
    }))

  it.effect("gateNewEndpoints: a new endpoint is probed at once, then every interval, and picked only after a probe passes", () =>
    Effect.gen(function*() {
      const { probe, runs, passing } = probeOf()
      passing.add(a.address)
      const policy = Health.make(RoundRobin.make(), {
        probe,
        gateNewEndpoints: true,
        interval: "1 second",
        jitter: "0 millis"
      })
      const balancer = yield* balancerOf(policy, [a])
      assert.deepStrictEqual(runs.map((r) => r.address), [a.address], "the first set is gated too")
      assert.deepStrictEqual(picked(balancer), [a.address])
      yield* balancer.apply(Change.diff([a], [a, b]))
      assert.strictEqual(runs.length, 2, "probed at once")
      assert.deepStrictEqual(picked(balancer), [a.address])
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(runs.length, 4)
      assert.deepStrictEqual(picked(balancer), [a.address])
      passing.add(b.address)
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(picked(balancer), [a.address, b.address])
      const gatedOnly = yield* balancerOf(policy, [c])
      const error = yield* Effect.flip(gatedOnly.pick)
      assert.strictEqual(error._tag, "AllEndpointsExcluded")
      assert.include((yield* gatedOnly.explain()).note, `awaiting a first passing probe: ${c.address}`)
    }))

  it.effect("a removed endpoint's probe is interrupted, and so are all probes when the scope closes", () =>
    Effect.gen(function*() {
      let started = 0
      let interrupted = 0
      const probe = () =>
        Effect.sync(() => started++).pipe(
          Effect.andThen(Effect.never),
          Effect.onInterrupt(() => Effect.sync(() => interrupted++))
        )
      const policy = Health.make(RoundRobin.make(), { threshold: 1, probe, interval: "1 second", jitter: "0 millis" })
      const balancer = yield* balancerOf(policy, [a, b, c])
      yield* fail(balancer, a)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(started, 1)
      yield* balancer.apply(Change.diff([a, b, c], [b, c]))
      yield* Effect.yieldNow
      assert.strictEqual(interrupted, 1)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(started, 1)

      const scope = yield* Scope.make()
      const scoped = yield* balancerOf(policy, [a, b]).pipe(Scope.provide(scope))
      yield* fail(scoped, a)
      yield* fail(scoped, b)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(started, 3)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(interrupted, 3)
    }))

  it("without context.fork (the simulator) an unhealthy host rejoins once its jittered interval has passed", () => {
    const policy = Health.make(RoundRobin.make(), {
      threshold: 2,
      probe: () => Effect.die("never runs"),
      interval: "1 second",
      jitter: "0 millis",
      gateNewEndpoints: true
    })
    const h = driven(policy, [a, b])
    const addresses = () => {
      const seen = new Set<string>()
      for (let i = 0; i < 10; i++) seen.add(h.picker.pick(-1)!.endpoint.address)
      return [...seen].sort()
    }
    assert.deepStrictEqual(addresses(), [a.address, b.address], "gating needs a runtime: new endpoints join at once")
    h.clock.now = 500
    h.outcome(a, false)
    h.outcome(a, false)
    assert.deepStrictEqual(addresses(), [b.address])
    assert.strictEqual(h.picker.excluded?.(), 1)
    h.clock.now = 1499
    assert.deepStrictEqual(addresses(), [b.address])
    h.clock.now = 1500
    assert.deepStrictEqual(addresses(), [a.address, b.address])
    assert.strictEqual(h.picker.excluded?.(), 0)
  })

  it("slow start: a rejoining host's share ramps up over the window, then it takes its full share", () => {
    const policy = Health.make(WeightedRandom.uniform(), {
      threshold: 1,
      probe: () => Effect.void,
      interval: "1 second",
      jitter: "0 millis",
      slowStart: "10 seconds"
    })
    const h = driven(policy, [a, b], 42)
    const share = (at: number) => {
      h.clock.now = at
      let count = 0
      for (let i = 0; i < 20_000; i++) if (h.picker.pick(-1)!.endpoint.address === b.address) count++
      return count / 20_000
    }
    assert.approximately(share(0), 0.5, 0.02, "the first set does not ramp")
    h.outcome(b, false)
    assert.strictEqual(share(500), 0, "unhealthy")
    // kept with probability f = elapsed / window, else drawn again (at most twice): a host the
    // inner picker chooses with probability p ends up with p·(f + (1 − f)·p·(f + (1 − f)·p))
    const expected = (f: number, p = 0.5) => p * (f + (1 - f) * p * (f + (1 - f) * p))
    const early = share(1000 + 1000)
    const middle = share(1000 + 5000)
    const late = share(1000 + 9000)
    assert.approximately(early, expected(0.1), 0.015)
    assert.approximately(middle, expected(0.5), 0.015)
    assert.approximately(late, expected(0.9), 0.015)
    assert.isTrue(early < middle && middle < late)
    assert.approximately(share(1000 + 10_000), 0.5, 0.015, "after the window")
    assert.include(h.picker.explain(-1).note, "health: no endpoint excluded")
  })

  it.effect("explain and trace pick as pick does, and name the excluded hosts", () =>
    Effect.gen(function*() {
      const { probe } = probeOf()
      const traces: Array<Policy.Explanation> = []
      const balancer = yield* Balancer.makeWith({
        key: "api",
        policy: Health.make(RoundRobin.make(), { threshold: 1, probe }),
        trace: (e) => traces.push(e)
      })
      yield* balancer.apply(Change.diff([], [a, b, c]))
      yield* fail(balancer, a)
      const chosen = yield* Effect.forEach(Array.from({ length: 6 }), () => balancer.pick)
      assert.deepStrictEqual(traces.map((t) => t.chosen), chosen.map((e) => e.address))
      assert.isTrue(chosen.every((e) => e.address !== a.address))
      assert.strictEqual(traces[0]!.policy, "health(round-robin)")
      assert.include(traces[0]!.note, `unhealthy (probing): ${a.address}`)
    }))

  it("property: the inner picker only ever sees eligible, present slots; removed endpoints are never picked", () => {
    const pool = Array.from({ length: 6 }, (_, i) => ep(`10.4.0.${i + 1}:80`))
    type Op =
      | { readonly kind: "outcome"; readonly which: number; readonly success: boolean }
      | { readonly kind: "time"; readonly ms: number }
      | { readonly kind: "set"; readonly mask: number }
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({ kind: fc.constant("outcome" as const), which: fc.nat(), success: fc.boolean() })
      },
      {
        weight: 2,
        arbitrary: fc.record({ kind: fc.constant("time" as const), ms: fc.integer({ min: 0, max: 3000 }) })
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("set" as const), mask: fc.integer({ min: 0, max: 63 }) }) }
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 4 }), fc.nat(), (ops, threshold, seed) => {
        const watched = spy(LeastPending.make())
        const policy = Health.make(watched.policy, {
          threshold,
          probe: () => Effect.void,
          interval: "1 second",
          jitter: "500 millis",
          slowStart: "2 seconds"
        })
        const h = driven(policy, pool.slice(0, 3), seed)
        for (const o of ops) {
          if (o.kind === "time") h.clock.now += o.ms
          else if (o.kind === "set") {
            const next = pool.filter((_, i) => (o.mask >> i) & 1)
            const present = new Set(h.slots.map((s) => s.endpoint.address))
            const wanted = new Set(next.map((e) => e.address))
            for (const slot of h.slots.slice()) {
              if (wanted.has(slot.endpoint.address)) continue
              const last = h.slots.pop()!
              if (last !== slot) {
                h.slots[slot.index] = last
                last.index = slot.index
              }
              h.picker.removed(slot)
            }
            for (const endpoint of next) {
              if (present.has(endpoint.address)) continue
              const slot = { ...Policy.makeSlot(endpoint), index: h.slots.length }
              h.slots.push(slot)
              h.picker.added(slot)
            }
            h.picker.rebalanced()
          } else if (h.slots.length > 0) {
            const slot = h.slots[o.which % h.slots.length]!
            h.picker.observe?.(slot, { success: o.success, error: "boom", latency: 1, now: h.clock.now })
          }
          const present = new Set<string>(h.slots.map((s) => s.endpoint.address))
          for (let i = 0; i < 5; i++) {
            const slot = h.picker.pick(-1)
            // a pick may first let in the hosts whose interval passed: read the subset after it
            const eligible = watched.eligible()
            assert.isTrue(eligible.every((address) => present.has(address)), "the inner picker saw a removed slot")
            assert.strictEqual(new Set(eligible).size, eligible.length)
            assert.strictEqual(h.picker.excluded?.(), h.slots.length - eligible.length)
            if (slot === undefined) assert.strictEqual(eligible.length, 0)
            else {
              assert.strictEqual(h.slots[slot.index], slot, "picked a slot that is not in the set")
              assert.include(eligible, slot.endpoint.address, "picked an excluded slot")
            }
          }
        }
      }),
      params(1000)
    )
  })
})
