import { assert, describe, it } from "@effect/vitest"
import {
  Balancer,
  Budget,
  Change,
  Discovery,
  Endpoint,
  Health,
  Hedge,
  Maglev,
  OutlierDetection,
  PeakEwma,
  Retry,
  RingHash,
  RoundRobin
} from "@switchyard/core"
import { Simulator, TestDiscovery } from "@switchyard/core/testing"
import { Duration, Effect, Metric, Option, References, Schedule } from "effect"
import * as fc from "fast-check"
import { params } from "./seed.ts"

/**
 * Every public constructor's options, driven with generated bad values (NaN, ±Infinity, negative,
 * fractional, huge, wrong type): each must give a typed error that names the option and shows
 * the value as given — never a silent 0, a clamp, a throw or a hang.
 */

type Kind =
  | {
    readonly _tag: "duration"
    readonly min: number
    readonly minInclusive: boolean
    readonly max: number
    readonly infinite: boolean
  }
  | { readonly _tag: "integer"; readonly min: number; readonly max: number }
  | { readonly _tag: "number"; readonly min: number; readonly max: number; readonly exclusive?: boolean }

const duration = (min: number, minInclusive: boolean, max = 2 ** 31 - 1, infinite = false): Kind => ({
  _tag: "duration",
  min,
  minInclusive,
  max,
  infinite
})
const integer = (min: number, max: number): Kind => ({ _tag: "integer", min, max })
const number = (min: number, max: number, exclusive = false): Kind => ({ _tag: "number", min, max, exclusive })

const wrongTypes: ReadonlyArray<unknown> = [null, true, {}, [], "soon", Symbol("x"), () => 1, 5n]

/** Values outside `kind`, of every sort. */
const badValues = (kind: Kind): fc.Arbitrary<unknown> => {
  const infinite = kind._tag === "duration" && kind.infinite
  const common: Array<fc.Arbitrary<unknown>> = [
    fc.constantFrom<unknown>(
      Number.NaN,
      Number.NEGATIVE_INFINITY,
      -1e300,
      ...(infinite ? [] : [Number.POSITIVE_INFINITY, 1e300])
    ),
    fc.constantFrom(...wrongTypes.filter((w) => kind._tag !== "duration" || typeof w !== "bigint"))
  ]
  const below = kind._tag === "duration" && kind.minInclusive ? kind.min - 1e-3 : kind.min
  if (kind._tag !== "number" || kind.exclusive === true || below < kind.min) {
    common.push(
      fc.double({ min: -1e12, max: below - (kind._tag === "duration" && !kind.minInclusive ? 0 : 1e-3), noNaN: true })
    )
  }
  if (kind._tag === "number" && kind.exclusive === true) common.push(fc.constantFrom(kind.min, kind.max))
  if (!infinite) common.push(fc.double({ min: kind.max + Math.max(1, kind.max * 1e-6), max: 1e15, noNaN: true }))
  if (kind._tag === "integer") {
    common.push(
      fc.double({ min: Math.max(kind.min, -1e6), max: Math.min(kind.max, 1e6), noNaN: true }).filter((x) =>
        !Number.isInteger(x)
      )
    )
    common.push(fc.integer({ min: kind.min, max: Math.min(kind.max, 100) }).map(String))
  }
  if (kind._tag === "duration") {
    common.push(
      fc.constantFrom<unknown>(
        "NaN millis",
        "-5 seconds",
        "5 lightyears",
        [Number.NaN, 0],
        ...(infinite ? [] : ["Infinity"])
      )
    )
  }
  if (kind._tag === "number") common.push(fc.constantFrom<unknown>("0.5", "1"))
  return fc.oneof(...common)
}

/** A constructor's entry point for one option: the typed error it reports for `value`, rendered. */
interface Case {
  readonly name: string
  readonly option: string
  readonly kind: Kind
  readonly error: (value: unknown) => Effect.Effect<Refusal, unknown>
}

/** What a constructor answered a bad value with. */
interface Refusal {
  readonly tag: string
  readonly text: string
  readonly reason?: string | undefined
}

const refusal = (e: { readonly _tag: string; readonly message: string; readonly reason?: unknown }): Refusal => ({
  tag: e._tag,
  text: e.message,
  reason: typeof e.reason === "string" ? e.reason : undefined
})

const flipped = <E extends { readonly _tag: string; readonly message: string }>(
  effect: Effect.Effect<unknown, E, never>
): Effect.Effect<Refusal, unknown> => Effect.flip(effect).pipe(Effect.map(refusal))

const endpoints = [Endpoint.makeUnsafe("10.0.0.1:80"), Endpoint.makeUnsafe("10.0.0.2:80")]

