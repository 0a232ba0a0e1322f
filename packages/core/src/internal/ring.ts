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
 * caller's canonical endpoint order, distributes them by the top bits of their position into the
 * buckets of the lookup index below (two cache-friendly stable counting sorts of 8 bits each),
 * then sorts each bucket — a handful of virtual nodes, their positions uniform — by a stable
 * insertion sort. The build is O(size) expected, and
 * virtual nodes of different endpoints at the same position stay in the canonical order: every
 * client that builds a ring from the same set agrees on every key, whatever order it learned the
 * endpoints in.
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
  /** `fmix32(k + 1)` for k = 0, 1, …: the half of `vnode` that is the same for every endpoint. */
  salts: Uint32Array
  /** Scratch: the next free place of each bucket while scattering. */
  cursors: Int32Array
  /** Scratch: the starts of the buckets of the top 8 bits (257). */
  readonly top: Int32Array
  /** Scratch: the virtual nodes after the first counting sort. */
  scratchMid: Uint32Array
  scratchMidOwners: Int32Array
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
  salts: new Uint32Array(0),
  cursors: new Int32Array(257),
  top: new Int32Array(257),
  scratchMid: new Uint32Array(0),
  scratchMidOwners: new Int32Array(0),
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
    ring.scratchMid = new Uint32Array(size)
    ring.scratchMidOwners = new Int32Array(size)
  }
  if (ring.salts.length < most) {
    ring.salts = new Uint32Array(most)
    for (let k = 0; k < most; k++) ring.salts[k] = hash.fmix32(k + 1)
  }
  ring.size = size
  // the virtual nodes in canonical order, into `positions` / `owners` for now, then the first of
  // the two stable counting sorts of `distribute` (by the top 8 bits) into the scratch arrays
  generate(input, ring.salts, ring.positions, ring.owners)
  countTop(ring.top, ring.positions, size)
  scatterTop(ring.top, ring.cursors, ring.positions, ring.owners, ring.scratchMid, ring.scratchMidOwners, size)
  distribute(ring)
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

/**
 * Finishes the sort of the `ring.size` virtual nodes that `build` left in the scratch arrays,
 * sorted by their top 8 bits (a stable counting sort, 256 cache-friendly output streams), into
 * `ring.positions` / `ring.owners`, then builds the lookup index: within each top bucket a second
 * stable counting sort on the next bits, enough to leave about one virtual node per sub-bucket (at
 * most 12 bits, so a bucket of 2^19 / 256 virtual nodes and its counters stay in cache), then a
 * stable insertion sort of the bucket, which is sorted but for rare neighbours: O(size) expected,
 * with few mispredicted branches.
 */
const distribute = (ring: Ring): void => {
  const size = ring.size
  let log = 0
  while (log < 32 && 2 ** log < size) log++
  const subBits = Math.min(Math.max(log - 8, 0), 12)
  const subShift = 24 - subBits
  const subMask = 2 ** subBits - 1
  if (ring.cursors.length < 2 ** subBits + 1) ring.cursors = new Int32Array(2 ** subBits + 1)
  const top = ring.top
  const cursors = ring.cursors
  const mid = ring.scratchMid
  const midOwners = ring.scratchMidOwners
  const to = ring.positions
  const toOwners = ring.owners
  const subCount = 2 ** subBits
  for (let t = 0; t < 256; t++) {
    const lo = top[t]!
    const hi = top[t + 1]!
    if (hi - lo > 1) sortBucket(mid, midOwners, to, toOwners, cursors, lo, hi, subShift, subMask, subCount)
    else if (hi > lo) {
      to[lo] = mid[lo]!
      toOwners[lo] = midOwners[lo]!
    }
  }
  index(ring)
}

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

// Each loop of a build is a function of its own: a build runs each loop once over up to 2^19
// virtual nodes, and small functions reach optimized code sooner on every JIT (the first build
// of a process is the slow one).

/** The virtual nodes of the endpoints in canonical order. */
const generate = (input: Input, salt: Uint32Array, positions: Uint32Array, owners: Int32Array): void => {
  let p = 0
  for (let r = 0; r < input.n; r++) {
    const i = input.order[r]!
    const h = input.hashes[i]!
    const count = input.counts[i]!
    for (let k = 0; k < count; k++) {
      positions[p] = hash.fmix32(h ^ salt[k]!)
      owners[p] = i
      p++
    }
  }
}

/** `top[b]`: where the virtual nodes whose top 8 bits are `b` start, in sorted order. */
const countTop = (top: Int32Array, positions: Uint32Array, size: number): void => {
  top.fill(0)
  for (let j = 0; j < size; j++) top[(positions[j]! >>> 24) + 1]!++
  for (let b = 0; b < 256; b++) top[b + 1]! += top[b]!
}

/** The stable counting sort by the top 8 bits, from `positions` / `owners` into `to` / `toOwners`. */
const scatterTop = (
  top: Int32Array,
  cursors: Int32Array,
  positions: Uint32Array,
  owners: Int32Array,
  to: Uint32Array,
  toOwners: Int32Array,
  size: number
): void => {
  for (let b = 0; b < 256; b++) cursors[b] = top[b]!
  for (let j = 0; j < size; j++) {
    const position = positions[j]!
    const at = cursors[position >>> 24]!++
    to[at] = position
    toOwners[at] = owners[j]!
  }
}

/**
 * One top bucket `[lo, hi)` of `mid`, sorted into `to`: a stable counting sort on the bits under
 * `subShift`, then an insertion sort of the (nearly sorted) result.
 */
const sortBucket = (
  mid: Uint32Array,
  midOwners: Int32Array,
  to: Uint32Array,
  toOwners: Int32Array,
  cursors: Int32Array,
  lo: number,
  hi: number,
  subShift: number,
  subMask: number,
  subCount: number
): void => {
  cursors.fill(0, 0, subCount + 1)
  for (let j = lo; j < hi; j++) cursors[((mid[j]! >>> subShift) & subMask) + 1]!++
  cursors[0] = lo
  for (let k = 0; k < subCount; k++) cursors[k + 1]! += cursors[k]!
  for (let j = lo; j < hi; j++) {
    const position = mid[j]!
    const at = cursors[(position >>> subShift) & subMask]!++
    to[at] = position
    toOwners[at] = midOwners[j]!
  }
  sortRange(to, toOwners, lo, hi)
}

/** Stable insertion sort of `[lo, hi)` by position (a bucket: a few entries, nearly random). */
const sortRange = (positions: Uint32Array, owners: Int32Array, lo: number, hi: number): void => {
  for (let j = lo + 1; j < hi; j++) {
    const position = positions[j]!
    if (position >= positions[j - 1]!) continue
    const owner = owners[j]!
    let k = j - 1
    while (k >= lo && positions[k]! > position) {
      positions[k + 1] = positions[k]!
      owners[k + 1] = owners[k]!
      k--
    }
    positions[k + 1] = position
    owners[k + 1] = owner
  }
}
