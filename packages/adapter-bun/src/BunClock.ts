/**
 * A high-resolution `Clock` for Bun, built on `Bun.nanoseconds()`, the nanoseconds since the Bun
 * process started.
 *
 * The wall clock and the system clock are read once, when the clock is made. After that the wall
 * clock is that reading plus the `Bun.nanoseconds()` time elapsed since, so it has nanosecond
 * resolution and never goes backwards.
 *
 * **Compared with `NodeClock` and Effect's default clock**
 *
 * Bun also implements `process.hrtime.bigint()`, so `NodeClock` from `@switchyard/adapter-node`
 * works on Bun too. This module reads Bun's own counter instead, and otherwise behaves the same.
 * Effect 4.1's default clock moves its `currentTimeNanos` to a new origin whenever it drifts more
 * than one second from `Date.now()`, so it can jump backwards. Its `currentTimeMillis` is
 * `Date.now()` itself. This clock does neither.
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as NodeClock from "@switchyard/adapter-node/NodeClock"
import * as Balancer from "@switchyard/core/Balancer"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Makes a `Clock` whose wall and monotonic time both come from `Bun.nanoseconds()`.
 *
 * **Details**
 *
 * - `monotonicTimeNanos` is `Bun.nanoseconds()` cut to a whole number and converted to a
 *   `bigint`. It counts from process start.
 * - `currentTimeNanos` is the wall time when the clock was made, plus the `Bun.nanoseconds()`
 *   time elapsed since. That starting wall time is `Date.now()`, read through Effect's default
 *   clock. It is accurate to 1 ms and never ahead of the system clock.
 * - `currentTimeMillis` is `currentTimeNanos` divided by 1,000,000 and rounded down to a whole
 *   number, the same kind of value as `Date.now()`. Both readings come from the same source, so
 *   they always agree.
 * - `sleep` uses the sleep of Effect's default clock (`setTimeout`).
 *
 * **Gotchas**
 *
 * - Running it anywhere but Bun is a defect. Where there is no `Bun.nanoseconds`, `make` dies
 *   with an error that says so. `NodeClock` runs on Node, Bun and Deno.
 * - `Bun.nanoseconds()` returns a `number`. A `number` holds whole nanoseconds exactly only up to
 *   2^53 ns, about 104 days of uptime. After that the readings lose resolution, but they still
 *   never go backwards.
 * - The wall clock never moves to match the system clock. NTP slewing, manual clock changes and
 *   host suspend after the clock is made are ignored. To pick up a new system time, build the
 *   layer again.
 * - The clock replaces every other `Clock`, including `TestClock`. Its `sleep` really waits, even
 *   under `it.effect`.
 *
 * **Example**
 *
 * ```ts
 * import * as Balancer from "@switchyard/core/Balancer"
import * as Clock from "effect/Clock"
 * import * as Effect from "effect/Effect"
 * import { BunClock } from "@switchyard/adapter-bun"
 *
 * const program = Effect.gen(function*() {
 *   const clock = yield* BunClock.make
 *   return yield* Effect.provideService(Clock.currentTimeNanos, Clock.Clock, clock)
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<Clock.Clock> = Effect.suspend(() => {
  const bun = (globalThis as { readonly Bun?: BunNanoseconds | undefined }).Bun
  if (typeof bun?.nanoseconds !== "function") {
    return Effect.die(
      new Error(
        "BunClock.make: Bun.nanoseconds is not available on this runtime; built no clock " +
          "(use NodeClock from @switchyard/adapter-node outside Bun)"
      )
    )
  }
  return Effect.succeed(NodeClock.makeWith(() => BigInt(Math.trunc(bun.nanoseconds()))))
})

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
 * **Gotchas**
 *
 * Outside Bun, building the layer dies. See {@link make}.
 *
 * **Example**
 *
 * ```ts
 * import * as Balancer from "@switchyard/core/Balancer"
import * as Clock from "effect/Clock"
 * import * as Effect from "effect/Effect"
 * import { BunClock } from "@switchyard/adapter-bun"
 *
 * const nanos = Clock.currentTimeNanos.pipe(Effect.provide(BunClock.layer))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<never> = Layer.effect(Clock.Clock, make)

/**
 * Provides `Balancer.Timer` from `Bun.nanoseconds()` (a `number`): fractional milliseconds on the
 * wall time line, without a `bigint` per reading, for the balancer's latencies. Dies off Bun.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerTimer: Layer.Layer<never> = Layer.effect(
  Balancer.Timer,
  Effect.suspend(() => {
    const bun = (globalThis as { readonly Bun?: { readonly nanoseconds?: () => number } }).Bun
    const nanoseconds = bun?.nanoseconds
    if (nanoseconds === undefined) {
      return Effect.die(new Error("BunClock.layerTimer: Bun.nanoseconds is not available on this runtime"))
    }
    const originWall = Date.now()
    const originHighResolution = nanoseconds() / 1e6
    return Effect.succeed(() => originWall + (nanoseconds() / 1e6 - originHighResolution))
  })
)

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

/** The one part of Bun's global this module uses; declared here so bun-types is not needed. */
interface BunNanoseconds {
  readonly nanoseconds: () => number
}
