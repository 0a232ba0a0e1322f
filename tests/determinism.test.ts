/**
 * A seeded scenario (a random event script and a random polling source, both played under
 * TestClock) whose transcript must be byte-identical on Node, Bun and Deno. The test writes the
 * transcript and its SHA-256 to `tests/.transcripts/<runtime>.txt`; `scripts/test.sh` compares the
 * three files after the runs.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  Balancer,
  Change,
  Discovery,
  DiscoveryEvent,
  Endpoint,
  LeastPending,
  Maglev,
  PeakEwma,
  type Policy,
  RingHash,
  RoundRobin,
  WeightedRandom,
  WeightedRoundRobin
} from "@switchyard/core"
import { TestDiscovery } from "@switchyard/core/testing"
import { Clock, Effect, Fiber, Metric, Random, Ref, References, Schedule, Stream } from "effect"
import { TestClock } from "effect/testing"
import { createHash } from "node:crypto"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export const runtime = (): "bun" | "deno" | "node" =>
  "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node"

const pool = Array.from({ length: 8 }, (_, i) => `10.0.${i}.1:${8000 + i}`)

const randomEndpoint = Effect.gen(function*() {
  const address = pool[yield* Random.nextIntBetween(0, pool.length, { halfOpen: true })]!
  const weight = yield* Random.nextIntBetween(1, 5)
  const zone = (yield* Random.nextBoolean) ? "a" : "b"
  return Endpoint.makeUnsafe({ address, weight, zone })
})

const randomEvent = Effect.gen(function*() {
  const endpoint = yield* randomEndpoint
  const roll = yield* Random.nextIntBetween(0, 10, { halfOpen: true })
  return roll < 6
    ? DiscoveryEvent.available(endpoint)
    : roll < 8
    ? DiscoveryEvent.expired(endpoint.address)
    : DiscoveryEvent.unavailable(endpoint.address)
})

const randomPoll = Effect.gen(function*() {
  const roll = yield* Random.nextIntBetween(0, 10, { halfOpen: true })
  if (roll === 0) return yield* Effect.fail(new Error("registry unavailable"))
  if (roll === 1) return [{ address: "10.0.0.1:80", weight: -1 }]
  const size = yield* Random.nextIntBetween(0, 5)
  return (yield* Effect.forEach(Array.from({ length: size }), () => randomEndpoint)).map(Endpoint.encode)
})

const formatUpdate = (u: Discovery.Update): string =>
  u._tag === "Changed" ? Change.format(u.change) : `rejected: ${u.error.message}`

/** Plays the scenario and returns its transcript, one line per observation. */
export const scenario = (seed: number): Effect.Effect<ReadonlyArray<string>> =>
  Effect.gen(function*() {
    const lines = yield* Ref.make<ReadonlyArray<string>>([])
    const record = (source: string, text: string) =>
      Clock.currentTimeMillis.pipe(
        Effect.flatMap((t) => Ref.update(lines, (xs) => [...xs, `t=${t} ${source} ${text}`]))
      )

    const script = yield* Effect.forEach(
      Array.from({ length: 60 }),
      () => Effect.all({ delay: Random.nextIntBetween(0, 2_000), event: randomEvent })
    )
    const events = yield* Effect.orDie(TestDiscovery.fromEvents(script))
    const polled = Discovery.polling(randomPoll, Schedule.spaced("1500 millis").pipe(Schedule.jittered))

    const watchers = yield* Effect.all([
      events.updates("events").pipe(Stream.runForEach((u) => record("events", formatUpdate(u))), Effect.forkChild),
      polled.updates("polled").pipe(
        Stream.take(40),
        Stream.runForEach((u) => record("polled", formatUpdate(u))),
        Effect.forkChild
      )
    ])
    yield* TestClock.adjust("2 minutes")
    yield* Fiber.interruptAll(watchers)
    return yield* Ref.get(lines)
  }).pipe(
    Random.withSeed(seed),
    Effect.provide(TestClock.layer()),
    Effect.provideService(Metric.MetricRegistry, new Map()),
    Effect.provideService(References.MinimumLogLevel, "None"),
    Effect.scoped
  )

/** The policies whose pick sequences must agree across runtimes. */
const policies: ReadonlyArray<readonly [string, Policy.Policy]> = [
  ["round-robin", RoundRobin.make()],
  ["least-pending", LeastPending.make()],
  ["peak-ewma", PeakEwma.make()],
  ["weighted-round-robin", WeightedRoundRobin.make()],
  ["weighted-random", WeightedRandom.make()],
  ["uniform-random", WeightedRandom.uniform()],
  ["ring-hash", RingHash.make()],
  ["maglev", Maglev.make()]
]

/**
 * For each policy: a balancer over 12 weighted endpoints, 400 requests with random latencies and
 * outcomes through `use` (concurrency 8) under TestClock; the transcript is the pick sequence.
 */
export const pickScenario = (seed: number): Effect.Effect<ReadonlyArray<string>> =>
  Effect.forEach(policies, ([name, policy]) =>
    Effect.gen(function*() {
      const endpoints = Array.from({ length: 12 }, (_, i) =>
        Endpoint.makeUnsafe({ address: `10.9.0.${i + 1}:80`, weight: 1 + (i % 4) }))
      const balancer = yield* Balancer.makeWith({ key: name, policy }).pipe(Effect.orDie)
      yield* balancer.apply(Change.diff([], endpoints, { key: name }))
      const picked: Array<string> = []
      const request = Effect.gen(function*() {
        const latency = yield* Random.nextIntBetween(1, 50)
        const fails = (yield* Random.nextIntBetween(0, 10)) === 0
        yield* balancer.use((e) => {
          picked.push(e.address.slice(7, -3))
          return Effect.sleep(`${latency} millis`).pipe(Effect.andThen(fails ? Effect.fail("x") : Effect.void))
        }).pipe(Effect.ignore)
      })
      const fiber = yield* Effect.forEach(Array.from({ length: 400 }), () =>
        request, { concurrency: 8, discard: true }).pipe(Effect.forkChild)
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      return `picks ${name}: ${picked.join(",")}`
    })).pipe(
      Random.withSeed(seed),
      Effect.provide(TestClock.layer()),
      Effect.provideService(Metric.MetricRegistry, new Map()),
      Effect.scoped
    )

describe("determinism", () => {
  it.effect("the seeded scenarios (discovery and pick sequences) give the same transcript twice and writes its hash for the cross-runtime check", () =>
    Effect.gen(function*() {
      const picks = yield* pickScenario(20261121)
      assert.deepStrictEqual(picks, yield* pickScenario(20261121))
      assert.strictEqual(picks.length, policies.length)
      for (const line of picks) assert.strictEqual(line.split(",").length, 400, line.slice(0, 40))
      const first = [...(yield* scenario(20261121)), ...picks]
      const second = [...(yield* scenario(20261121)), ...picks]
      const other = yield* scenario(7)
      assert.deepStrictEqual(first, second)
      assert.notDeepEqual(first, other, "a different seed should give a different transcript")
      assert.isTrue(first.some((l) => l.includes(" events ")) && first.some((l) => l.includes(" polled ")))
      assert.isTrue(first.some((l) => l.includes("rejected: ")), "the scenario should exercise rejected updates")
      const text = first.join("\n") + "\n"
      const hash = createHash("sha256").update(text).digest("hex")
      const dir = fileURLToPath(new URL(".transcripts", import.meta.url))
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, `${runtime()}.txt`), `sha256 ${hash}\n${text}`)
    }))
})
