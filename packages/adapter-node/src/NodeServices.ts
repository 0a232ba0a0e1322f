/**
 * Every Node service switchyard has, in one layer. Today that is {@link NodeClock.layer}, a
 * `Clock` built on `process.hrtime.bigint()`.
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as Layer from "effect/Layer"
import * as NodeClock from "./NodeClock.ts"

// -----------------------------------------------------------------------------
// layers
// -----------------------------------------------------------------------------

/**
 * Provides every Node service switchyard has. Today that is only the clock,
 * {@link NodeClock.layer}.
 *
 * **Details**
 *
 * New Node services will be added to this layer as they are written, so a program that provides
 * it gets them without changing anything.
 *
 * **Example**
 *
 * ```ts
 * import * as Clock from "effect/Clock"
 * import * as Effect from "effect/Effect"
 * import { NodeServices } from "@switchyard/adapter-node"
 *
 * const nanos = Clock.currentTimeNanos.pipe(Effect.provide(NodeServices.layer))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<never> = Layer.merge(NodeClock.layer, NodeClock.layerTimer)