const withPolicy = (policy: (value: unknown) => import("@switchyard/core").Policy.Policy) => (value: unknown) =>
  flipped(
    Effect.scoped(
      Balancer.make({ discovery: Discovery.static(endpoints), target: "api", policy: policy(value) })
    )
  )

const probe = () => Effect.void

const policyCase = (
  name: string,
  option: string,
  kind: Kind,
  policy: (value: unknown) => import("@switchyard/core").Policy.Policy
): Case => ({ name, option, kind, error: withPolicy(policy) })

const set = (path: string, value: unknown): Record<string, unknown> => {
  const [head, tail] = path.split(".") as [string, string | undefined]
  return tail === undefined ? { [head]: value } : { [head]: { [tail]: value } }
}

const outlier = (option: string, kind: Kind): Case =>
  policyCase(
    "OutlierDetection.make",
    option,
    kind,
    (v) =>
      OutlierDetection.make(RoundRobin.make(), {
        ...(option.startsWith("failurePercentage") ? { failurePercentage: true } : {}),
        ...set(option, v)
      } as never)
  )

const health = (option: string, kind: Kind): Case =>
  policyCase("Health.make", option, kind, (v) => Health.make(RoundRobin.make(), { probe, ...set(option, v) } as never))

const hashCase = (
  name: string,
  run: (b: Balancer.Balancer, hash: number) => Effect.Effect<unknown, unknown>
): Case => ({
  name,
  option: "hash",
  kind: integer(0, 2 ** 32 - 1),
  error: (value) =>
    Effect.gen(function*() {
      const balancer = yield* Balancer.makeWith({ key: "api", policy: RingHash.make() })
      yield* balancer.apply(Change.diff([], endpoints, { key: "api" }))
      const error = yield* Effect.flip(run(balancer, value as number)) as Effect.Effect<
        { readonly _tag: string; readonly message: string }
      >
      return refusal(error)
    })
})

const discoveryCase = (name: string, option: string, kind: Kind, make: (v: unknown) => Discovery.Discovery): Case => ({
  name,
  option,
  kind,
  error: (value) => flipped(make(value).discover("api"))
})

