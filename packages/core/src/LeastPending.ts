/**
 * Least pending by power of two choices: sample two different endpoints at random and send the
 * request to the one with fewer requests in flight (Mitzenmacher, "The Power of Two Choices in
 * Randomized Load Balancing", 2001; Finagle's `P2C` least-loaded, tower's `p2c` with
 * `PendingRequests`).
 *
 * **Details**
 *
 * Pending counts are the balancer's own (`use` increments and decrements them), so this needs no
 * feedback from the endpoints. Both samples come from one random double (see `internal/sample`),
 * are always different when there are two or more endpoints, and a tie goes to the first sample,
 * which is itself random. Weights are ignored. `pick` is O(1).
 *
 * @since 0.1.0
 */
import * as sample from "./internal/sample.ts"
import * as Policy from "./Policy.ts"

/**
 * The least-pending power-of-two-choices policy.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (): Policy.Policy => ({
  name: "least-pending",
  make: (context) => {
    const slots = context.slots
    const draw = (): readonly [Policy.Slot, Policy.Slot] | undefined => {
      const n = slots.length
      if (n === 0) return undefined
      if (n === 1) return [slots[0]!, slots[0]!]
      const u = context.random()
      const i = sample.first(u, n)
      return [slots[i]!, slots[sample.second(u, n, i)]!]
    }
    return {
      ...Policy.stateless,
      pick: () => {
        const n = slots.length
        if (n < 2) return slots[0]
        const u = context.random()
        const i = sample.first(u, n)
        const a = slots[i]!
        const b = slots[sample.second(u, n, i)]!
        return b.pending < a.pending ? b : a
      },
      explain: () => {
        const pair = draw()
        if (pair === undefined) {
          return { policy: "least-pending", chosen: undefined, candidates: [], note: "no endpoints" }
        }
        const [a, b] = pair
        const chosen = b.pending < a.pending ? b : a
        return {
          policy: "least-pending",
          chosen: chosen.endpoint.address,
          candidates: [
            { address: a.endpoint.address, score: a.pending },
            { address: b.endpoint.address, score: b.pending }
          ],
          note: "two random candidates; fewer pending requests wins, a tie goes to the first"
        }
      }
    }
  }
})
