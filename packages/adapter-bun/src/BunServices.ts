/**
 * Every Bun service switchyard has, in one layer. Today that is {@link BunClock.layer}, a `Clock`
 * built on `Bun.nanoseconds()`.
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as Layer from "effect/Layer"
import * as BunClock from "./BunClock.ts"

// -----------------------------------------------------------------------------
// layers
// -----------------------------------------------------------------------------

/**
 * Provides every Bun service switchyard has. Today that is only the clock,
 * {@link BunClock.layer}.
 *
 * **Details**
 *
 * New Bun services will be added to this layer as they are written, so a program that provides
 * it gets them without changing anything.
 *
 * **Gotchas**
 *
 * Outside Bun, building the layer dies, because {@link BunClock.layer} needs `Bun.nanoseconds`.
 *
 * **Example**
 *
 * ```ts
 * import * as Clock from "effect/Clock"
 * import * as Effect from "effect/Effect"
 * import { BunServices } from "@switchyard/adapter-bun"
 *
 * const nanos = Clock.currentTimeNanos.pipe(Effect.provide(BunServices.layer))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<never> = Layer.merge(BunClock.layer, BunClock.layerTimer)
