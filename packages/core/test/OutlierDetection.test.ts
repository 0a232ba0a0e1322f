import { assert, describe, it } from "@effect/vitest"
import { Balancer, Change, Discovery, Endpoint, LeastPending, Policy, RoundRobin } from "@switchyard/core"
import * as Health from "@switchyard/core/Health"
import * as OutlierDetection from "@switchyard/core/OutlierDetection"
import { Deferred, Effect, Fiber, Random } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { params } from "./seed.ts"

const ep = Endpoint.makeUnsafe
const hostsOf = (n: number, net = 5) => Array.from({ length: n }, (_, i) => ep(`10.${net}.${i >> 8}.${i & 255}:80`))

/** An inner policy that records the slots it is given: the eligible (not ejected) subset. */
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
    size: () => seen.length,
    eligible: (): Array<string> => seen.map((slot) => slot.endpoint.address).sort()
  }
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

/** A picker driven by hand, as the simulator drives it: changes applied the way the balancer applies them. */
const driven = (policy: Policy.Policy, endpoints: ReadonlyArray<Endpoint.Endpoint>, seed = 1) => {
  const clock = { now: 0 }
  const slots: Array<Policy.Slot> = []
  const picker = policy.make({ slots, random: prng(seed), now: () => clock.now })
  const add = (endpoint: Endpoint.Endpoint) => {
    const slot = { ...Policy.makeSlot(endpoint), index: slots.length }
    slots.push(slot)
    picker.added(slot)
  }
  const remove = (slot: Policy.Slot) => {
    const last = slots.pop()!
    if (last !== slot) {
      slots[slot.index] = last
      last.index = slot.index
    }
    picker.removed(slot)
    slot.index = -1
  }
  for (const endpoint of endpoints) add(endpoint)
  picker.rebalanced()
  const slotOf = (endpoint: Endpoint.Endpoint) => slots.find((slot) => slot.endpoint.address === endpoint.address)!
  const outcome = (slot: Policy.Slot, success: boolean) =>
    picker.observe?.(slot, { success, ...(success ? {} : { error: "boom" }), latency: 1, now: clock.now })
  return {
    clock,
    slots,
    picker,
    add,
    remove,
    slotOf,
    outcome,
    /** `successes` and `failures` outcomes for `endpoint`, interleaved. */
    traffic: (endpoint: Endpoint.Endpoint, successes: number, failures: number) => {
      const slot = slotOf(endpoint)
      for (let i = 0; i < Math.max(successes, failures); i++) {
        if (i < successes) outcome(slot, true)
        if (i < failures) outcome(slot, false)
      }
    },
    picked: (times = 200): Array<string> => {
      const seen = new Set<string>()
      for (let i = 0; i < times; i++) {
        const slot = picker.pick(-1)
        if (slot !== undefined) seen.add(slot.endpoint.address)
      }
      return [...seen].sort()
    }
  }
}

const balancerOf = (policy: Policy.Policy, endpoints: ReadonlyArray<Endpoint.Endpoint>) =>
  Effect.gen(function*() {
    const balancer = yield* Balancer.makeWith({ key: "api", policy })
    yield* balancer.apply(Change.diff([], endpoints, { key: "api" }))
    return balancer
  })

const fail = (balancer: Balancer.Balancer, endpoint: Endpoint.Endpoint, times = 1) =>
  Effect.forEach(
    Array.from({ length: times }),
    () => Effect.exit(balancer.useEndpoint(endpoint, () => Effect.fail("boom"))),
    { discard: true }
  )

