/**
 * Smooth weighted round robin by a static stride scheduler (gRPC's weighted round robin, gRFC A58,
 * and grpc-go `balancer/weightedroundrobin/scheduler.go`): the endpoints take turns in a fixed
 * order, round after round, and an endpoint of weight `w` takes its turn in `w` of every `W` rounds,
 * where `W` is the largest weight. O(1) expected per pick, no allocation.
 *
 * **Details**
 *
 * - A pick walks the order from a cursor. At each endpoint it adds the weight to the endpoint's
 *   credit; when the credit reaches `W` the endpoint is picked and the credit drops by `W`, else
 *   the walk goes on (see `internal/stride`). Weights stay exact integers (gRPC rounds them to 16
 *   bits). An endpoint heavier than twice the mean weight is split into `⌈w / cap⌉` entries of
 *   nearly equal weight, `cap = ⌈2·Σweight/n⌉`, at evenly spaced points of the order; so the order
 *   has at most `1.5·n` entries and a pick looks at no more than `3 + n/Σweight ≤ 4` of them on
 *   average, whatever the weights (`n·W/Σweight ≤ 2` without a split). A pick reads two typed
 *   arrays and returns one slot; the slots' fields are not read.
 * - Shares: any `Σweight` consecutive picks that follow the last change give every endpoint exactly
 *   `weight` picks (each entry is visited once per round, and over any `W` rounds its credit grows
 *   by `weight·W` and comes back where it was). Picks are spread through the cycle, not taken in a
 *   block: over any `r` consecutive rounds an entry is picked `⌊r·w/W⌋` or `⌈r·w/W⌉` times, and
 *   the entries of a split endpoint sit `≈ size/k` apart in the order.
 * - Phases: an endpoint enters (in the initial set or when added) with a credit of `u·W`, `u`
 *   uniform in [0, 1) from `context.random`: where an endpoint that had always been in the set
 *   would be at a random moment, so a new endpoint gets its share from the first pick with no
 *   burst, and clients that start together do not move in lockstep (gRPC offsets its endpoints for
 *   the same reason). Seed Effect's `Random` for a reproducible schedule.
 * - Changes: the order is rebuilt in `rebalanced()` (O(n), or before the next pick if that comes
 *   first). Endpoints keep their credits: exactly when their number of entries and `W` are
 *   unchanged (a weight change then changes only the rate), else rescaled to the new `W`. The
 *   cursor keeps its relative place in the round, so frequent changes favour no part of the order.
 *   A window of `Σweight` picks that spans a change can be off by about one pick per endpoint.
 * - `explain` takes the turn, as `pick` does (the picker contract), and shows the next endpoints in
 *   the order of their turns, with how many picks come before each.
 *
 * @stability unstable
 * @since 0.1.0
 */
import type * as Endpoint from "./Endpoint.ts"
import * as stride from "./internal/stride.ts"
import * as table from "./internal/table.ts"
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
    const schedule = stride.make<Policy.Slot>()
    /** The phases of the slots added since the last build. */
    const entering = new Map<Policy.Slot, number>()
    let dirty = false
    // each entry's endpoint, by position: the fast pick reads no slot (at 10,000 endpoints a slot is
    // a cache miss of its own)
    let endpoints: Array<Endpoint.Endpoint> = []
    const phaseOf = (slot: Policy.Slot): number => entering.get(slot) ?? 0
    const rebuild = (): void => {
      stride.build(schedule, context.slots, weightOf, phaseOf)
      entering.clear()
      dirty = false
      endpoints = schedule.items.map((slot) => slot.endpoint)
    }
    for (const slot of context.slots) entering.set(slot, context.random())
    rebuild()
    const pick = (): Policy.Slot | undefined => {
      if (dirty) rebuild()
      return stride.next(schedule)
    }
    const picker: Policy.Picker = {
      pick,
      explain: () => {
        if (dirty) rebuild()
        const next = stride.upcoming(schedule, 8, Math.min(schedule.size * schedule.max, 2 * schedule.size + 4096))
        const candidates = next.map(({ before, item }) => ({ address: item.endpoint.address, score: before }))
        const chosen = pick()
        return {
          policy: "weighted-round-robin",
          chosen: chosen?.endpoint.address,
          candidates,
          note: chosen === undefined
            ? "no endpoints"
            : `stride scheduler over ${schedule.count} endpoints (${schedule.size} entries, a cycle of ${schedule.max} rounds); ` +
              "scores are the picks before each endpoint's next turn"
        }
      },
      added: (slot) => {
        entering.set(slot, context.random())
        dirty = true
      },
      removed: (slot) => {
        entering.delete(slot)
        dirty = true
      },
      updated: (slot, previous) => {
        if (slot.endpoint.weight !== previous.weight) dirty = true
        else for (let at = 0; at < schedule.size; at++) if (schedule.items[at] === slot) endpoints[at] = slot.endpoint
      },
      rebalanced: () => {
        if (dirty) rebuild()
      }
    }
    // this module's own `Balancer.pickUnsafe` (see `table.PickUnsafe`)
    table.fast(picker, (invalid) => (hash) => {
      if (hash !== undefined && !table.isHash(hash)) invalid(hash)
      if (dirty) rebuild()
      const at = stride.nextAt(schedule)
      return at < 0 ? undefined : endpoints[at]
    })
    return picker
  }
})

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

const weightOf = (slot: Policy.Slot): number => slot.endpoint.weight
