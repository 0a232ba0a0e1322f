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
 * - Balance: with equal weights every endpoint holds ⌊M/n⌋ or ⌈M/n⌉ entries, so two shares differ
 *   by at most 1/⌊M/n⌋ of a share: within 1% up to 2,621 endpoints at the default size, 3.8% at
 *   10,000 (26 or 27 entries each), 10% from 26,214 on (10 or 11 each). Weights follow Envoy: in
 *   round `t` an endpoint takes a turn only while its entries, in units of the largest weight `W`,
 *   are at most `t · weight` (an endpoint of weight `W/3` plays every third round). Each endpoint
 *   ends within `2 + 2·weight/mean weight` entries of its exact share `M·weight/Σweight` (light
 *   endpoints gain about one entry each from the heaviest); measured with weights 1–10, an
 *   endpoint held its exact share rounded up or down by one entry (at 10,000 endpoints, weight 1:
 *   5 entries for a share of 4.79; weight 10: 47–48 for 47.89).
 * - Disruption: when an endpoint leaves, its entries move and a few others do too (the paper's
 *   trade of a little extra movement for near-perfect balance). At the default table size one
 *   removal or addition among 2 to 64 endpoints moves 1.14× the ideal 1/n of the keys on average
 *   and under 1.4× almost always; of 50,000 such changes we measured, 4 moved more than 1.8× and
 *   one 2.34×. Those were sets where two endpoints drew the same skip (chance ≈ n²/2M per set) and
 *   start close together on that cycle, so they trade entries whenever anything changes; the
 *   paper's permutations allow it, and so do Envoy's. The extra movement grows with n and hardly
 *   depends on M once M/n is below a few hundred: one change moves about 6.6× the ideal among
 *   1,000 endpoints, 9.3× among 10,000 (9.2× with the 4× larger table of earlier versions; at most
 *   10.9× in 40 sets), 11–12× among 50,000 or 100,000 (10.7–11× at 50,000 with the old
 *   8.4-million-entry table): 0.09% and 0.012% of the keys instead of 0.01% and 0.001%.
 * - Table size: by default the smallest prime ≥ the smallest power of two ≥
 *   max(65536, min(100·n, max(2^18, 10·n))): **65,537** (Envoy's default, and the paper's) up to
 *   655 endpoints, 131,101 up to 1,310, **262,147** (2^18, 1 MB) from 1,311 to 26,214 endpoints,
 *   then the power of two that gives each endpoint at least 10 entries: 524,309 up to 52,428
 *   endpoints, 1,048,583 up to 104,857, and so on. `M > 100·n` is the paper's condition for at
 *   most ~1% difference between endpoints' shares; above 2,621 endpoints the default gives that up
 *   for a rebuild whose cost stays bounded (Cost, below), and a pinned `tableSize` keeps it at any
 *   n, at a cost proportional to M. Earlier versions kept `M ≥ 100·n` at every n (1,048,583 entries
 *   at 10,000 endpoints, 16.8 million at 100,000, built in 5–6 s); from 2,622 endpoints this default
 *   is a different size, so every key maps anew once on upgrade. Changing `M` remaps nearly every
 *   key, so it moves in powers of two, only when n crosses 655, 1,310, 26,214, 52,428, …, and
 *   never shrinks as n grows; pass `tableSize` to pin it (rounded up to a prime).
 * - Cost: the table is rebuilt in `rebalanced()` after any addition, removal or weight change, in
 *   O(M log M) (probes of a bitset of M bits; internal/maglev.ts) plus O(n) for the endpoint
 *   order; each address is hashed once and its hashes kept by slot. Through `Balancer.apply` on
 *   Node 24, Bun and Deno (bench/apply.ts, weights 1–10; figures in docs/performance.md): ~2 ms
 *   for 64 endpoints; at 10,000 (M = 262,147) a 1% churn takes 11–16 ms (median; at most 28 ms),
 *   the initial set 18–23 ms, and the first apply in a process, before the JIT has compiled
 *   anything, 24–49 ms; at 50,000 (M = 524,309) 26–43 ms per churn and 50–86 ms for the initial
 *   set; at 100,000 (M = 1,048,583) 59–92 ms per churn and 114–203 ms for the initial set, of
 *   which the balancer's own work on 100,000 new slots is 34–72 ms and hashing the new addresses
 *   most of the rest. With equal weights a build is ~30% faster; weights so skewed that most
 *   endpoints sit out most rounds (one at 1000× the rest) take a queue by round and cost 1–1.5×
 *   as much as weights 1–10. It takes 4 bytes per entry (1 MB up to 26,214 endpoints, 4 MB at
 *   100,000) plus build scratch: M/8 bytes of bitset and ~100 bytes per endpoint. A pick is a
 *   multiply and one array read (~5–20 ns, within 2× of a bare table lookup; bench/pick.ts);
 *   `pick(-1)` draws a random entry from `context.random`.
 * - Hash to entry: `⌊hash · M / 2^32⌋`, computed as `(hash * (M / 2^32)) | 0` (Lemire's
 *   multiply-shift "fastrange") rather than the paper's `hash mod M`. Both give every entry ⌊2^32/M⌋
 *   or ⌈2^32/M⌉ of the 32-bit hashes, so shares and key movement are the same as with `mod`; the
 *   multiply is one floating-point multiply and a truncation on every JIT, where `%` compiles to an
 *   integer division only when the JIT can prove both sides are uint32 (15–25 ns per pick when it
 *   cannot). The product is exact up to M = 2^21 (every default size up to 104,857 endpoints);
 *   above, a boundary between two entries can move by one hash value, identically on every
 *   runtime. A consequence: hash `h` and `h + M` no longer share an entry, adjacent hashes do; a
 *   client in another language that wants the same key → endpoint map must use the same formula.
 * - Request hashes are unsigned 32-bit integers: use `RingHash.hash` on a request key.
 *
 * @stability unstable
 * @since 0.1.0
 */
