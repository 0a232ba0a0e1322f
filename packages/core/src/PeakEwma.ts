/**
 * Peak-EWMA by power of two choices (Finagle's `Balancers.p2cPeakEwma`, Linkerd's and tower's
 * `PeakEwma`): sample two endpoints and pick the lower cost, where
 * `cost = latency estimate × (pending + 1)`.
 *
 * **Details**
 *
 * - The latency estimate is a peak EWMA: it jumps at once to any sample larger than itself, and
 *   otherwise moves toward samples with weight `1 - exp(-Δt/τ)`. Between samples it decays toward
 *   zero with the same time constant, so an endpoint that stopped getting traffic because it was
 *   slow is probed again after a while (Finagle's behaviour).
 * - `decay` (τ) defaults to **10 seconds**, Finagle's and Linkerd's default.
 * - An endpoint with no sample yet starts at `defaultLatency` (**30 ms**, tower's and Linkerd's
 *   `DEFAULT_RTT`), stamped when it joined; that start decays like a sample, as tower's does.
 * - An invalid `decay` (not a duration, zero, negative or infinite) or `defaultLatency` (not a
 *   finite duration ≥ 0) gives a policy whose `error` makes `Balancer.make` fail with a typed
 *   `Options.OptionError` naming the option and value.
 * - The balancer records one latency sample per completed `use` (successes and failures alike;
 *   interrupted calls are not samples) and keeps the estimate in the endpoint's slot, so it
 *   survives rebalances. The cost lives in the slot too (`Load.peakEwma`), so a pick compares
 *   two stored numbers: no clock read, no `exp`.
 *
 * @stability unstable
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as choices from "./internal/choices.ts"
import * as Load from "./Load.ts"
import * as Policy from "./Policy.ts"

/**
 * The default time constant of the latency estimate: 10 seconds (Finagle, Linkerd).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultDecay: Duration.Duration = Load.defaultDecay

/**
 * The latency assumed for an endpoint with no sample yet: 30 ms (tower / Linkerd `DEFAULT_RTT`).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultLatency: Duration.Duration = Load.defaultLatency

/**
 * The peak-EWMA policy: `Load.peakEwma` under the one power of two choices
 * (`internal/choices.ts`).
 *
 * **Example**
 *
 * ```ts
 * import { PeakEwma } from "@switchyard/core"
 *
 * const policy = PeakEwma.make({ decay: "5 seconds", defaultLatency: "50 millis" })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options?: {
  readonly decay?: Duration.Input | undefined
  readonly defaultLatency?: Duration.Input | undefined
}): Policy.Policy => {
  const load = Load.peakEwma(options)
  return load.error !== undefined ? Policy.invalid(load.error) : choices.policy("peak-ewma", load)
}