describe("OutlierDetection", () => {
  it("consecutive failures eject a host on the failing outcome; a success resets the count", () => {
    const watched = spy()
    const [a, b] = hostsOf(2)
    const h = driven(OutlierDetection.make(watched.policy, { consecutiveFailures: 3, maxEjectionPercent: 50 }), [
      a!,
      b!
    ])
    h.traffic(a!, 0, 2)
    h.outcome(h.slotOf(a!), true)
    h.traffic(a!, 0, 2)
    assert.deepStrictEqual(watched.eligible(), [a!.address, b!.address])
    h.traffic(a!, 0, 1)
    assert.deepStrictEqual(watched.eligible(), [b!.address], "ejected at once, not at the next sweep")
    assert.deepStrictEqual(h.picked(), [b!.address])
    assert.strictEqual(h.picker.excluded?.(), 1)
    assert.include(h.picker.explain(-1).note, `ejected ${a!.address} (ejection 1, 30000 ms left)`)
  })

  it("the success-rate detector ejects the host below mean − 1.9·stdev, given enough hosts and volume", () => {
    const watched = spy()
    const hosts = hostsOf(6)
    const h = driven(OutlierDetection.make(watched.policy, { consecutiveFailures: false }), hosts)
    for (const host of hosts.slice(0, 5)) h.traffic(host, 100, 0)
    h.traffic(hosts[5]!, 50, 50)
    h.clock.now = 9999
    h.picked(1)
    assert.strictEqual(watched.size(), 6, "nothing happens before the interval ends")
    h.clock.now = 10_000
    h.picked(1)
    assert.deepStrictEqual(watched.eligible(), hosts.slice(0, 5).map((e) => e.address).sort())

    // too few hosts with enough volume: 4 < minimumHosts 5
    const few = spy()
    const g = driven(OutlierDetection.make(few.policy, { consecutiveFailures: false }), hosts)
    for (const host of hosts.slice(0, 3)) g.traffic(host, 100, 0)
    g.traffic(hosts[3]!, 99, 0)
    g.traffic(hosts[4]!, 99, 0)
    g.traffic(hosts[5]!, 50, 50)
    g.clock.now = 10_000
    g.picked(1)
    assert.strictEqual(few.size(), 6)

    // an even spread (100%, 98% … 90%: mean 95%, stdev 3.4%) has no host below mean − 1.9·stdev
    const mild = spy()
    const m = driven(OutlierDetection.make(mild.policy, { consecutiveFailures: false }), hosts)
    hosts.forEach((host, i) => m.traffic(host, 100 - 2 * i, 2 * i))
    m.clock.now = 10_000
    m.picked(1)
    assert.strictEqual(mild.size(), 6)
  })

  it("the failure-percentage detector is off by default and, on, ejects hosts at or above the threshold", () => {
    const hosts = hostsOf(5)
    const load = (h: ReturnType<typeof driven>) => {
      h.traffic(hosts[0]!, 50, 0)
      h.traffic(hosts[1]!, 50, 0)
      h.traffic(hosts[2]!, 8, 42) // 84%
      h.traffic(hosts[3]!, 15, 85) // 85%
      h.traffic(hosts[4]!, 1, 48) // 98%, but 49 < 50 requests
      h.clock.now = 10_000
      h.picked(1)
    }
    const off = spy()
    load(driven(OutlierDetection.make(off.policy, { consecutiveFailures: false, successRate: false }), hosts))
    assert.strictEqual(off.size(), 5)
    const on = spy()
    load(
      driven(
        OutlierDetection.make(on.policy, {
          consecutiveFailures: false,
          successRate: false,
          failurePercentage: true,
          maxEjectionPercent: 100
        }),
        hosts
      )
    )
    assert.deepStrictEqual(on.eligible(), [0, 1, 2, 4].map((i) => hosts[i]!.address).sort())
  })

  it.effect("ejection lasts base × times ejected, capped at max; the multiplier drops by one per clean interval", () =>
    Effect.gen(function*() {
      const watched = spy()
      const [a, b] = hostsOf(2)
      const policy = OutlierDetection.make(watched.policy, {
        consecutiveFailures: 1,
        baseEjectionTime: "1 second",
        maxEjectionTime: "2500 millis",
        interval: "100 seconds",
        maxEjectionPercent: 100,
        panicThreshold: 0
      })
      const balancer = yield* balancerOf(policy, [a!, b!])
      /** Ejects `a` now; whether it is still out 1 ms before `ms` and back at `ms`. */
      const ejectedFor = (ms: number) =>
        Effect.gen(function*() {
          yield* fail(balancer, a!)
          yield* TestClock.adjust(ms - 1)
          balancer.pickUnsafe()
          const outJustBefore = watched.size() === 1
          yield* TestClock.adjust(1)
          balancer.pickUnsafe()
          return outJustBefore && watched.size() === 2
        })
      assert.isTrue(yield* ejectedFor(1000), "1× base")
      assert.isTrue(yield* ejectedFor(2000), "2× base")
      assert.isTrue(yield* ejectedFor(2500), "3× base, capped at max")
      assert.isTrue(yield* ejectedFor(2500), "4× base, capped at max")
      // the first sweep comes at 100 s: a was not ejected then (nor at 200 s, 300 s), so the
      // multiplier (4) drops by one per sweep
      yield* TestClock.adjust("300 seconds")
      balancer.pickUnsafe()
      assert.isTrue(yield* ejectedFor(2000), "multiplier 4 − 3 + 1 = 2")
      yield* TestClock.adjust("1 hour")
      assert.isTrue(yield* ejectedFor(1000), "idle sweeps are caught up at once: back to 1×")
    }))

  it("the cap follows gRFC A50: eject while 100·ejected ≤ maxEjectionPercent·hosts, so at least one host can go", () => {
    // [hosts, maxEjectionPercent, most ejected at once]
    const cases: ReadonlyArray<readonly [number, number, number]> = [
      [1, 10, 1],
      [9, 10, 1],
      [10, 10, 2],
      [19, 10, 2],
      [20, 10, 3],
      [4, 0, 1],
      [4, 100, 4]
    ]
    for (const [n, percent, most] of cases) {
      const watched = spy()
      const hosts = hostsOf(n)
      const h = driven(
        OutlierDetection.make(watched.policy, {
          consecutiveFailures: 1,
          maxEjectionPercent: percent,
          panicThreshold: 0
        }),
        hosts
      )
      for (const host of hosts) h.outcome(h.slotOf(host), false)
      assert.strictEqual(n - watched.size(), most, `${n} hosts at ${percent}%`)
    }
  })

  it("property: the ejected share never exceeds A50's bound, under any outcomes, time steps and membership changes", () => {
    const pool = hostsOf(24, 6)
    type Op =
      | { readonly kind: "outcome"; readonly which: number; readonly success: boolean; readonly times: number }
      | { readonly kind: "time"; readonly ms: number }
      | { readonly kind: "remove"; readonly which: number }
      | { readonly kind: "add"; readonly count: number }
      | { readonly kind: "pick" }
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 8,
        arbitrary: fc.record({
          kind: fc.constant("outcome" as const),
          which: fc.nat(),
          success: fc.boolean(),
          times: fc.integer({ min: 1, max: 30 })
        })
      },
      {
        weight: 3,
        arbitrary: fc.record({ kind: fc.constant("time" as const), ms: fc.integer({ min: 0, max: 40_000 }) })
      },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant("remove" as const), which: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("add" as const), count: fc.integer({ min: 1, max: 8 }) }) },
      { weight: 2, arbitrary: fc.constant<Op>({ kind: "pick" }) }
    )
    const options = fc.record({
      maxEjectionPercent: fc.integer({ min: 0, max: 100 }),
      panicThreshold: fc.integer({ min: 0, max: 100 }),
      consecutiveFailures: fc.oneof(fc.constant(false as const), fc.integer({ min: 1, max: 5 })),
      successRate: fc.record({
        minimumHosts: fc.integer({ min: 1, max: 6 }),
        requestVolume: fc.integer({ min: 1, max: 20 })
      }),
      failurePercentage: fc.oneof(
        fc.constant(false as const),
        fc.record({
          threshold: fc.integer({ min: 0, max: 100 }),
          minimumHosts: fc.integer({ min: 1, max: 6 }),
          requestVolume: fc.integer({ min: 1, max: 20 })
        })
      ),
      baseEjectionTime: fc.integer({ min: 1, max: 60_000 }),
      maxEjectionTime: fc.integer({ min: 0, max: 300_000 }),
      interval: fc.integer({ min: 1, max: 20_000 })
    })
    fc.assert(
      fc.property(
        options,
        fc.integer({ min: 1, max: 24 }),
        fc.array(op, { maxLength: 60 }),
        fc.nat(),
        (o, initial, ops, seed) => {
          const watched = spy()
          const policy = OutlierDetection.make(watched.policy, o)
          assert.isUndefined(policy.error)
          const h = driven(policy, pool.slice(0, initial), seed)
          const check = (what: string) => {
            const n = h.slots.length
            const ejected = n - watched.size()
            assert.isAtMost(ejected, Math.min(n, Math.floor(o.maxEjectionPercent * n / 100) + 1), `${what}: ${n} hosts`)
            assert.isAtLeast(ejected, 0)
            const panic = 100 * (n - ejected) < o.panicThreshold * n
            assert.strictEqual(h.picker.excluded?.(), panic ? 0 : ejected)
          }
          for (const step of ops) {
            if (step.kind === "time") h.clock.now += step.ms
            else if (step.kind === "pick") {
              const slot = h.picker.pick(-1)
              if (h.slots.length > 0) assert.strictEqual(h.slots[slot!.index], slot, "picked a slot not in the set")
              else assert.isUndefined(slot)
            } else if (step.kind === "remove") {
              if (h.slots.length > 0) h.remove(h.slots[step.which % h.slots.length]!)
              h.picker.rebalanced()
            } else if (step.kind === "add") {
              const present = new Set(h.slots.map((s) => s.endpoint.address))
              for (const endpoint of pool.filter((e) => !present.has(e.address)).slice(0, step.count)) h.add(endpoint)
              h.picker.rebalanced()
            } else if (h.slots.length > 0) {
              const slot = h.slots[step.which % h.slots.length]!
              for (let i = 0; i < step.times; i++) h.outcome(slot, step.success)
            }
            check(step.kind)
          }
        }
      ),
      params(1000)
    )
  })

  it("property: composed over Health, a removed endpoint is never picked and the inner picker sees only present slots", () => {
    const pool = hostsOf(8, 8)
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
        arbitrary: fc.record({ kind: fc.constant("time" as const), ms: fc.integer({ min: 0, max: 5000 }) })
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("set" as const), mask: fc.integer({ min: 0, max: 255 }) }) }
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.nat(), (ops, seed) => {
        const watched = spy(LeastPending.make())
        const policy = OutlierDetection.make(
          Health.make(watched.policy, {
            threshold: 2,
            probe: () => Effect.void,
            interval: "1 second",
            jitter: "0 millis"
          }),
          { consecutiveFailures: 2, maxEjectionPercent: 50, baseEjectionTime: "2 seconds", interval: "3 seconds" }
        )
        const h = driven(policy, pool.slice(0, 4), seed)
        for (const o of ops) {
          if (o.kind === "time") h.clock.now += o.ms
          else if (o.kind === "set") {
            const wanted = new Set(pool.filter((_, i) => (o.mask >> i) & 1).map((e) => e.address))
            for (const slot of h.slots.slice()) if (!wanted.has(slot.endpoint.address)) h.remove(slot)
            const present = new Set(h.slots.map((s) => s.endpoint.address))
            for (const endpoint of pool) {
              if (wanted.has(endpoint.address) && !present.has(endpoint.address)) h.add(endpoint)
            }
            h.picker.rebalanced()
          } else if (h.slots.length > 0) h.outcome(h.slots[o.which % h.slots.length]!, o.success)
          for (let i = 0; i < 4; i++) {
            const slot = h.picker.pick(-1)
            const present = new Set<string>(h.slots.map((s) => s.endpoint.address))
            assert.isTrue(
              watched.eligible().every((address) => present.has(address)),
              "the inner picker saw a removed slot"
            )
            if (slot !== undefined) assert.strictEqual(h.slots[slot.index], slot, "picked a removed endpoint")
            else assert.strictEqual(watched.size(), 0, "nothing picked while the inner picker had slots")
          }
        }
      }),
      params(1000)
    )
  })

  it("panic mode: when fewer than panicThreshold% of hosts remain, picks go to all hosts, ejected ones included", () => {
    const hosts = hostsOf(4)
    const watched = spy()
    const h = driven(OutlierDetection.make(watched.policy, { consecutiveFailures: 1, maxEjectionPercent: 100 }), hosts)
    h.outcome(h.slotOf(hosts[0]!), false)
    h.outcome(h.slotOf(hosts[1]!), false)
    assert.deepStrictEqual(
      h.picked(),
      [hosts[2]!.address, hosts[3]!.address].sort(),
      "2 of 4 remain: 50% is not below 50%"
    )
    h.outcome(h.slotOf(hosts[2]!), false)
    assert.strictEqual(watched.size(), 1)
    assert.deepStrictEqual(h.picked(), hosts.map((e) => e.address).sort(), "1 of 4 remain: panic")
    assert.strictEqual(h.picker.excluded?.(), 0)
    assert.include(h.picker.explain(-1).note, "panic")

    const strict = driven(
      OutlierDetection.make(RoundRobin.make(), { consecutiveFailures: 1, maxEjectionPercent: 100, panicThreshold: 0 }),
      hosts
    )
    for (const host of hosts) strict.outcome(strict.slotOf(host), false)
    assert.deepStrictEqual(strict.picked(), [], "panic off: nothing to pick")
    assert.strictEqual(strict.picker.excluded?.(), 4)
  })

  it.effect("through the balancer: all ejected without panic fails typed; hosts come back when their time is up", () =>
    Effect.gen(function*() {
      const [a, b] = hostsOf(2)
      const policy = OutlierDetection.make(RoundRobin.make(), {
        consecutiveFailures: 2,
        maxEjectionPercent: 100,
        panicThreshold: 0,
        baseEjectionTime: "5 seconds"
      })
      const balancer = yield* balancerOf(policy, [a!, b!])
      yield* fail(balancer, a!, 2)
      yield* fail(balancer, b!, 2)
      const error = yield* Effect.flip(balancer.pick)
      assert.strictEqual(error._tag, "AllEndpointsExcluded")
      assert.include(error.message, "all 2 endpoints are unhealthy or ejected")
      yield* TestClock.adjust("5 seconds")
      const back = yield* Effect.forEach(Array.from({ length: 4 }), () => balancer.pick)
      assert.deepStrictEqual(new Set(back.map((e) => e.address)), new Set([a!.address, b!.address]))
    }))

  it.effect("invalid options fail Balancer.make with an OptionError naming the option and value", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [OutlierDetection.Options, string, string]> = [
        [{ interval: "0 seconds" }, "interval", `"0 seconds"`],
        [{ baseEjectionTime: -1 }, "baseEjectionTime", "-1"],
        [{ maxEjectionTime: "forever" as never }, "maxEjectionTime", `"forever"`],
        [{ maxEjectionPercent: 101 }, "maxEjectionPercent", "101"],
        [{ maxEjectionPercent: 2.5 }, "maxEjectionPercent", "2.5"],
        [{ panicThreshold: -1 }, "panicThreshold", "-1"],
        [{ consecutiveFailures: 0 }, "consecutiveFailures", "0"],
        [{ successRate: { stdevFactor: Number.NaN } }, "successRate.stdevFactor", "NaN"],
        [{ successRate: { minimumHosts: 0 } }, "successRate.minimumHosts", "0"],
        [{ failurePercentage: { threshold: 120 } }, "failurePercentage.threshold", "120"],
        [{ failurePercentage: { requestVolume: 1.5 } }, "failurePercentage.requestVolume", "1.5"]
      ]
      for (const [options, option, value] of cases) {
        const policy = OutlierDetection.make(RoundRobin.make(), options)
        const error = yield* Effect.flip(
          Balancer.make({ discovery: Discovery.static(hostsOf(2)), target: "api", policy })
        )
        assert(error._tag === "OptionError", error._tag)
        assert.strictEqual(error.option, option)
        assert.strictEqual(error.value, value)
        assert.strictEqual(error.module, "outlier-detection")
        assert.include(error.message, "outlier-detection")
      }
    }))

  it.effect("composes: OutlierDetection over Health over LeastPending, each excluding through its own subset", () =>
    Effect.gen(function*() {
      const [a, b, c, d] = hostsOf(4)
      const watched = spy(LeastPending.make())
      let probes = 0
      const policy = OutlierDetection.make(
        Health.make(watched.policy, {
          threshold: 2,
          isFailure: (error) => error === "connect",
          probe: () => Effect.sync(() => probes++).pipe(Effect.andThen(Effect.fail("still down"))),
          interval: "1 second",
          jitter: "0 millis"
        }),
        { consecutiveFailures: 3, maxEjectionPercent: 50, isFailure: (error) => error === "http 500" }
      )
      assert.strictEqual(policy.name, "outlier-detection(health(least-pending))")
      const balancer = yield* Balancer.make({ discovery: Discovery.static([a!, b!, c!, d!]), target: "api", policy })
      yield* balancer.ready
      for (let i = 0; i < 2; i++) yield* Effect.exit(balancer.useEndpoint(a!, () => Effect.fail("connect")))
      for (let i = 0; i < 3; i++) yield* Effect.exit(balancer.useEndpoint(b!, () => Effect.fail("http 500")))
      assert.deepStrictEqual(watched.eligible(), [c!.address, d!.address])
      yield* TestClock.adjust("3 seconds")
      assert.strictEqual(probes, 3, "health probes the unhealthy host; an ejected one is not probed")
      const explanation = yield* balancer.explain()
      assert.include(explanation.note, `unhealthy (probing): ${a!.address}`)
      assert.include(explanation.note, `ejected ${b!.address}`)
      const picked = new Set<string>()
      for (let i = 0; i < 50; i++) picked.add(balancer.pickUnsafe()!.address)
      assert.deepStrictEqual([...picked].sort(), [c!.address, d!.address])
    }))

  it("property: pending returns to 0 through Balancer.use with the wrappers, whatever ends the requests", async () => {
    type Op = { readonly kind: "start" } | { readonly kind: "end"; readonly how: number; readonly which: number } | {
      readonly kind: "time"
    }
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 4, arbitrary: fc.constant<Op>({ kind: "start" }) },
      {
        weight: 5,
        arbitrary: fc.record({
          kind: fc.constant("end" as const),
          how: fc.integer({ min: 0, max: 2 }),
          which: fc.nat()
        })
      },
      { weight: 1, arbitrary: fc.constant<Op>({ kind: "time" }) }
    )
    const all = hostsOf(4, 7)
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), fc.nat(), async (ops, seed) => {
        await Effect.runPromise(
          Effect.gen(function*() {
            const policy = OutlierDetection.make(
              Health.make(LeastPending.make(), {
                threshold: 2,
                probe: () => Effect.void,
                interval: "1 second",
                jitter: "0 millis"
              }),
              { consecutiveFailures: 2, maxEjectionPercent: 50, baseEjectionTime: "1 second" }
            )
            const balancer = yield* balancerOf(policy, all)
            const live: Array<
              { readonly gate: Deferred.Deferred<void, string>; readonly fiber: Fiber.Fiber<unknown, unknown> }
            > = []
            for (const o of ops) {
              if (o.kind === "start") {
                const gate = yield* Deferred.make<void, string>()
                const fiber = yield* balancer.use(() => Deferred.await(gate)).pipe(Effect.forkChild)
                yield* Effect.yieldNow
                live.push({ gate, fiber })
              } else if (o.kind === "time") {
                yield* TestClock.adjust("700 millis")
              } else if (live.length > 0) {
                const [req] = live.splice(o.which % live.length, 1)
                if (o.how === 0) yield* Deferred.succeed(req!.gate, undefined)
                else if (o.how === 1) yield* Deferred.fail(req!.gate, "boom")
                else yield* Fiber.interrupt(req!.fiber)
                yield* Fiber.await(req!.fiber)
              }
            }
            for (const req of live) yield* Fiber.interrupt(req.fiber)
            const stats = yield* balancer.snapshot
            assert.isTrue(stats.every((s) => s.pending === 0), JSON.stringify(stats.map((s) => s.pending)))
          }).pipe(Random.withSeed(seed), Effect.provide(TestClock.layer()), Effect.scoped)
        )
      }),
      params(1000)
    )
  })
})
