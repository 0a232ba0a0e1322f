/**
 * switchyard adapters for Node, which also run on Deno through its `node:` compatibility.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as NodeClock from "./NodeClock.ts"

/** @since 0.1.0 */
export * as NodeResolver from "./NodeResolver.ts"

/** @since 0.1.0 */
export * as NodeServices from "./NodeServices.ts"
