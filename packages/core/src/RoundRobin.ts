/**
 * Round robin: endpoints take turns, ignoring weights (ServiceTalk's round-robin load balancer,
 * nntp-proxy's `BackendSelector`, gRPC's `round_robin`).
 *
 * **Details**
 *
 * The picker walks the balancer's slot array with one cursor; the first pick starts at a random
 * position (as gRPC does) so many clients do not all hit the first endpoint together. Over any
 * `k·n` consecutive picks of an unchanged set every endpoint is picked exactly `k` times. A change
 * keeps the cursor, so survivors keep their turn order except where a removal moved the last slot
 * into the freed place. `pick` is a bounds check and an increment.
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as table from "./internal/table.ts"
import * as Policy from "./Policy.ts"

/**
 * The round-robin policy.
 *
 * **Example**
 *
 * ```ts
 * import { Balancer, Discovery, RoundRobin } from "@switchyard/core"
 *
 * declare const discovery: Discovery.Discovery
 *
 * const balancer = Balancer.make({ discovery, target: "api", policy: RoundRobin.make() })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (): Policy.Policy => ({
  name: "round-robin",
  make: (context) => {
    const slots = context.slots
    let cursor = -1
    const pick = (): Policy.Slot | undefined => {
      const n = slots.length
      if (n === 0) return undefined
      if (cursor < 0) cursor = Math.floor(context.random() * n)
      else if (++cursor >= n) cursor = 0
      return slots[cursor]
    }
    const picker: Policy.Picker = {
      ...Policy.stateless,
      pick,
      explain: () => {
        const chosen = pick()
        return {
          policy: "round-robin",
          chosen: chosen?.endpoint.address,
          candidates: chosen === undefined ? [] : [{ address: chosen.endpoint.address, score: cursor }],
          note: `turn ${cursor} of ${slots.length}`
        }
      }
    }
    // this module's own `Balancer.pickUnsafe` (see `table.PickUnsafe`)
    table.fast(picker, (invalid) => (hash) => {
      if (hash !== undefined && !table.isHash(hash)) invalid(hash)
      const slot = pick()
      return slot === undefined ? undefined : slot.endpoint
    })
    return picker
  }
})
