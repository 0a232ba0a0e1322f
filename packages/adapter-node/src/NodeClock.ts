/**
 * A high-resolution `Clock` for Node, built on `process.hrtime.bigint()` from `node:process`.
 * Deno and Bun run it too, through their `node:process` compatibility.
 *
 * The wall clock and the system clock are read once, when the clock is made. After that the wall
 * clock is that reading plus the `hrtime` time elapsed since, so it has nanosecond resolution and
 * never goes backwards.
 *
 * **Compared with Effect's default clock**
 *
 * Effect 4.1's default clock also reads monotonic time from `process.hrtime.bigint()`. Its
 * `currentTimeNanos` follows `hrtime` too, but moves to a new origin whenever it drifts more than
 * one second from `Date.now()`, so it can jump backwards. Its `currentTimeMillis` is
 * `Date.now()`, which can also jump backwards, and it can disagree with its own
 * `currentTimeNanos` by up to a second. Use this clock when timestamps must be ordered and
 * consistent with each other: latency samples, EWMA decay, ejection deadlines.
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as Balancer from "@switchyard/core/Balancer"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import process from "node:process"

const nanosPerMilli = BigInt(1_000_000)

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Makes a `Clock` whose wall and monotonic time both come from `process.hrtime.bigint()`.
 *
 * **Details**
 *
 * - `monotonicTimeNanos` is `process.hrtime.bigint()`. Its origin is arbitrary (Node counts
 *   from an unspecified point in the past).
 * - `currentTimeNanos` is the wall time when the clock was made, plus the `hrtime` time elapsed
 *   since. That starting wall time is `Date.now()`, read through Effect's default clock. It is
 *   accurate to 1 ms and never ahead of the system clock.
 * - `currentTimeMillis` is `currentTimeNanos` divided by 1,000,000 and rounded down to a whole
 *   number, the same kind of value as `Date.now()`. Both readings come from the same source, so
 *   they always agree.
 * - `sleep` uses the sleep of Effect's default clock (`setTimeout`).
 *
 * **Gotchas**
 *
 * - The wall clock never moves to match the system clock. NTP slewing and manual clock changes
 *   after the clock is made are ignored. The system clock also keeps counting while the host is
 *   suspended, but Node's `hrtime` on Linux and macOS does not. In those cases `currentTimeMillis` drifts
 *   from `Date.now()`. To pick up a new system time, build the layer again.
 * - The clock replaces every other `Clock`, including `TestClock`. Its `sleep` really waits, even
 *   under `it.effect`.
 *
 * **Example**
 *
 * ```ts
 * import * as Balancer from "@switchyard/core/Balancer"
import * as Clock from "effect/Clock"
 * import * as Effect from "effect/Effect"
 * import { NodeClock } from "@switchyard/adapter-node"
 *
 * const program = Effect.gen(function*() {
 *   const clock = yield* NodeClock.make
 *   return yield* Effect.provideService(Clock.currentTimeNanos, Clock.Clock, clock)
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<Clock.Clock> = Effect.sync(() => makeWith(() => process.hrtime.bigint()))

/**
 * Makes a `Clock` from any monotonic nanosecond timer, the same way {@link make} does from
 * `process.hrtime.bigint()`: wall time is the default clock's reading at creation plus the
 * timer's elapsed time. Other runtimes' adapters (`BunClock`) build their clock with it.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeWith = (monotonicNanos: () => bigint): Clock.Clock => {
  // the shared default instance, the one a program without a Clock override uses
  const system = Context.get(Context.empty(), Clock.Clock)
  // wall first: the origin then pairs a wall time with a monotonic reading taken no earlier,
  // so the clock is never ahead of the system clock at its origin
  const originWall = BigInt(system.currentTimeMillisUnsafe()) * nanosPerMilli
  const originMonotonic = monotonicNanos()
  const currentTimeNanosUnsafe = (): bigint => originWall + (monotonicNanos() - originMonotonic)
  const currentTimeMillisUnsafe = (): number => Number(currentTimeNanosUnsafe() / nanosPerMilli)
  return {
    currentTimeMillisUnsafe,
    currentTimeMillis: Effect.sync(currentTimeMillisUnsafe),
    currentTimeNanosUnsafe,
    currentTimeNanos: Effect.sync(currentTimeNanosUnsafe),
    monotonicTimeNanosUnsafe: monotonicNanos,
    monotonicTimeNanos: Effect.sync(monotonicNanos),
    sleep: (duration) => system.sleep(duration)
  }
}

// -----------------------------------------------------------------------------
// layers
// -----------------------------------------------------------------------------

/**
 * Provides {@link make}'s clock as `Clock.Clock`. The layer reads the starting wall time when it
 * is built.
 *
 * **Details**
 *
 * `Clock.Clock` is a `Context.Reference`, a service that has a default value. So the layer
 * provides it but its output type is `never`, and nothing is required of the program.
 *
 * **Example**
 *
 * ```ts
 * import * as Balancer from "@switchyard/core/Balancer"
import * as Clock from "effect/Clock"
 * import * as Effect from "effect/Effect"
 * import { NodeClock } from "@switchyard/adapter-node"
 *
 * const nanos = Clock.currentTimeNanos.pipe(Effect.provide(NodeClock.layer))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<never> = Layer.effect(Clock.Clock, make)

/**
 * Provides `Balancer.Timer` from `performance.now()`: fractional milliseconds on the wall time
 * line (the wall time when the layer is built, plus the high-resolution time since), without a
 * `bigint` per reading, for the balancer's latencies.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerTimer: Layer.Layer<never> = Layer.sync(Balancer.Timer, () => {
  const originWall = Date.now()
  const originHighResolution = performance.now()
  return () => originWall + (performance.now() - originHighResolution)
})
