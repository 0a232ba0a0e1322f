/**
 * switchyard: client-side service discovery and load balancing for Effect.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as BalancedHttpClient from "./BalancedHttpClient.ts"

/** @since 0.1.0 */
export * as Balancer from "./Balancer.ts"

/** @since 0.1.0 */
export * as Budget from "./Budget.ts"

/** @since 0.1.0 */
export * as Change from "./Change.ts"

/** @since 0.1.0 */
export * as Connector from "./Connector.ts"

/** @since 0.1.0 */
export * as Discovery from "./Discovery.ts"

/** @since 0.1.0 */
export * as DiscoveryEvent from "./DiscoveryEvent.ts"

/** @since 0.1.0 */
export * as DnsDiscovery from "./DnsDiscovery.ts"

/** @since 0.1.0 */
export * as Endpoint from "./Endpoint.ts"

/** @since 0.1.0 */
export * as Etcd from "./Etcd.ts"

/** @since 0.1.0 */
export * as FileDiscovery from "./FileDiscovery.ts"

/** @since 0.1.0 */
export * as Health from "./Health.ts"

/** @since 0.1.0 */
export * as Hedge from "./Hedge.ts"

/** @since 0.1.0 */
export * as LeastPending from "./LeastPending.ts"

/** @since 0.1.0 */
export * as Load from "./Load.ts"

/** @since 0.1.0 */
export * as Maglev from "./Maglev.ts"

/** @since 0.1.0 */
export * as Options from "./Options.ts"

/** @since 0.1.0 */
export * as OutlierDetection from "./OutlierDetection.ts"

/** @since 0.1.0 */
export * as PeakEwma from "./PeakEwma.ts"

/** @since 0.1.0 */
export * as Policy from "./Policy.ts"

/** @since 0.1.0 */
export * as Registry from "./Registry.ts"

/** @since 0.1.0 */
export * as Resolver from "./Resolver.ts"

/** @since 0.1.0 */
export * as Retry from "./Retry.ts"

/** @since 0.1.0 */
export * as RingHash from "./RingHash.ts"

/** @since 0.1.0 */
export * as RoundRobin from "./RoundRobin.ts"

/** @since 0.1.0 */
export * as ShortestExpectedDelay from "./ShortestExpectedDelay.ts"

/** @since 0.1.0 */
export * as WeightedRandom from "./WeightedRandom.ts"

/** @since 0.1.0 */
export * as WeightedRoundRobin from "./WeightedRoundRobin.ts"
