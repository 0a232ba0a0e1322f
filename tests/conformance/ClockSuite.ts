/**
 * The conformance suite of a high-resolution clock layer, written once and run by each adapter
 * (`NodeClock`, `BunClock`) on each runtime that has its timer.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"

/** What a clock adapter hands the suite. */
export interface ClockUnderTest {
  /** e.g. "NodeClock" */
  readonly name: string
  readonly make: Effect.Effect<Clock.Clock>
  readonly layers: ReadonlyArray<readonly [name: string, layer: Layer.Layer<never>]>
  /** the runtime timer the clock must read for monotonic time, and its name */
  readonly timer: readonly [name: string, read: () => bigint]
  /** a reason to skip the suite on this runtime, or undefined to run it */
  readonly skip?: string | undefined
}

// Effect's default clock: the instance a program without a Clock override reads
const systemClock = Context.get(Context.empty(), Clock.Clock)
const nanosPerMilli = BigInt(1_000_000)
const reads = 10_000

const collect = (n: number, read: Effect.Effect<bigint>): Effect.Effect<Array<bigint>> =>
  Effect.gen(function*() {
    const out: Array<bigint> = []
    for (let i = 0; i < n; i++) out.push(yield* read)
    return out
  })

const firstDecrease = (xs: ReadonlyArray<bigint>): number => xs.findIndex((x, i) => i > 0 && x < xs[i - 1]!)

const smallestStep = (xs: ReadonlyArray<bigint>): bigint | undefined => {
  let smallest: bigint | undefined
  for (let i = 1; i < xs.length; i++) {
    const step = xs[i]! - xs[i - 1]!
    if (step > BigInt(0) && (smallest === undefined || step < smallest)) smallest = step
  }
  return smallest
}

export const clockSuite = (clock: ClockUnderTest): void => {
  const suffix = clock.skip === undefined ? "" : ` (skipped: ${clock.skip})`
  const [timerName, timer] = clock.timer
  for (const [name, layer] of clock.layers) {
    clockLaws(`${name}${suffix}`, layer, clock.skip !== undefined, timerName, timer)
  }
  describe.skipIf(clock.skip !== undefined)(`${clock.name}.make${suffix}`, () => {
    it.live("two clocks made 5 ms apart agree to within their 1 ms origin granularity", () =>
      Effect.gen(function*() {
        const first = yield* clock.make
        yield* Effect.sleep("5 millis")
        const second = yield* clock.make
        // same monotonic source, so the two wall readings differ only by their origins' rounding
        // (each floors Date.now to the millisecond); a wall origin paired with the wrong hrtime
        // reading would show the 5 ms gap
        const gap = first.currentTimeNanosUnsafe() - second.currentTimeNanosUnsafe()
        const abs = gap < BigInt(0) ? -gap : gap
        assert.isTrue(abs < BigInt(2_000_000), `origins differ by ${abs} ns`)
      }))
  })
}

const clockLaws = (name: string, layer: Layer.Layer<never>, skip: boolean, timerName: string, timer: () => bigint) =>
  describe.skipIf(skip)(name, () => {
    it.live("Clock.currentTimeNanos reads the layer's clock, not Effect's default clock", () =>
      Effect.gen(function*() {
        const clock = yield* Clock.Clock
        assert.notStrictEqual(clock, systemClock)
        const before = clock.currentTimeNanosUnsafe()
        const read = yield* Clock.currentTimeNanos
        const after = clock.currentTimeNanosUnsafe()
        assert.isTrue(before <= read && read <= after, `expected ${before} <= ${read} <= ${after}`)
      }).pipe(Effect.provide(layer)))

    it.effect("provided inside it.effect, the layer replaces TestClock", () =>
      Effect.gen(function*() {
        const testMillis = yield* Clock.currentTimeMillis
        const millis = yield* Clock.currentTimeMillis.pipe(Effect.provide(layer))
        const wall = systemClock.currentTimeMillisUnsafe()
        assert.isAbove(Math.abs(testMillis - wall), 1000, "TestClock should start far from the wall clock")
        assert.isAtMost(Math.abs(millis - wall), 1000)
      }))

    it.live(`monotonicTimeNanos is ${timerName}`, () =>
      Effect.gen(function*() {
        const before = timer()
        const read = yield* Clock.monotonicTimeNanos
        const after = timer()
        assert.isTrue(before <= read && read <= after, `expected ${before} <= ${read} <= ${after}`)
      }).pipe(Effect.provide(layer)))

    it.live(`currentTimeNanos never decreases over ${reads} reads and has sub-millisecond steps`, () =>
      Effect.gen(function*() {
        const xs = yield* collect(reads, Clock.currentTimeNanos)
        assert.strictEqual(firstDecrease(xs), -1)
        const step = smallestStep(xs)
        assert.isDefined(step, "the clock never advanced")
        assert.isTrue(step! < nanosPerMilli, `smallest step was ${step} ns`)
      }).pipe(Effect.provide(layer)))

    it.live(`monotonicTimeNanos never decreases over ${reads} reads and has sub-millisecond steps`, () =>
      Effect.gen(function*() {
        const xs = yield* collect(reads, Clock.monotonicTimeNanos)
        assert.strictEqual(firstDecrease(xs), -1)
        const step = smallestStep(xs)
        assert.isDefined(step, "the clock never advanced")
        assert.isTrue(step! < nanosPerMilli, `smallest step was ${step} ns`)
      }).pipe(Effect.provide(layer)))

    it.live("currentTimeMillis is currentTimeNanos in whole milliseconds", () =>
      Effect.gen(function*() {
        for (let i = 0; i < 1_000; i++) {
          const before = yield* Clock.currentTimeNanos
          const millis = yield* Clock.currentTimeMillis
          const after = yield* Clock.currentTimeNanos
          assert.isTrue(Number.isInteger(millis))
          assert.isTrue(
            Number(before / nanosPerMilli) <= millis && millis <= Number(after / nanosPerMilli),
            `expected ${before} ns <= ${millis} ms <= ${after} ns`
          )
        }
      }).pipe(Effect.provide(layer)))

    it.live("currentTimeMillis is within 1000 ms of the default clock's wall time", () =>
      Effect.gen(function*() {
        const millis = yield* Clock.currentTimeMillis
        const wall = systemClock.currentTimeMillisUnsafe()
        assert.isAtMost(Math.abs(millis - wall), 1000, `clock ${millis}, Date.now ${wall}`)
      }).pipe(Effect.provide(layer)))

    it.live("sleeping 20 millis advances wall and monotonic time by at least 19 ms", () =>
      Effect.gen(function*() {
        const wall0 = yield* Clock.currentTimeNanos
        const mono0 = yield* Clock.monotonicTimeNanos
        yield* Effect.sleep("20 millis")
        const wall1 = yield* Clock.currentTimeNanos
        const mono1 = yield* Clock.monotonicTimeNanos
        assert.isTrue(wall1 - wall0 >= BigInt(19_000_000), `wall time advanced ${wall1 - wall0} ns`)
        assert.isTrue(mono1 - mono0 >= BigInt(19_000_000), `monotonic time advanced ${mono1 - mono0} ns`)
      }).pipe(Effect.provide(layer)))
  })