const cases: ReadonlyArray<Case> = [
  policyCase("PeakEwma.make", "decay", duration(0, false), (v) => PeakEwma.make({ decay: v as never })),
  policyCase(
    "PeakEwma.make",
    "defaultLatency",
    duration(0, true),
    (v) => PeakEwma.make({ defaultLatency: v as never })
  ),
  policyCase("RingHash.make", "vnodes", integer(1, 2 ** 24), (v) => RingHash.make({ vnodes: v as never })),
  policyCase("RingHash.make", "maxRingSize", integer(1, 2 ** 24), (v) => RingHash.make({ maxRingSize: v as never })),
  policyCase("Maglev.make", "tableSize", integer(2, 2 ** 26), (v) => Maglev.make({ tableSize: v as never })),
  health("threshold", integer(-(2 ** 31 - 1), 2 ** 31 - 1)),
  health("interval", duration(0, false)),
  health("jitter", duration(0, true, 4_999)), // interval − jitter must stay positive (interval 5 s)
  health("resubscribeInterval", duration(0, false)),
  health("resubscribeJitter", duration(0, true, 9_999)),
  health("slowStart", duration(0, false)),
  health("probeTimeout", duration(0, false)),
  outlier("interval", duration(0, false)),
  outlier("baseEjectionTime", duration(0, false)),
  outlier("maxEjectionTime", duration(0, true)),
  outlier("maxEjectionPercent", integer(0, 100)),
  outlier("panicThreshold", number(0, 100)),
  outlier("consecutiveFailures", integer(1, 2 ** 31 - 1)),
  outlier("successRate.stdevFactor", number(0, 1e6)),
  outlier("successRate.minimumHosts", integer(1, 2 ** 31 - 1)),
  outlier("successRate.requestVolume", integer(1, 2 ** 31 - 1)),
  outlier("failurePercentage.threshold", number(0, 100)),
  outlier("failurePercentage.minimumHosts", integer(1, 2 ** 31 - 1)),
  outlier("failurePercentage.requestVolume", integer(1, 2 ** 31 - 1)),
  ...(["ttl", "minRetriesPerSec", "percentCanRetry"] as const).map((option): Case => ({
    name: "Budget.make",
    option,
    kind: option === "ttl" ? duration(1000, true, 60_000) : option === "minRetriesPerSec"
      ? number(0, 100_000)
      : number(0, 1000),
    error: (v) => flipped(Budget.make({ [option]: v } as never))
  })),
  ...(["maxAttempts", "perTryTimeout", "deadline"] as const).map((option): Case => ({
    name: "Retry.make",
    option,
    kind: option === "maxAttempts" ? integer(1, 100) : duration(0, false),
    error: (v) =>
      Effect.gen(function*() {
        const balancer = yield* Balancer.makeWith({ policy: RoundRobin.make() })
        return yield* flipped(Retry.use(balancer, () => Effect.void, Retry.make({ [option]: v } as never)))
      })
  })),
  {
    name: "Hedge.make",
    option: "delay",
    kind: duration(0, true),
    error: (v) => flipped(Hedge.make({ delay: v as never }))
  },
  {
    name: "Hedge.make",
    option: "delay.percentile",
    kind: number(0, 1, true),
    error: (v) => flipped(Hedge.make({ delay: { percentile: v as never } }))
  },
  {
    name: "Hedge.make",
    option: "maxHedges",
    kind: integer(0, 10),
    error: (v) => flipped(Hedge.make({ delay: 10, maxHedges: v as never }))
  },
  {
    name: "Hedge.make",
    option: "window",
    kind: integer(1, 1_000_000),
    error: (v) => flipped(Hedge.make({ delay: 10, window: v as never }))
  },
  {
    name: "Balancer.make",
    option: "readyTimeout",
    kind: duration(0, true, 2 ** 31 - 1, true),
    error: (v) =>
      flipped(
        Effect.scoped(Balancer.make({
          discovery: Discovery.static(endpoints),
          target: "api",
          policy: RoundRobin.make(),
          readyTimeout: v as never
        }))
      )
  },
  ...(["backoff.initial", "backoff.max"] as const).map((option): Case => ({
    name: "Balancer.make",
    option,
    kind: option === "backoff.initial" ? duration(0, false) : duration(1000, true),
    error: (v) =>
      flipped(
        Effect.scoped(Balancer.make({
          discovery: Discovery.static(endpoints),
          target: "api",
          policy: RoundRobin.make(),
          backoff: { [option.slice(8)]: v } as never
        }))
      )
  })),
  {
    name: "Balancer.makeWith",
    option: "readyTimeout",
    kind: duration(0, true, 2 ** 31 - 1, true),
    error: (v) => flipped(Balancer.makeWith({ policy: RoundRobin.make(), readyTimeout: v as never }))
  },
  hashCase("Balancer.pickHash", (b, h) => b.pickHash(h)),
  hashCase("Balancer.use", (b, h) => b.use(() => Effect.void, { hash: h })),
  hashCase("Balancer.picks", (b, h) => b.picks(h)),
  hashCase("Balancer.explain", (b, h) => b.explain(h)),
  discoveryCase(
    "Discovery.polling",
    "timeout",
    duration(0, false, 2 ** 31 - 1, true),
    (v) => Discovery.polling(Effect.succeed(["a:1"]), Schedule.spaced("1 second"), { timeout: v as never })
  ),
  discoveryCase(
    "Discovery.polling",
    "backoff.initial",
    duration(0, false),
    (v) => Discovery.polling(Effect.succeed(["a:1"]), Schedule.spaced("1 second"), { backoff: { initial: v as never } })
  ),
  discoveryCase(
    "Discovery.polling",
    "backoff.max",
    duration(1000, true),
    (v) => Discovery.polling(Effect.succeed(["a:1"]), Schedule.spaced("1 second"), { backoff: { max: v as never } })
  ),
  {
    name: "TestDiscovery.make",
    option: "script[1].after",
    kind: duration(0, true),
    error: (v) => flipped(TestDiscovery.make([{ after: 0, payload: ["a:1"] }, { after: v as never, payload: [] }]))
  },
  {
    name: "Simulator.run",
    option: "duration",
    kind: duration(0, false),
    error: (v) =>
      Effect.try({
        try: () =>
          Simulator.run({
            scenario: Simulator.homogeneous,
            policy: RoundRobin.make(),
            seed: 1,
            duration: v as never
          }),
        catch: (e) => e as { readonly _tag: string; readonly message: string }
      }).pipe(Effect.flip, Effect.map(refusal))
  }
]

/** How a bad value must appear in the message: as written in code, never `null` for NaN. */
const shown = (value: unknown): string =>
  typeof value === "number"
    ? Object.is(value, -0) ? "-0" : String(value)
    : typeof value === "string"
    ? JSON.stringify(value)
    : typeof value === "bigint"
    ? `${value}n`
    : typeof value === "boolean" || value === null
    ? String(value)
    : ""

