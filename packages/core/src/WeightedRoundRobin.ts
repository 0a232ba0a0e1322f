/**
 * Smooth weighted round robin by earliest deadline first: each endpoint is due again `1/weight`
 * after its last turn, and the endpoint due first goes next (the EDF scheduler of Envoy's weighted
 * round robin, `EdfScheduler`; gRPC's weighted round robin, gRFC A58, reaches the same proportions
 * with a static stride scheduler).
 *
 * **Details**
 *
 * - The picker keeps an indexed binary min-heap of the endpoints keyed by deadline (in the slots'
 *   `key` and `position` fields). `pick` takes the earliest deadline `d`, makes `d` the virtual time
 *   and moves that endpoint to `d + 1/weight`: O(log n), no allocation. Equal deadlines go to the
 *   endpoint inserted first (the initial set in slot order, then in the order endpoints were
 *   added), as in Envoy, so the schedule is deterministic given the random phases below.
 * - Over any `k · Σweight` consecutive picks of an unchanged set, each endpoint is picked
 *   `k · weight` times, ±1; exactly, whenever no two endpoints' deadlines coincide, which the random
 *   phases make the normal case. Turns are evenly spaced in virtual time (endpoint i is due every
 *   `1/weight_i`), so a heavy endpoint's picks are spread through each cycle, not taken in a block.
 * - Phases: an endpoint enters (in the initial set or when added) with deadline
 *   `time + u/weight`, `u` uniform in [0, 1) from `context.random`. That is where an endpoint that
 *   had always been in the set would be at a random moment, so a new endpoint gets its share from
 *   the first pick with no burst, and clients that start together do not move in lockstep (Envoy
 *   builds a new scheduler as if a random number of picks had been made, `createWithPicks`, for the
 *   same reason). Seed Effect's `Random` for a reproducible schedule.
 * - A weight change keeps the endpoint's phase: the time left until its deadline is scaled by
 *   `old / new`. A removal takes the endpoint out of the heap in O(log n).
 * - Virtual time is a double that grows by `1/Σweight` per pick. It is rebased to 0 (subtracted
 *   from every deadline, exactly) on the first rebalance after it passes 2^20; without rebalances
 *   the rounding of a deadline stays below 2^-12 of a turn for the first 2^40 picks.
 * - `explain` does not consume a turn: it shows the next endpoints in schedule order with their
 *   deadlines relative to the virtual time.
 *
 * @since 0.1.0
 */
import * as edf from "./internal/edf.ts"
import * as Policy from "./Policy.ts"

/**
 * The smooth weighted round-robin policy.
 *
 * **When to use**
 *
 * Endpoints of different capacity behind a policy that needs no feedback, where each should get
 * exactly its weight's share of requests in every short window.
 *
 * **Example**
 *
 * ```ts
 * import { Balancer, WeightedRoundRobin } from "@switchyard/core"
 *
 * const balancer = Balancer.make({ discovery, target: "api", policy: WeightedRoundRobin.make() })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (): Policy.Policy => ({
  name: "weighted-round-robin",
  make: (context) => {
    const heap = edf.make<Policy.Slot>()
    let time = 0
    const enter = (slot: Policy.Slot): void => {
      edf.insert(heap, slot, time + context.random() / slot.endpoint.weight)
    }
    for (const slot of context.slots) enter(slot)
    return {
      pick: () => {
        const top = heap.items[0]
        if (top === undefined) return undefined
        time = top.key
        top.key = time + 1 / top.endpoint.weight
        edf.siftDown(heap, 0)
        return top
      },
      explain: () => {
        const next = edf.smallest(heap, 8)
        return {
          policy: "weighted-round-robin",
          chosen: next[0]?.endpoint.address,
          candidates: next.map((slot) => ({ address: slot.endpoint.address, score: slot.key - time })),
          note: next.length === 0
            ? "no endpoints"
            : `earliest deadline first of ${heap.items.length}; scores are deadlines minus the virtual time ${time}; ` +
              "the chosen endpoint is next due 1/weight later (explain does not consume the turn)"
        }
      },
      added: enter,
      removed: (slot) => edf.remove(heap, slot),
      updated: (slot, previous) => {
        const weight = slot.endpoint.weight
        if (weight === previous.weight || slot.position < 0 || heap.items[slot.position] !== slot) return
        edf.rekey(heap, slot, time + (slot.key - time) * previous.weight / weight)
      },
      rebalanced: () => {
        if (time < rebaseAfter) return
        edf.shift(heap, time)
        time = 0
      }
    }
  }
})

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

const rebaseAfter = 2 ** 20
