/**
 * Random picks in proportion to weight, in O(1) by Vose's alias method (M. D. Vose, "A Linear
 * Algorithm for Generating Random Numbers with a Given Distribution", IEEE TSE 1991, after
 * Walker's alias method, 1974), and plain uniform random picks (Envoy's `RANDOM` policy).
 *
 * **Details**
 *
 * - {@link make}: one uniform double `u` per pick. Column `⌊u·n⌋` of the alias table, then the
 *   fraction of `u·n` decides between the column's endpoint and its alias. O(1), no allocation.
 *   Endpoint `i` is picked with probability `weight_i / Σweight` (exactly, up to one rounding per
 *   column; see `internal/alias`).
 * - The table is indexed like `context.slots` and rebuilt in `rebalanced()` after any addition or
 *   removal, or an update that changed a weight: O(n) time, about 40·n bytes kept for reuse.
 *   Changes of tags, zone or priority cost nothing.
 * - {@link uniform}: `⌊u·n⌋` over the slots, no table. This is the uniform random policy: weighted
 *   random with equal weights. (There is no `Random` module: it would shadow `effect/Random`.)
 * - Picks are independent, so over `N` picks an endpoint's share is within about
 *   `2·√(p(1−p)/N)` of its weight share `p` (95%); use `WeightedRoundRobin` when every short
 *   window must be exact.
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as alias from "./internal/alias.ts"
import * as sample from "./internal/sample.ts"
import * as Policy from "./Policy.ts"

/**
 * The weighted random policy: each pick is endpoint `i` with probability `weight_i / Σweight`.
 *
 * **Example**
 *
 * ```ts
 * import { Balancer, Discovery, WeightedRandom } from "@switchyard/core"
 *
 * declare const discovery: Discovery.Discovery
 *
 * const balancer = Balancer.make({ discovery, target: "api", policy: WeightedRandom.make() })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (): Policy.Policy => ({
  name: "weighted-random",
  make: (context) => {
    const slots = context.slots
    const table = alias.make()
    let weights = new Float64Array(0)
    let dirty = true
    const rebuild = (): void => {
      const n = slots.length
      if (weights.length < n || weights.length > 4 * n + 64) weights = new Float64Array(n)
      for (let i = 0; i < n; i++) weights[i] = slots[i]!.endpoint.weight
      alias.build(table, n, weights)
      dirty = false
    }
    const changed = (): void => {
      dirty = true
    }
    rebuild()
    return {
      pick: () => {
        if (dirty) rebuild()
        if (table.n === 0) return undefined
        return slots[alias.sample(table, context.random())]
      },
      explain: () => {
        if (dirty) rebuild()
        const n = table.n
        if (n === 0) return { policy: "weighted-random", chosen: undefined, candidates: [], note: "no endpoints" }
        const u = context.random()
        const c = alias.column(table, u)
        const keep = table.prob[c]!
        const other = table.alias[c]!
        const chosen = slots[alias.sample(table, u)]!
        const candidates = [{ address: slots[c]!.endpoint.address, score: keep }]
        if (other !== c) candidates.push({ address: slots[other]!.endpoint.address, score: 1 - keep })
        return {
          policy: "weighted-random",
          chosen: chosen.endpoint.address,
          candidates,
          note: `alias column ${c} of ${n}: the fraction ${u * n - c} keeps the column below ${keep}, ` +
            "else its alias; scores are the chances within the column (higher wins)"
        }
      },
      added: changed,
      removed: changed,
      updated: (slot, previous) => {
        if (slot.endpoint.weight !== previous.weight) dirty = true
      },
      rebalanced: () => {
        if (dirty) rebuild()
      }
    }
  }
})

/**
 * The uniform random policy: each pick is any endpoint with equal probability, ignoring weights.
 *
 * **Example**
 *
 * ```ts
 * import { Balancer, Discovery, WeightedRandom } from "@switchyard/core"
 *
 * declare const discovery: Discovery.Discovery
 *
 * const balancer = Balancer.make({ discovery, target: "api", policy: WeightedRandom.uniform() })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const uniform = (): Policy.Policy => ({
  name: "uniform-random",
  make: (context) => {
    const slots = context.slots
    return {
      ...Policy.stateless,
      pick: () => {
        const n = slots.length
        return n === 0 ? undefined : slots[sample.first(context.random(), n)]
      },
      explain: () => {
        const n = slots.length
        if (n === 0) return { policy: "uniform-random", chosen: undefined, candidates: [], note: "no endpoints" }
        const i = sample.first(context.random(), n)
        const chosen = slots[i]!.endpoint.address
        return {
          policy: "uniform-random",
          chosen,
          candidates: [{ address: chosen, score: i }],
          note: `uniform draw: index ${i} of ${n} (the score is the index)`
        }
      }
    }
  }
})
