/**
 * Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
 * Balancer", NSDI 2016, §3.4, Pseudocode 1), with Envoy's weighted variant.
 *
 * The lookup table has a prime number `M` of entries. Endpoint `i` has the permutation
 * `(offset_i + j · skip_i) mod M` for j = 0, 1, …, with `offset = h1 mod M` and
 * `skip = h2 mod (M − 1) + 1` from two hashes of its address; M prime makes every permutation
 * visit every entry. Endpoints take turns in rounds; on its turn an endpoint claims the next entry
 * of its permutation that is still empty, until the table is full.
 *
 * Weights (Envoy's `maglev_lb`): in round `t` (from 1) an endpoint with weight `w` takes a turn only
 * while the entries it holds, counted in units of the largest weight `W`, are at most `t · w`
 * (`taken · W ≤ t · w`). An endpoint of weight `W` takes a turn every round, one of weight `W/3`
 * every third round. With equal weights this is the paper's algorithm exactly, and every endpoint
 * ends with ⌊M/n⌋ or ⌈M/n⌉ entries. With unequal weights, after round t an endpoint holds
 * ⌊t·w/W⌋ entries plus one if it is lighter than the heaviest (its round-1 turn), and the last
 * round is partial, so each endpoint is within `2 + 2·w/mean(w)` entries of its exact share
 * `M·w/Σw`: light endpoints gain about one entry each, taken from the heaviest.
 *
 * Turns within a round go in the caller's canonical endpoint order (the paper's backend order;
 * Envoy sorts hosts by address for the same reason): the table depends only on the set.
 *
 * Lookup: a request hash `h` (an unsigned 32-bit integer) reads entry `⌊h · M / 2^32⌋`, computed as
 * `(h * scale) | 0` with `scale = M / 2^32` (Lemire's multiply-shift "fastrange", "Fast Random
 * Integer Generation in an Interval", 2019) instead of the paper's `h mod M`: one floating-point
 * multiply and a truncation, which every JIT compiles the same way, where `h % M` is an integer
 * division only when the JIT can prove both operands are uint32 (and a floating-point `fmod`
 * otherwise). The map is monotone and splits the 2^32 hashes into M runs of ⌊2^32/M⌋ or
 * ⌈2^32/M⌉: as uniform as `mod`, for hashes that are uniform on 32 bits. Exactness: `scale` is
 * exact (M over a power of two) and `h · M < 2^53` while M ≤ 2^21, so up to 2,097,152 entries (the
 * default size up to 10,485 endpoints) the result is exactly `⌊h · M / 2^32⌋`; above, `h · M` is
 * rounded to 53 bits (identically on every runtime: IEEE 754 round to nearest even), which can move
 * a run boundary by one hash, and the result is still < M because `(2^32 − 1) · M / 2^32` falls
 * short of M by `M / 2^32`, far more than the rounding error.
 *
 * Two ways to run the rounds, with the same result: scanning every endpoint each round, as Envoy
 * does, costs n checks per round, about `M · n · W / Σw` in all; when that exceeds 8·M (weights
 * so skewed that most endpoints sit out most rounds) the turns are taken from a binary heap keyed
 * by (next eligible round, canonical rank) instead, O(log n) per entry. Filling the last empty
 * entries takes more probes: O(M log M) expected in all, as the paper notes.
 */

/** A table and the scratch space its builds reuse. */
export interface Table {
  /** The endpoint index of each entry. */
  entries: Int32Array
  /** The number of entries, `M` (a prime). */
  size: number
  /** `M / 2^32`: hash `h` reads entry `(h * scale) | 0` (see {@link entryOf}). */
  scale: number
  /** Per canonical rank: next permutation entry to try, skip, entries taken, and the heap. */
  next: Int32Array
  skip: Int32Array
  taken: Float64Array
  round: Float64Array
  heap: Int32Array
}

/** The inputs of a build, indexed by endpoint index. */
export interface Input {
  readonly n: number
  /** First address hash (gives the offset). */
  readonly h1: ArrayLike<number>
  /** Second, independent address hash (gives the skip). */
  readonly h2: ArrayLike<number>
  /** Positive weights. */
  readonly weights: ArrayLike<number>
  /** The endpoint indices in canonical order. */
  readonly order: ArrayLike<number>
}

/** An empty table. */
export const make = (): Table => ({
  entries: new Int32Array(0),
  size: 0,
  scale: 0,
  next: new Int32Array(0),
  skip: new Int32Array(0),
  taken: new Float64Array(0),
  round: new Float64Array(0),
  heap: new Int32Array(0)
})

/** `M / 2^32` for a table of `size` entries (exact: a power-of-two division). */
export const scaleOf = (size: number): number => size / 4294967296

/**
 * The entry read for hash `h`, an unsigned 32-bit integer: `⌊h · M / 2^32⌋` with `scale = M / 2^32`
 * (exact for M ≤ 2^21; see the module doc). Always in [0, M).
 */
