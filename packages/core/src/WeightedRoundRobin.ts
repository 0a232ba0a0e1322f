/**
 * Smooth weighted round robin by earliest deadline first: each endpoint is due again `1/weight`
 * after its last turn, and the endpoint due first goes next (the EDF scheduler of Envoy's weighted
 * round robin, `EdfScheduler`; gRPC's weighted round robin, gRFC A58, reaches the same proportions
 * with a static stride scheduler).
 *
 * **Details**
 *
 * - The picker keeps an indexed binary min-heap of the endpoints keyed by deadline, laid out as
 *   typed arrays (deadlines and heap-local ids by heap position; heap positions, tie-break
 *   sequence numbers and `1/weight` by id; see `internal/edf`): a pick reads no slot but the one it
 *   returns, and the slots' `key` and `position` fields are not used. `pick` takes the earliest
 *   deadline `d`, makes `d` the virtual time and moves that endpoint to `d + 1/weight`: O(log n),
 *   no allocation. Equal deadlines go to the endpoint inserted first (the initial set in slot
 *   order, then in the order endpoints were added), as in Envoy, so the schedule is deterministic
 *   given the random phases below.
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
 * - `explain` takes the turn, as `pick` does (the picker contract), and shows the next endpoints
 *   in schedule order with their deadlines relative to the virtual time, as they were before it.
 *
 * @stability unstable
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
 * import { Balancer, Discovery, WeightedRoundRobin } from "@switchyard/core"
 *
 * declare const discovery: Discovery.Discovery
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
    /** The heap id of each slot in the heap. */
    const idOf = new Map<Policy.Slot, number>()
    /** By heap id: `1 / weight`, the time between two turns. */
    let steps = new Float64Array(0)
    /** The virtual time, `now[0]` (a typed array, so setting it on every pick allocates nothing). */
    const now = new Float64Array(1)
    const enter = (slot: Policy.Slot): void => {
      const weight = slot.endpoint.weight
      const id = edf.insert(heap, slot, now[0]! + context.random() / weight)
      if (steps.length < heap.positions.length) {
        const grown = new Float64Array(heap.positions.length)
        grown.set(steps)
        steps = grown
      }
      steps[id] = 1 / weight
      idOf.set(slot, id)
    }
    for (const slot of context.slots) enter(slot)
    const pick = (): Policy.Slot | undefined => {
      if (heap.size === 0) return undefined
      const keys = heap.keys
      const id = heap.ids[0]!
      const time = keys[0]!
      now[0] = time
      keys[0] = time + steps[id]!
      edf.siftDown(heap, 0)
      return heap.items[id]
    }
    return {
      pick,
      explain: () => {
        const next = edf.smallest(heap, 8)
        const candidates = next.map((id) => ({
          address: heap.items[id]!.endpoint.address,
          score: edf.keyOf(heap, id) - now[0]!
        }))
        const time = now[0]
        const chosen = pick()
        return {
          policy: "weighted-round-robin",
          chosen: chosen?.endpoint.address,
          candidates,
          note: chosen === undefined
            ? "no endpoints"
            : `earliest deadline first of ${heap.size}; scores are deadlines minus the virtual time ${time}; ` +
              "the chosen endpoint is next due 1/weight later"
        }
      },
      added: enter,
      removed: (slot) => {
        const id = idOf.get(slot)
        if (id === undefined) return
        idOf.delete(slot)
        edf.remove(heap, id)
      },
      updated: (slot, previous) => {
        const weight = slot.endpoint.weight
        const id = idOf.get(slot)
        if (weight === previous.weight || id === undefined) return
        steps[id] = 1 / weight
        const time = now[0]!
        edf.rekey(heap, id, time + (edf.keyOf(heap, id) - time) * previous.weight / weight)
      },
      rebalanced: () => {
        if (now[0]! < rebaseAfter) return
        edf.shift(heap, now[0]!)
        now[0] = 0
      }
    }
  }
})

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

const rebaseAfter = 2 ** 20
