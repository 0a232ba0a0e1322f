/**
 * A ketama-style hash ring (Karger et al., "Consistent Hashing and Random Trees", STOC 1997; the
 * `libketama` ring used by Envoy's `ring_hash` load balancer and gRPC's `ring_hash`, gRFC A42).
 *
 * Each endpoint has a number of virtual nodes at pseudo-random 32-bit positions derived from its
 * address hash: `vnode(h, k) = fmix32(h ^ fmix32(k + 1))` for k = 0, 1, … — two integer mixes per
 * virtual node, no string hashing. A key is owned by the first virtual node at a position ≥ the key
 * (wrapping around), so each virtual node owns the arc that ends at it.
 *
 * The ring is two parallel typed arrays: `positions` (ascending) and `owners` (the endpoint index
 * given by the caller, typically the slot index). Building generates the virtual nodes in the
 * caller's canonical endpoint order and sorts them with a stable LSD radix sort on the 32-bit
 * position (four passes of 8 bits), so the build is O(size), and virtual nodes of different
 * endpoints at the same position stay in the canonical order: every client that builds a ring
 * from the same set agrees on every key, whatever order it learned the endpoints in.
 *
 * Lookup index: `starts[b]` is the first virtual node whose position has `b` as its top `bits`
 * bits (`position >>> (32 - bits)`), for b = 0 … 2^bits, with `starts[2^bits] = size`; `bits` is
 * 16, or ⌈log2 size⌉ when the ring has fewer than 2^16 virtual nodes (at least 1). A key's owner is
 * then in `[starts[b], starts[b + 1]]` for its own bucket b: the binary search runs over the
 * virtual nodes of one bucket (about `size / 2^bits`, so one or two steps up to 65,536 virtual
 * nodes and ~4 at 2^20) instead of the ~20 dependent loads over 4 MB of a search of the whole
 * ring, and gives the same answer ({@link findPlain} is that plain search, kept for tests).
 */
import * as hash from "./hash.ts"

/** A ring and the scratch space its builds reuse. */
export interface Ring {
  /** Virtual node positions, ascending (the first `size` entries are in use). */
  positions: Uint32Array
  /** The endpoint index owning each virtual node. */
  owners: Int32Array
  /** The number of virtual nodes. */
  size: number
  scratchPositions: Uint32Array
  scratchOwners: Int32Array
  /** `fmix32(k + 1)` for k = 0, 1, …: the half of `vnode` that is the same for every endpoint. */
  salts: Uint32Array
  readonly counts: Uint32Array
  /** The lookup index: `starts[b]` is the first virtual node of bucket b (see the module doc). */
  starts: Int32Array
  /** `32 - bits`: a key's bucket is `key >>> shift`. */
  shift: number
}

/** The inputs of a build, indexed by endpoint index. */
export interface Input {
  /** The number of endpoints. */
  readonly n: number
  /** The address hash of each endpoint. */
  readonly hashes: ArrayLike<number>
  /** The number of virtual nodes of each endpoint (≥ 1). */
  readonly counts: ArrayLike<number>
  /** The endpoint indices in canonical order (ties between equal positions go to the earlier). */
  readonly order: ArrayLike<number>
}

/** An empty ring. */
export const make = (): Ring => ({
  positions: new Uint32Array(0),
  owners: new Int32Array(0),
  size: 0,
  scratchPositions: new Uint32Array(0),
  scratchOwners: new Int32Array(0),
  salts: new Uint32Array(0),
  counts: new Uint32Array(buckets),
  starts: new Int32Array(2),
  shift: 31
})

/** The position of virtual node `k` of the endpoint whose address hashes to `h`. */
export const vnode = (h: number, k: number): number => hash.fmix32(h ^ hash.fmix32(k + 1))

/**
 * How many virtual nodes each endpoint gets: `round(total · weight / Σweight)`, at least 1, where
 * `total = min(n · perEndpoint, maxSize)`. Writes into `out` and returns the sum.
 */
export const allocate = (
  n: number,
  weights: ArrayLike<number>,
  perEndpoint: number,
  maxSize: number,
  out: { [i: number]: number }
): number => {
  let sum = 0
  for (let i = 0; i < n; i++) sum += weights[i]!
  const total = Math.min(n * perEndpoint, maxSize)
  let size = 0
  for (let i = 0; i < n; i++) {
    const count = Math.max(1, Math.round(total * weights[i]! / sum))
    out[i] = count
    size += count
  }
  return size
}