export const entryOf = (h: number, scale: number): number => (h * scale) | 0

/**
 * The smallest hash that reads entry `e` of a table of `size` entries: `⌈e · 2^32 / M⌉` (for
 * tests, and for reading a table entry by entry through `pick`). Exact for M ≤ 2^21.
 */
export const firstHash = (e: number, size: number): number => Math.ceil(e * 4294967296 / size)

/** Whether `m` is prime (trial division; m < 2^31). */
export const isPrime = (m: number): boolean => {
  if (m < 2) return false
  if (m % 2 === 0) return m === 2
  for (let d = 3; d * d <= m; d += 2) if (m % d === 0) return false
  return true
}

/** The smallest prime ≥ m. */
export const primeAtLeast = (m: number): number => {
  let p = Math.max(2, Math.ceil(m))
  while (!isPrime(p)) p++
  return p
}

/**
 * The default table size for n endpoints: the smallest prime ≥ the smallest power of two that is
 * ≥ max(65536, 100 · n). So M = 65537 up to 655 endpoints, and M > 100·n always (the paper's
 * guidance for at most ~1% imbalance); the power-of-two ladder means the size, which remaps almost
 * every key when it changes, changes only when n crosses 655·2^k.
 */
export const defaultSize = (n: number): number => {
  let power = 65536
  while (power < 100 * n) power *= 2
  return primeAtLeast(power)
}

/**
 * Rebuilds `table` with `size` entries (a prime) from `input`; n ≥ 1. `strategy` forces the scan or
 * the heap (for tests); both give the same table.
 */
export const build = (
  table: Table,
  size: number,
  input: Input,
  strategy: "auto" | "scan" | "heap" = "auto"
): void => {
  const n = input.n
  if (table.entries.length !== size) table.entries = new Int32Array(size)
  if (table.next.length < n || table.next.length > 4 * n + 64) {
    table.next = new Int32Array(n)
    table.skip = new Int32Array(n)
    table.taken = new Float64Array(n)
    table.round = new Float64Array(n)
    table.heap = new Int32Array(n)
  }
  table.size = size
  table.scale = scaleOf(size)
  const entries = table.entries
  const next = table.next
  const skip = table.skip
  entries.fill(-1)
  let max = 0
  let sum = 0
  for (let r = 0; r < n; r++) {
    const i = input.order[r]!
    next[r] = (input.h1[i]! >>> 0) % size
    skip[r] = ((input.h2[i]! >>> 0) % (size - 1)) + 1
    const w = input.weights[i]!
    sum += w
    if (w > max) max = w
  }
  if (strategy === "heap" || (strategy === "auto" && n * max > 8 * sum)) fillHeap(table, n, input, max)
  else fillScan(table, n, input, max)
}

// internal

/** Claims the next empty entry of rank r's permutation for endpoint `owner`. */
const claim = (table: Table, r: number, owner: number): void => {
  const entries = table.entries
  const size = table.size
  const skip = table.skip[r]!
  let c = table.next[r]!
  while (entries[c]! >= 0) {
    c += skip
    if (c >= size) c -= size
  }
  entries[c] = owner
  c += skip
  table.next[r] = c >= size ? c - size : c
}

const fillScan = (table: Table, n: number, input: Input, max: number): void => {
  const taken = table.taken
  const order = input.order
  const weights = input.weights
  taken.fill(0, 0, n)
  const size = table.size
  let filled = 0
  for (let t = 1;; t++) {
    for (let r = 0; r < n; r++) {
      const i = order[r]!
      if (taken[r]! * max > t * weights[i]!) continue
      taken[r]!++
      claim(table, r, i)
      if (++filled === size) return
    }
  }
}

const fillHeap = (table: Table, n: number, input: Input, max: number): void => {
  const taken = table.taken
  const round = table.round
  const heap = table.heap
  for (let r = 0; r < n; r++) {
    taken[r] = 0
    round[r] = 1
    heap[r] = r
  }
  // ranks in order with equal rounds already form a heap
  const size = table.size
  for (let filled = 0; filled < size; filled++) {
    const r = heap[0]!
    const i = input.order[r]!
    claim(table, r, i)
    const t = ++taken[r]!
    // next round t' > round with t·max ≤ t'·w
    round[r] = Math.max(round[r]! + 1, Math.ceil(t * max / input.weights[i]!))
    siftDown(heap, round, n, 0)
  }
}

const before = (round: Float64Array, a: number, b: number): boolean =>
  round[a]! < round[b]! || (round[a] === round[b] && a < b)

const siftDown = (heap: Int32Array, round: Float64Array, n: number, at: number): void => {
  const item = heap[at]!
  let i = at
  for (;;) {
    let child = 2 * i + 1
    if (child >= n) break
    if (child + 1 < n && before(round, heap[child + 1]!, heap[child]!)) child++
    if (!before(round, heap[child]!, item)) break
    heap[i] = heap[child]!
    i = child
  }
  heap[i] = item
}