/** The reason an `OptionError` must give for `value`, refused as an option of `kind`. */
const reasonOf = (kind: Kind, value: unknown): string | undefined => {
  if (typeof value === "string" && kind._tag === "duration") {
    const parsed = Duration.fromInput(value as Duration.Input)
    if (Option.isNone(parsed)) return "WrongType"
    return Number.isFinite(Duration.toMillis(parsed.value)) ? "OutOfRange" : "NotFinite"
  }
  if (typeof value !== "number") return "WrongType"
  if (!Number.isFinite(value)) return "NotFinite"
  const inRange = kind._tag === "duration"
    ? false
    : value >= kind.min && value <= kind.max && !(kind._tag === "number" && kind.exclusive === true &&
      (value === kind.min || value === kind.max))
  return kind._tag === "integer" && inRange ? "NotInteger" : "OutOfRange"
}

const run = <A>(effect: Effect.Effect<A, unknown>): A =>
  Effect.runSync(
    effect.pipe(
      Effect.provideService(Metric.MetricRegistry, new Map()),
      Effect.provideService(References.MinimumLogLevel, "None")
    ) as Effect.Effect<A>
  )

describe("options", () => {
  for (const c of cases) {
    it(`${c.name} ${c.option}: every bad value is a typed error naming the option and the value`, () => {
      fc.assert(
        fc.property(badValues(c.kind), (value) => {
          const { reason, tag, text } = run(c.error(value))
          const expectedTag = c.option === "hash"
            ? "InvalidHash"
            : c.name.startsWith("Discovery.")
            ? "DiscoveryError"
            : "OptionError"
          assert.strictEqual(tag, expectedTag, text)
          if (tag === "OptionError") assert.strictEqual(reason, reasonOf(c.kind, value), text)
          const name = c.option.split(".").pop()!
          assert.include(text, name, text)
          const expected = shown(value)
          if (expected !== "") assert.include(text, expected, text)
          if (typeof value === "number" && Number.isNaN(value)) assert.notInclude(text, "null")
        }),
        params(200)
      )
    })
  }

  it("a valid value of each kind is accepted (the generators do not reject good options)", () => {
    assert.doesNotThrow(() => run(Budget.make({ ttl: "2 seconds", minRetriesPerSec: 100_000, percentCanRetry: 1000 })))
    assert.strictEqual(run(Hedge.make({ delay: { percentile: 0.5 }, maxHedges: 10 })).maxHedges, 10)
    assert.isUndefined(Retry.make({ maxAttempts: 100, perTryTimeout: 1.5, deadline: "1 hour" }).error)
    assert.isUndefined(Health.make(RoundRobin.make(), { probe, threshold: -1, jitter: 0 }).error)
    assert.isUndefined(OutlierDetection.make(RoundRobin.make(), { maxEjectionPercent: 0, maxEjectionTime: 0 }).error)
  })

  it("a discovery's invalid empty or key option fails Balancer.make with its OptionError, and discover with an Options error", () => {
    const bad = Discovery.static(endpoints, { empty: "sometimes" as never })
    const error = run(Effect.flip(bad.discover("api")))
    assert.strictEqual(error.reason, "Options")
    assert.include(error.message, `empty: "sometimes"`)
    const made = run(
      Effect.flip(Effect.scoped(Balancer.make({ discovery: bad, target: "api", policy: RoundRobin.make() })))
    )
    assert(made._tag === "OptionError", made._tag)
    assert.strictEqual(made, bad.error)
    assert.strictEqual(made.module, "discovery")
    assert.strictEqual(made.reason, "UnknownChoice")
    assert.include(made.message, `invalid discovery option empty: "sometimes"`)
    assert.include(error.message, made.message)
    const badKey = Discovery.static(endpoints, { key: "api" as never })
    assert.include(run(Effect.flip(badKey.discover("api"))).message, `invalid discovery option key: "api"`)
    const badSchedule = Discovery.polling(Effect.succeed(["a:1"]), "5 seconds" as never)
    assert.include(
      run(Effect.flip(badSchedule.discover("api"))).message,
      `invalid discovery option schedule: "5 seconds"`
    )
  })

  it("Balancer.pickUnsafe throws InvalidHash for a hash that is not an unsigned 32-bit integer", () => {
    const balancer = run(Balancer.makeWith({ key: "api", policy: RingHash.make() }))
    run(balancer.apply(Change.diff([], endpoints, { key: "api" })))
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 32, Number.POSITIVE_INFINITY]) {
      assert.throws(() => balancer.pickUnsafe(bad), /invalid request hash/)
    }
    assert.isDefined(balancer.pickUnsafe(0))
    assert.isDefined(balancer.pickUnsafe(2 ** 32 - 1))
    assert.isDefined(balancer.pickUnsafe())
  })
})
