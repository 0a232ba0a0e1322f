/**
 * Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
 * Balancer", NSDI 2016, §3.4; Envoy's `maglev` load balancer): a lookup table of prime size `M`
 * filled by the endpoints in turns, each following its own permutation of the entries. A request
 * hash picks entry `⌊hash · M / 2^32⌋`: O(1), no allocation.
 *
 * **Details**
 *
 * - Endpoint permutations: `offset = h1 mod M`, `skip = h2 mod (M − 1) + 1`, where `h1` is
 *   `RingHash.hash(address)` and `h2` the same MurmurHash3 with seed 1. Turns go in rounds, in
 *   (address hash, address) order, so the table depends only on the set: clients that see the same
 *   set agree on every key.
 * - Balance: with equal weights every endpoint holds ⌊M/n⌋ or ⌈M/n⌉ entries. Weights follow
 *   Envoy: in round `t` an endpoint takes a turn only while its entries, in units of the largest
 *   weight `W`, are at most `t · weight` (an endpoint of weight `W/3` plays every third round).
 *   Each endpoint ends within `2 + 2·weight/mean weight` entries of its exact share
 *   `M·weight/Σweight` (light endpoints gain about one entry each from the heaviest).
 * - Disruption: when an endpoint leaves, its entries move and a few others do too (the paper's
 *   trade of a little extra movement for near-perfect balance). At the default table size one
 *   removal or addition among 2 to 64 endpoints moves 1.14× the ideal 1/n of the keys on average
 *   and under 1.4× almost always; of 50,000 such changes we measured, 4 moved more than 1.8× and
 *   one 2.34×. Those were sets where two endpoints drew the same skip (chance ≈ n²/2M per set) and
 *   start close together on that cycle, so they trade entries whenever anything changes; the
 *   paper's permutations allow it, and so do Envoy's.
 * - Table size: by default the smallest prime ≥ the smallest power of two ≥ max(65536, 100·n):
 *   **65,537** (Envoy's default, and the paper's) up to 655 endpoints, then 131,101 … and
 *   1,048,583 for 10,000 endpoints. `M > 100·n` is the paper's condition for at most ~1%
 *   difference between endpoints' shares. Changing `M` remaps nearly every key, so it moves in
 *   powers of two, only when n crosses 655·2^k; pass `tableSize` to pin it (rounded up to a prime).
 * - Cost: the table is rebuilt in `rebalanced()` after any addition, removal or weight change:
 *   ~2–3 ms for 64 endpoints; for 10,000 (M = 1,048,583) ~60 ms with equal weights, ~80 ms with
 *   weights 1–10 and ~200 ms when one endpoint weighs 1000× the rest (Node 24, one core). It
 *   takes 4 bytes per entry (4 MB for 10,000 endpoints). A pick is a multiply and one array read
 *   (~5–20 ns, within 2× of a bare table lookup; bench/pick.ts); `pick(-1)` draws a random entry
 *   from `context.random`.
 * - Hash to entry: `⌊hash · M / 2^32⌋`, computed as `(hash * (M / 2^32)) | 0` (Lemire's
 *   multiply-shift "fastrange") rather than the paper's `hash mod M`. Both give every entry ⌊2^32/M⌋
 *   or ⌈2^32/M⌉ of the 32-bit hashes, so shares and key movement are the same as with `mod`; the
 *   multiply is one floating-point multiply and a truncation on every JIT, where `%` compiles to an
 *   integer division only when the JIT can prove both sides are uint32 (15–25 ns per pick when it
 *   cannot). The product is exact up to M = 2^21 (10,485 endpoints at the default size); above, a
 *   boundary between two entries can move by one hash value, identically on every runtime. A
 *   consequence: hash `h` and `h + M` no longer share an entry, adjacent hashes do; a client in
 *   another language that wants the same key → endpoint map must use the same formula.
 * - Request hashes are unsigned 32-bit integers: use `RingHash.hash` on a request key.
 *
 * @since 0.1.0
 */
import * as hashing from "./internal/hash.ts"
import * as maglevImpl from "./internal/maglev.ts"
import * as Policy from "./Policy.ts"