/** Rebuilds `ring` from `input`. O(total virtual nodes + n). */
export const build = (ring: Ring, input: Input): void => {
  let size = 0
  let most = 0
  for (let r = 0; r < input.n; r++) {
    const count = input.counts[input.order[r]!]!
    size += count
    if (count > most) most = count
  }
  if (ring.positions.length < size || ring.positions.length > 4 * size + 1024) {
    ring.positions = new Uint32Array(size)
    ring.owners = new Int32Array(size)
    ring.scratchPositions = new Uint32Array(size)
    ring.scratchOwners = new Int32Array(size)
  }
  if (ring.salts.length < most) {
    ring.salts = new Uint32Array(most)
    for (let k = 0; k < most; k++) ring.salts[k] = hash.fmix32(k + 1)
  }
  const salt = ring.salts
  let from = ring.scratchPositions
  let fromOwners = ring.scratchOwners
  let to = ring.positions
  let toOwners = ring.owners
  let p = 0
  for (let r = 0; r < input.n; r++) {
    const i = input.order[r]!
    const h = input.hashes[i]!
    const count = input.counts[i]!
    for (let k = 0; k < count; k++) {
      from[p] = hash.fmix32(h ^ salt[k]!)
      fromOwners[p] = i
      p++
    }
  }
  // stable counting passes on 8-bit digits, lowest first, swapping source and target each time
  for (let shift = 0; shift < 32; shift += digit) {
    pass(ring.counts, size, shift, from, fromOwners, to, toOwners)
    const positions = to
    const owners = toOwners
    to = from
    toOwners = fromOwners
    from = positions
    fromOwners = owners
  }
  ring.positions = from
  ring.owners = fromOwners
  ring.scratchPositions = to
  ring.scratchOwners = toOwners
  ring.size = size
  index(ring)
}

/**
 * The index of the virtual node owning `key` (an unsigned 32-bit integer): the first at a position
 * ≥ key, wrapping to 0. The ring is not empty. A binary search within the key's bucket of the
 * lookup index: O(log(size / 2^bits)) expected.
 */
export const find = (ring: Ring, key: number): number => {
  const positions = ring.positions
  const starts = ring.starts
  const bucket = key >>> ring.shift
  let lo = starts[bucket]!
  let hi = starts[bucket + 1]!
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (positions[mid]! < key) lo = mid + 1
    else hi = mid
  }
  return lo === ring.size ? 0 : lo
}

/** The same as {@link find} by a binary search over the whole ring, without the index (for tests). */
export const findPlain = (ring: Ring, key: number): number => {
  const positions = ring.positions
  let lo = 0
  let hi = ring.size
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (positions[mid]! < key) lo = mid + 1
    else hi = mid
  }
  return lo === ring.size ? 0 : lo
}

// internal

/** The most index bits: 2^16 + 1 start positions (256 KB). */
const maxIndexBits = 16

/** Builds the lookup index over the sorted positions. O(size + 2^bits). */
const index = (ring: Ring): void => {
  const size = ring.size
  let bits = 1
  while (bits < maxIndexBits && 2 ** bits < size) bits++
  const count = 2 ** bits
  if (ring.starts.length !== count + 1) ring.starts = new Int32Array(count + 1)
  const starts = ring.starts
  const positions = ring.positions
  const shift = 32 - bits
  ring.shift = shift
  let j = 0
  for (let b = 0; b < count; b++) {
    // the first virtual node at a position ≥ b · 2^shift
    const low = b * 2 ** shift
    while (j < size && positions[j]! < low) j++
    starts[b] = j
  }
  starts[count] = size
}

/** Radix digit width: four passes over 32-bit positions, 256 counters (cache-resident). */
const digit = 8
const buckets = 1 << digit

const pass = (
  counts: Uint32Array,
  size: number,
  shift: number,
  from: Uint32Array,
  fromOwners: Int32Array,
  to: Uint32Array,
  toOwners: Int32Array
): void => {
  const mask = buckets - 1
  counts.fill(0)
  for (let j = 0; j < size; j++) counts[(from[j]! >>> shift) & mask]!++
  let total = 0
  for (let b = 0; b < buckets; b++) {
    const c = counts[b]!
    counts[b] = total
    total += c
  }
  for (let j = 0; j < size; j++) {
    const b = (from[j]! >>> shift) & mask
    const at = counts[b]!++
    to[at] = from[j]!
    toOwners[at] = fromOwners[j]!
  }
}
