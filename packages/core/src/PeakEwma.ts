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
 * - An endpoint with no sample yet costs `defaultLatency × (pending + 1)`; `defaultLatency`
 *   defaults to **30 ms**, tower's and Linkerd's `DEFAULT_RTT` for new endpoints.
 * - An invalid `decay` (not a duration, zero, negative or infinite) or `defaultLatency` (not a
 *   finite duration ≥ 0) gives a policy whose `error` makes `Balancer.make` fail with a typed
 *   `PolicyError` naming the option and value.
 * - The balancer records one latency sample per completed `use` (successes and failures alike;
 *   interrupted calls are not samples) and keeps the estimate in the endpoint's slot, so it
 *   survives rebalances.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as ewma from "./internal/ewma.ts"
import * as sample from "./internal/sample.ts"
import * as Policy from "./Policy.ts"

/**
 * The default time constant of the latency estimate: 10 seconds (Finagle, Linkerd).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultDecay: Duration.Duration = Duration.seconds(10)

/**
 * The latency assumed for an endpoint with no sample yet: 30 ms (tower / Linkerd `DEFAULT_RTT`).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultLatency: Duration.Duration = Duration.millis(30)

/**
 * The peak-EWMA policy.
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
  const tau = Policy.durationOption("peak-ewma", "decay", options?.decay, defaultDecay, { millis: 0, inclusive: false })
  if (typeof tau !== "number") return Policy.invalid(tau)
  const fallback = Policy.durationOption("peak-ewma", "defaultLatency", options?.defaultLatency, defaultLatency, {
    millis: 0,
    inclusive: true
  })
  if (typeof fallback !== "number") return Policy.invalid(fallback)
  return {
    name: "peak-ewma",
    decayMillis: tau,
    make: (context) => {
      const slots = context.slots
      const cost = (slot: Policy.Slot, now: number): number =>
        ewma.current(slot.latency, slot.stamp, now, tau, fallback) * (slot.pending + 1)
      return {
        ...Policy.stateless,
        pick: () => {
          const n = slots.length
          if (n < 2) return slots[0]
          const u = context.random()
          const i = sample.first(u, n)
          const a = slots[i]!
          const b = slots[sample.second(u, n, i)]!
          const now = context.now()
          return cost(b, now) < cost(a, now) ? b : a
        },
        explain: () => {
          const n = slots.length
          if (n === 0) return { policy: "peak-ewma", chosen: undefined, candidates: [], note: "no endpoints" }
          const now = context.now()
          const u = context.random()
          const i = sample.first(u, n)
          const a = slots[i]!
          const b = n < 2 ? a : slots[sample.second(u, n, i)]!
          const chosen = cost(b, now) < cost(a, now) ? b : a
          return {
            policy: "peak-ewma",
            chosen: chosen.endpoint.address,
            candidates: [a, b].map((s) => ({ address: s.endpoint.address, score: cost(s, now) })),
            note: `two random candidates; lower latency estimate (ms) × (pending + 1) wins; τ = ${tau} ms`
          }
        }
      }
    }
  }
}
