/**
 * switchyard adapters for Bun, built on Bun's native APIs.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as BunClock from "./BunClock.ts"

/** @since 0.1.0 */
export * as BunServices from "./BunServices.ts"
