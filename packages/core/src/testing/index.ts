/**
 * switchyard's public test kit: fast-check arbitraries, the laws of changes and discovery
 * sources, and scripted test doubles. Import it from `@switchyard/core/testing`; it needs
 * `fast-check` installed beside `effect`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Arbitraries from "./Arbitraries.ts"

/** @since 0.1.0 */
export * as Laws from "./Laws.ts"

/** @since 0.1.0 */
export * as Simulator from "./Simulator.ts"

/** @since 0.1.0 */
export * as TestDiscovery from "./TestDiscovery.ts"

/** @since 0.1.0 */
export * as TestPicker from "./TestPicker.ts"