import type * as Endpoint from "./Endpoint.ts"
import * as canonical from "./internal/canonical.ts"
import * as maglevImpl from "./internal/maglev.ts"
import * as slotTable from "./internal/table.ts"
import * as Policy from "./Policy.ts"

/**
 * The default table size for `n` endpoints: the smallest prime ≥ the smallest power of two
 * ≥ max(65536, min(100·n, max(2^18, 10·n))).
 *
 * **Details**
 *
 * `65537` up to 655 endpoints; at least 100 entries per endpoint up to 2,621 endpoints; `262147`
 * (2^18 entries) up to 26,214; above, at least 10 entries per endpoint (`524309` up to 52,428,
 * `1048583` up to 104,857, …). Never decreases as `n` grows. The cap keeps a rebuild bounded (a 1%
 * churn takes 11–16 ms at 10,000 endpoints, 59–92 ms at 100,000 with Node 24, Bun or Deno; see the
 * module doc's "Cost"), at the price of shares within 3.8% of each other at 10,000 endpoints and
 * 10% above 26,214, where a table of 100 entries per endpoint gives 1%.
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
 *   {@link defaultTableSize} of the current set). Keep it above 10 × the number of endpoints
 *   (shares within 10%); 100 × gives 1%, and a rebuild costs in proportion to the size (about
 *   11–16 ms per 2^18 entries with Node 24, Bun or Deno), so a pinned size of 2^20 or more
 *   blocks the event loop for about 50 ms or more on every change.
 *   Anything else gives a policy whose `error` makes `Balancer.make` fail with a typed
 *   `Options.OptionError` naming the option and the value.
 *
 * **Example**
 *
 * ```ts
 * import { Balancer, Discovery, Maglev, RingHash } from "@switchyard/core"
 * import { Effect } from "effect"
 *
 * declare const discovery: Discovery.Discovery
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
      // the address hashes (kept across rebuilds: a rebuild hashes only the new addresses),
      // weights and canonical order of the slots
      const canon = canonical.make(true)
      let dirty = true
      // the table's state in closure variables, refreshed by each rebuild, and each slot's endpoint
      // by slot index: a pick reads no object, and the fast pick one array fewer (at 10,000
      // endpoints the slot is a cache miss of its own)
      let entries = table.entries
      let size = 0
      let scale = 0
      const endpoints: Array<Endpoint.Endpoint> = []
      const rebuild = (): void => {
        dirty = false
        endpoints.length = slots.length
        for (let i = 0; i < slots.length; i++) endpoints[i] = slots[i]!.endpoint
        if (slots.length === 0) {
          canon.n = 0
          table.size = 0
        } else {
          canonical.refresh(canon, slots)
          const { n, h1, h2, weights, order } = canon
          maglevImpl.build(table, fixed ?? maglevImpl.defaultSize(n), { n, h1, h2, weights, order })
        }
        entries = table.entries
        size = table.size
        scale = table.scale
      }
      const changed = (): void => {
        dirty = true
      }
      const entryOf = (h: number): number =>
        h < 0 ? Math.floor(context.random() * table.size) : maglevImpl.entryOf(h >>> 0, table.scale)
      rebuild()
      const picker: Policy.Picker = {
        // entryOf written out: a call to a closure of this picker is not inlined by every JIT once
        // a program has several Maglev pickers (JavaScriptCore: 2 ns → 8 ns per pick)
        pick: (h) => {
          if (dirty) rebuild()
          if (size === 0) return undefined
          // `maglevImpl.entryOf` written out: a double (`scale`) passed to a call that is not
          // inlined is boxed, an allocation per pick (the policy conformance suite measures it)
          const entry = h < 0 ? Math.floor(context.random() * size) : ((h >>> 0) * scale) | 0
          return slots[entries[entry]!]
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
          else endpoints[slot.index] = slot.endpoint
        },
        rebalanced: () => {
          if (dirty) rebuild()
        }
      }
      // this module's own `Balancer.pickUnsafe` (see `slotTable.PickUnsafe`)
      // (`hash >>> 0 === hash` is `slotTable.isHash` written out, as `pick`'s lookup is)
      slotTable.fast(picker, (invalid) => (hash) => {
        if (dirty) rebuild()
        if (hash === undefined) return size === 0 ? undefined : endpoints[entries[Math.floor(context.random() * size)]!]
        if (hash >>> 0 !== hash) return invalid(hash)
        return size === 0 ? undefined : endpoints[entries[(hash * scale) | 0]!]
      })
      return picker
    }
  }
}

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

/** 2^26 entries (256 MB of table) is far past any sensible size; it bounds a typo. */
const maxTableSize = 2 ** 26