/**
 * The default table size for `n` endpoints: the smallest prime ≥ the smallest power of two
 * ≥ max(65536, 100·n). `65537` for up to 655 endpoints.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultTableSize = (n: number): number => maglevImpl.defaultSize(n)

/**
 * The Maglev policy.
 *
 * **When to use**
 *
 * Requests with the same key should reach the same endpoint, with near-equal load across
 * endpoints and O(1) picks; a change of the set may move a few more keys than `RingHash` would.
 *
 * **Options**
 *
 * - `tableSize`: a fixed table size, an integer from 2 to 2^26, rounded up to a prime (default:
 *   {@link defaultTableSize} of the current set). Keep it above 100 × the number of endpoints.
 *   Anything else gives a policy whose `error` makes `Balancer.make` fail with a typed
 *   `PolicyError` naming the option and the value.
 *
 * **Example**
 *
 * ```ts
 * import { Balancer, Maglev, RingHash } from "@switchyard/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const balancer = yield* Balancer.make({ discovery, target: "cache", policy: Maglev.make() })
 *   return yield* balancer.pickHash(RingHash.hash("user-42"))
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options?: { readonly tableSize?: number | undefined }): Policy.Policy => {
  const pinned = Policy.integerOption("maglev", "tableSize", options?.tableSize, 0, 2, maxTableSize)
  if (typeof pinned !== "number") return Policy.invalid(pinned)
  const fixed = options?.tableSize === undefined ? undefined : maglevImpl.primeAtLeast(pinned)
  return {
    name: "maglev",
    hashed: true,
    make: (context) => {
      const slots = context.slots
      const table = maglevImpl.make()
      let h1 = new Uint32Array(0)
      let h2 = new Uint32Array(0)
      let weights = new Float64Array(0)
      let order = new Int32Array(0)
      let dirty = true
      const rebuild = (): void => {
        const n = slots.length
        dirty = false
        if (n === 0) {
          table.size = 0
          return
        }
        if (h1.length < n || h1.length > 4 * n + 64) {
          h1 = new Uint32Array(n)
          h2 = new Uint32Array(n)
          weights = new Float64Array(n)
          order = new Int32Array(n)
        }
        const addresses: Array<string> = new Array(n)
        for (let i = 0; i < n; i++) {
          const endpoint = slots[i]!.endpoint
          addresses[i] = endpoint.address
          h1[i] = hashing.murmur3(endpoint.address, 0)
          h2[i] = hashing.murmur3(endpoint.address, 1)
          weights[i] = endpoint.weight
        }
        hashing.sortByHash(order, n, h1, addresses)
        maglevImpl.build(table, fixed ?? maglevImpl.defaultSize(n), { n, h1, h2, weights, order })
      }
      const changed = (): void => {
        dirty = true
      }
      const entryOf = (h: number): number =>
        h < 0 ? Math.floor(context.random() * table.size) : maglevImpl.entryOf(h >>> 0, table.scale)
      rebuild()
      return {
        // entryOf written out: a call to a closure of this picker is not inlined by every JIT once
        // a program has several Maglev pickers (JavaScriptCore: 2 ns → 8 ns per pick)
        pick: (h) => {
          if (dirty) rebuild()
          const size = table.size
          if (size === 0) return undefined
          const entry = h < 0 ? Math.floor(context.random() * size) : maglevImpl.entryOf(h >>> 0, table.scale)
          return slots[table.entries[entry]!]
        },
        explain: (h) => {
          if (dirty) rebuild()
          if (table.size === 0) return { policy: "maglev", chosen: undefined, candidates: [], note: "no endpoints" }
          const entry = entryOf(h)
          const owner = table.entries[entry]!
          let held = 0
          for (let j = 0; j < table.size; j++) if (table.entries[j] === owner) held++
          const address = slots[owner]!.endpoint.address
          return {
            policy: "maglev",
            chosen: address,
            candidates: [{ address, score: entry }],
            note:
              `entry ${entry} of a ${table.size}-entry table${
                h < 0 ? " (random)" : ` (⌊hash ${h >>> 0} · ${table.size} / 2^32⌋)`
              }; ` +
              `the score is the entry; ${address} holds ${held} entries (${(100 * held / table.size).toFixed(2)}%)`
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

/** 2^26 entries (256 MB of table) is far past any sensible size; it bounds a typo. */
const maxTableSize = 2 ** 26
