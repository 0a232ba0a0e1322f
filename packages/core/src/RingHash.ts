/**
 * Consistent hashing on a ring (Karger et al., "Consistent Hashing and Random Trees", STOC 1997),
 * ketama-style as in Envoy's `ring_hash` load balancer and gRPC's `ring_hash` (gRFC A42): a request
 * with the same hash goes to the same endpoint while the set is unchanged, and when an endpoint
 * leaves or joins only the requests it owned, or comes to own, move.
 *
 * **Details**
 *
 * - Each endpoint has virtual nodes at pseudo-random 32-bit positions derived from `hash(address)`
 *   by an integer mixer (`fmix32(h ^ fmix32(k + 1))` for the k-th; no string hashing per virtual
 *   node). A request hash is owned by the first virtual node at or after it, wrapping around.
 *   The positions are a sorted `Uint32Array` with a lookup index over the top 16 bits of the hash
 *   (65,537 start positions; fewer bits below 65,536 virtual nodes): `pick(hash)` reads the start
 *   and end of the hash's bucket and binary-searches only that bucket, about 4 virtual nodes at
 *   the 2^18 cap and 1–2 below it, instead of ~20 steps over the whole ring. Same answer as a
 *   search of the whole ring; no allocation. `pick(-1)` draws a random position from
 *   `context.random`.
 * - Ring size: `min(n · vnodes, maxRingSize)` virtual nodes, split in proportion to weight
 *   (`round(size · weight / Σweight)`, at least 1 each). The defaults, **1024 virtual nodes per
 *   endpoint** and **at most 2^18 (262,144)**, are chosen so an endpoint's share of the hash space
 *   has a relative standard deviation of about `1/√vnodes`: ~3% up to 256 endpoints, so one
 *   removal or addition among 2 to 64 endpoints moves at most 1.2× the ideal 1/n of the keys (over
 *   40,000 random sets the largest share of one endpoint was 1.13× the ideal); 6% at 1,000
 *   endpoints (262 virtual nodes each; the largest share 1.21× the ideal) and 20% at 10,000 (26
 *   each; the largest share 1.9×) — the price of a rebuild that stays under 50 ms at 10,000
 *   endpoints. Pass `maxRingSize: 2 ** 20` for 10% (the largest share 1.4×) at about twice the
 *   rebuild cost. Envoy's and gRPC's defaults (a minimum ring of 1024 in all) would give a
 *   64-endpoint set only 16 virtual nodes each, ±25%, and a 10,000-endpoint set one each.
 * - Cost: the ring is rebuilt in `rebalanced()` after any addition, removal or weight change, in
 *   O(ring size) expected (two cache-friendly counting sorts and an insertion sort of each small
 *   bucket; see `internal/ring.ts`): ~1–2 ms for 64 endpoints, ~10–25 ms for 10,000 (Node, Bun
 *   and Deno; the first rebuild of a process, before the JIT has warmed up, up to ~60 ms). It
 *   takes 16 bytes per virtual node (positions and owners, and the same again kept as build
 *   scratch), 4 MB at the 2^18 cap, plus the index (256 KB from 65,536 virtual nodes up). A
 *   pick: ~10–50 ns up to 100 endpoints, ~30–110 ns at 10,000, where it is bound by cache misses
 *   in the index, the bucket and the owners (bench/pick.ts; figures in docs/performance.md).
 * - The ring depends only on the set, not on the order endpoints arrived in: virtual nodes that
 *   land on the same position are ordered by (address hash, address). Clients that see the same set
 *   agree on every key.
 * - Counts are relative to the mean weight (`round(vnodes · weight / mean weight)` below the cap).
 *   With equal weights an endpoint's count never changes, so an addition or removal moves only
 *   the keys of that endpoint. A change of the mean weight (a weight update, an endpoint of unusual
 *   weight) rescales every count, and past the cap every addition shrinks all counts a little; an
 *   endpoint keeps its lowest-numbered virtual nodes, so only the difference moves, but that is
 *   more than the ideal.
 * - Request hashes are unsigned 32-bit integers: use {@link hash} on a request key (a user id, a
 *   session cookie) and pass it to `Balancer.pickHash` or `use(f, { hash })`.
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as canonical from "./internal/canonical.ts"
import * as hashing from "./internal/hash.ts"
import * as ringImpl from "./internal/ring.ts"
import * as Policy from "./Policy.ts"

/**
 * The default number of virtual nodes per endpoint (of average weight): 1024.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultVnodes = 1024

/**
 * The default largest ring: 2^18 = 262,144 virtual nodes (4 MB while built), so that a rebuild at
 * 10,000 endpoints stays under 50 ms (see the module doc for the balance it gives).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultMaxRingSize = 262_144

/**
 * The 32-bit hash used for endpoint addresses, and for request keys: MurmurHash3 (`murmur3_x86_32`,
 * seed 0) of the key's UTF-8 bytes, as an unsigned 32-bit integer.
 *
 * **Details**
 *
 * The same on every runtime, and equal to `murmur3_x86_32` of the same UTF-8 text in other
 * languages. Allocates nothing. Works for `Maglev` too.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { RingHash } from "@switchyard/core"
 * import type { Balancer } from "@switchyard/core"
 *
 * declare const balancer: Balancer.Balancer
 * const endpointForUser = (userId: string) => balancer.pickHash(RingHash.hash(userId))
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const hash = (key: string): number => hashing.murmur3(key, 0)

/**
 * The ring hash policy.
 *
 * **When to use**
 *
 * Requests with the same key should reach the same endpoint (caches, sticky sessions), and a change
 * of the set should move as few keys as possible. `Maglev` balances better and picks in O(1) at the
 * cost of moving a few more keys on a change.
 *
 * **Options**
 *
 * - `vnodes`: virtual nodes per endpoint of average weight (default {@link defaultVnodes}).
 * - `maxRingSize`: cap on the total (default {@link defaultMaxRingSize}).
 *
 * Each must be an integer from 1 to 2^24; anything else gives a policy whose `error` makes
 * `Balancer.make` fail with a typed `Options.OptionError` naming the option and the value.
 *
 * **Example**
 *
 * ```ts
 * import { Balancer, Discovery, RingHash } from "@switchyard/core"
 *
 * declare const discovery: Discovery.Discovery
 *
 * const balancer = Balancer.make({ discovery, target: "cache", policy: RingHash.make({ vnodes: 2048 }) })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options?: {
  readonly vnodes?: number | undefined
  readonly maxRingSize?: number | undefined
}): Policy.Policy => {
  const vnodes = Policy.integerOption("ring-hash", "vnodes", options?.vnodes, defaultVnodes, 1, 2 ** 24)
  if (typeof vnodes !== "number") return Policy.invalid(vnodes)
  const maxRingSize = Policy.integerOption(
    "ring-hash",
    "maxRingSize",
    options?.maxRingSize,
    defaultMaxRingSize,
    1,
    2 ** 24
  )
  if (typeof maxRingSize !== "number") return Policy.invalid(maxRingSize)
  return {
    name: "ring-hash",
    hashed: true,
    make: (context) => {
      const slots = context.slots
      const ring = ringImpl.make()
      // the address hashes (kept across rebuilds: a rebuild hashes only the new addresses),
      // weights and canonical order of the slots, and the virtual node count of each
      const canon = canonical.make(false)
      let counts = new Int32Array(0)
      let dirty = true
      const rebuild = (): void => {
        canonical.refresh(canon, slots)
        const { n, h1, weights, order } = canon
        if (counts.length < n || counts.length > 4 * n + 64) counts = new Int32Array(2 * n)
        ringImpl.allocate(n, weights, vnodes, maxRingSize, counts)
        ringImpl.build(ring, { n, hashes: h1, counts, order })
        dirty = false
      }
      const changed = (): void => {
        dirty = true
      }
      const keyOf = (h: number): number => h < 0 ? Math.floor(context.random() * 4294967296) : h >>> 0
      rebuild()
      return {
        // keyOf written out: a call to a closure of this picker is not inlined by every JIT once a
        // program has several RingHash pickers
        pick: (h) => {
          if (dirty) rebuild()
          if (ring.size === 0) return undefined
          const key = h < 0 ? Math.floor(context.random() * 4294967296) : h >>> 0
          return slots[ring.owners[ringImpl.find(ring, key)]!]
        },
        explain: (h) => {
          if (dirty) rebuild()
          if (ring.size === 0) return { policy: "ring-hash", chosen: undefined, candidates: [], note: "no endpoints" }
          const key = keyOf(h)
          const first = ringImpl.find(ring, key)
          const seen = new Set<number>()
          const candidates: Array<Policy.Candidate> = []
          for (let step = 0; step < ring.size && candidates.length < 3; step++) {
            const j = (first + step) % ring.size
            const owner = ring.owners[j]!
            if (seen.has(owner)) continue
            seen.add(owner)
            candidates.push({
              address: slots[owner]!.endpoint.address,
              score: (ring.positions[j]! - key + 4294967296) % 4294967296
            })
          }
          return {
            policy: "ring-hash",
            chosen: candidates[0]?.address,
            candidates,
            note:
              `key ${key}${
                h < 0 ? " (random)" : ""
              } on a ring of ${ring.size} virtual nodes: the first at or after it ` +
              "wins; scores are clockwise distances; the others are where the key would go if the endpoints before them left"
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
  }
}

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------
