/**
 * The canonical order of a hashing picker's endpoints and their address hashes, shared by
 * `RingHash` and `Maglev`: both build a structure that must depend only on the set (clients that
 * see the same set agree on every key), so both visit the endpoints in one order that depends only
 * on the set — by address hash, then by address — and both rehash only the addresses that changed
 * since the last rebuild.
 *
 * Each loop is a function of its own that returns right after the loop. The first rebuild in a
 * process runs before the JIT has compiled anything: it compiles a long loop while it runs
 * (on-stack replacement), and code after that loop, never run yet, has no type feedback, so the
 * compiled code is thrown away when it gets there (V8: "insufficient type feedback").
 */
import type * as Policy from "../Policy.ts"
import * as hashing from "./hash.ts"

/** By slot index: the address last hashed there, its hashes and weight; and the canonical order. */
export interface Canonical {
  /** The number of endpoints at the last {@link refresh}. */
  n: number
  readonly addresses: Array<string>
  /** `murmur3(address, 0)`, the address hash. */
  h1: Uint32Array
  /** `murmur3(address, 1)`, when the picker asked for a second hash. */
  h2: Uint32Array
  weights: Float64Array
  /** The slot indices in canonical order: by `h1`, then by address. */
  order: Int32Array
  /** Scratch for the sort. */
  keys: Float64Array
  readonly second: boolean
}

/** An empty record; `second` asks for the second address hash too. */
export const make = (second: boolean): Canonical => ({
  n: 0,
  addresses: [],
  h1: new Uint32Array(0),
  h2: new Uint32Array(0),
  weights: new Float64Array(0),
  order: new Int32Array(0),
  keys: new Float64Array(0),
  second
})

/** Brings `c` up to date with `slots`: hashes of new or moved addresses, weights, the order. */
export const refresh = (c: Canonical, slots: ReadonlyArray<Policy.Slot>): void => {
  const n = slots.length
  c.n = n
  if (c.addresses.length > n) c.addresses.length = n
  if (c.h1.length < n || c.h1.length > 4 * n + 64) {
    const capacity = 2 * n
    const kept = Math.min(c.addresses.length, n)
    const h1 = new Uint32Array(capacity)
    h1.set(c.h1.subarray(0, kept))
    c.h1 = h1
    if (c.second) {
      const h2 = new Uint32Array(capacity)
      h2.set(c.h2.subarray(0, kept))
      c.h2 = h2
    }
    c.weights = new Float64Array(capacity)
    c.order = new Int32Array(capacity)
    c.keys = new Float64Array(capacity)
  }
  rehash(c, slots, n)
  sort(c.order, c.keys, n, c.h1, c.addresses)
}

/**
 * Sorts the endpoint indices `order[0..n)` by `h1` (unsigned), then by address: the canonical
 * order; the same order as `hash.sortByHash`. Up to 2^21 endpoints it sorts the numbers
 * `h1 · 2^k + index` (exact below 2^53) with the runtime's native numeric sort, which is fast even
 * before the JIT has compiled anything, then sorts each run of equal hashes by address (almost
 * always runs of one). `keys` needs room for `n` numbers.
 */
export const sort = (
  order: Int32Array,
  keys: Float64Array,
  n: number,
  h1: ArrayLike<number>,
  addresses: ReadonlyArray<string>
): void => {
  if (n > 2097152) return hashing.sortByHash(order, n, h1, addresses)
  let span = 1
  while (span < n) span *= 2
  packKeys(keys, n, h1, span)
  const sorted = keys.subarray(0, n).sort()
  unpackKeys(order, sorted, n, span)
  breakTies(order, n, h1, addresses)
}

// internal

const rehash = (c: Canonical, slots: ReadonlyArray<Policy.Slot>, n: number): void => {
  const { addresses, h1, h2, weights, second } = c
  for (let i = 0; i < n; i++) {
    const endpoint = slots[i]!.endpoint
    const address = endpoint.address
    if (addresses[i] !== address) {
      addresses[i] = address
      h1[i] = hashing.murmur3(address, 0)
      if (second) h2[i] = hashing.murmur3(address, 1)
    }
    weights[i] = endpoint.weight
  }
}

/** `keys[i] = h1[i] · span + i`: exact below 2^53 for h1 < 2^32 and span ≤ 2^21. */
const packKeys = (keys: Float64Array, n: number, h1: ArrayLike<number>, span: number): void => {
  for (let i = 0; i < n; i++) keys[i] = (h1[i]! >>> 0) * span + i
}

/** `order[k] = sorted[k] mod span` (exact: span is a power of two). */
const unpackKeys = (order: Int32Array, sorted: Float64Array, n: number, span: number): void => {
  const inverse = 1 / span
  for (let k = 0; k < n; k++) {
    const key = sorted[k]!
    order[k] = key - Math.floor(key * inverse) * span
  }
}

/** Sorts each run of equal hashes in `order` by address. */
const breakTies = (order: Int32Array, n: number, h1: ArrayLike<number>, addresses: ReadonlyArray<string>): void => {
  let run = 0
  for (let k = 1; k <= n; k++) {
    if (k < n && h1[order[k]!]! >>> 0 === h1[order[run]!]! >>> 0) continue
    if (k - run > 1) sortByAddress(order, run, k, addresses)
    run = k
  }
}

const sortByAddress = (order: Int32Array, from: number, to: number, addresses: ReadonlyArray<string>): void => {
  order.subarray(from, to).sort((a, b) => {
    const x = addresses[a]!
    const y = addresses[b]!
    return x < y ? -1 : x > y ? 1 : 0
  })
}
