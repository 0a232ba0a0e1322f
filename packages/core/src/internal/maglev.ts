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
 * Turns within a round go in the canonical endpoint order (the paper's backend order; Envoy sorts
 * hosts by address for the same reason): by address hash, then by address (see `internal/canonical.ts`),
 * so the table depends only on the set.
 *
 * Lookup: a request hash `h` (an unsigned 32-bit integer) reads entry `⌊h · M / 2^32⌋`, computed as
 * `(h * scale) | 0` with `scale = M / 2^32` (Lemire's multiply-shift "fastrange", "Fast Random
 * Integer Generation in an Interval", 2019) instead of the paper's `h mod M`: one floating-point
 * multiply and a truncation, which every JIT compiles the same way, where `h % M` is an integer
 * division only when the JIT can prove both operands are uint32 (and a floating-point `fmod`
 * otherwise). The map is monotone and splits the 2^32 hashes into M runs of ⌊2^32/M⌋ or
 * ⌈2^32/M⌉: as uniform as `mod`, for hashes that are uniform on 32 bits. Exactness: `scale` is
 * exact (M over a power of two) and `h · M < 2^53` while M ≤ 2^21, so up to 2,097,152 entries (every
 * default size up to 104,857 endpoints) the result is exactly `⌊h · M / 2^32⌋`; above, `h · M` is
 * rounded to 53 bits (identically on every runtime: IEEE 754 round to nearest even), which can move
 * a run boundary by one hash, and the result is still < M because `(2^32 − 1) · M / 2^32` falls
 * short of M by `M / 2^32`, far more than the rounding error.
 *
 * Build cost. The fill takes M turns and probes O(M log M) entries in all (the paper's figure: the
 * last empty entries are found by long walks along the permutations): about 3 million probes for
 * 2^18 entries, 13 million for 2^20. It is proportional to M, so {@link defaultSize} bounds M for
 * large sets. What keeps each probe cheap, without changing which entry any turn claims:
 * - whether an entry is taken is read from a bitset (`M / 8` bytes: 32 KB for 2^18 entries, 128 KB
 *   for 2^20, which stays in the CPU's L2 cache) rather than from the 4-byte entries, which are
 *   written once each and never read during the fill;
 * - a step along a permutation is `c += skip − M; c += (c >> 31) & M`, with no branch to mispredict
 *   (`skip − M` is negative, so the sum is negative exactly when `c + skip` wraps past M);
 * - weights are copied into canonical order, so a round reads its arrays front to back.
 *
 * Three ways to run the rounds, with the same result: with equal weights every endpoint plays every
 * round; otherwise scanning every endpoint each round, as Envoy does, costs n checks per round,
 * about `M · n · W / Σw` in all; when that exceeds 8·M (weights so skewed that most endpoints sit
 * out most rounds) the turns come from a bucket queue by round instead, each round playing its
 * endpoints in canonical order, O(1) per turn plus a numeric sort of each round's endpoints.
 *
 * The canonical order is computed with the runtime's numeric sort of `h1 · 2^k + index`
 * (`canonical.sort`); the addresses are compared only where two hashes are equal.
 */

/** A table and the scratch space its builds reuse. */
export interface Table {
  /** The endpoint index of each entry. */
  entries: Int32Array
  /** The number of entries, `M` (a prime). */
  size: number
  /** `M / 2^32`: hash `h` reads entry `(h * scale) | 0` (see {@link entryOf}). */
  scale: number
  /** Scratch: one bit per entry, set once the entry is taken. */
  used: Int32Array
  /** Per canonical rank: the next permutation entry to try, `skip − M`, weight, entries taken. */
  next: Int32Array
  step: Int32Array
  weight: Float64Array
  taken: Float64Array
  /** The queue: per rank the next rank due in the same round, and one round's ranks. */
  link: Int32Array
  batch: Int32Array
  /** The queue: per round the first rank due in it, or -1. */
  head: Int32Array
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
  used: new Int32Array(0),
  next: new Int32Array(0),
  step: new Int32Array(0),
  weight: new Float64Array(0),
  taken: new Float64Array(0),
  link: new Int32Array(0),
  batch: new Int32Array(0),
  head: new Int32Array(0)
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

/** Entries per endpoint the default size aims for while the table is small (the paper's 100). */
export const entriesPerEndpoint = 100
/** The fewest entries per endpoint the default size allows, however large the set. */
export const minEntriesPerEndpoint = 10
/** The default size stops following 100·n at this power of two (2^18; 262,147 entries). */
export const defaultCap = 262_144

/**
 * The default table size for n endpoints: the smallest prime ≥ the smallest power of two that is
 * ≥ max(65536, min(100·n, max(2^18, 10·n))).
 *
 * - Up to 655 endpoints: 65,537. Up to 2,621: the paper's M ≥ 100·n (65,537, 131,101, 262,147).
 * - From 2,622 to 26,214 endpoints: 262,147 (2^18 entries, 1 MB), from 100 down to 10 entries per
 *   endpoint.
 * - Above: M ≥ 10·n (524,309 up to 52,428 endpoints, 1,048,583 up to 104,857, …), so every
 *   endpoint keeps at least 10 entries and the table and its build grow linearly with n, where
 *   M ≥ 100·n made a build at 100,000 endpoints fill 16.8 million entries.
 *
 * The size never decreases as n grows; the power-of-two ladder means the size, which remaps almost
 * every key when it changes, changes only when n crosses 655, 1,310, 26,214, 52,428, 104,857, ….
 */
export const defaultSize = (n: number): number => {
  const wanted = Math.max(65536, Math.min(entriesPerEndpoint * n, Math.max(defaultCap, minEntriesPerEndpoint * n)))
  let power = 65536
  while (power < wanted) power *= 2
  return primeAtLeast(power)
}

/**
 * Rebuilds `table` with `size` entries (a prime, at most 2^26) from `input`; n ≥ 1. `strategy`
 * forces the round-by-round scan or the queue (for tests); every way gives the same table.
 */
export const build = (
  table: Table,
  size: number,
  input: Input,
  strategy: "auto" | "scan" | "queue" = "auto"
): void => {
  const n = input.n
  if (table.entries.length !== size) table.entries = new Int32Array(size)
  const words = (size + 31) >>> 5
  if (table.used.length !== words) table.used = new Int32Array(words)
  else table.used.fill(0)
  if (table.next.length < n || table.next.length > 4 * n + 64) {
    table.next = new Int32Array(n)
    table.step = new Int32Array(n)
    table.weight = new Float64Array(n)
    table.taken = new Float64Array(n)
    table.link = new Int32Array(n)
    table.batch = new Int32Array(n)
  }
  table.size = size
  table.scale = scaleOf(size)
  const sum = permute(table, input)
  const max = largest(table.weight, n)
  if (strategy === "queue" || (strategy === "auto" && n * max > 8 * sum)) {
    fillQueue(table, n, input.order, max, sum)
    // one number per round, up to M of them when one endpoint outweighs the rest: not kept
    if (table.head.length > 4 * n + 65536) table.head = new Int32Array(0)
  } else if (strategy === "auto" && max * n === sum) fillEqual(table, n, input.order)
  else fillScan(table, n, input.order, max)
}

// internal

// Each loop below is a function of its own that returns right after the loop. The first build in a
// process runs before the JIT has compiled anything: it compiles a long loop while it runs (on-stack
// replacement), and code after that loop, never run yet, has no type feedback, so the compiled code
// is thrown away when it gets there (V8: "insufficient type feedback"), and the rest of the call
// runs unoptimized. With its loops in one function, a first build at 10,000 endpoints took about
// twice as long as a later one (Node 24); split like this, about as long.

/** Each rank's first entry, step and weight; returns Σw. */
const permute = (table: Table, input: Input): number => {
  const size = table.size
  const next = table.next
  const step = table.step
  const weight = table.weight
  const order = input.order
  let sum = 0
  for (let r = 0; r < input.n; r++) {
    const i = order[r]!
    next[r] = (input.h1[i]! >>> 0) % size
    step[r] = ((input.h2[i]! >>> 0) % (size - 1)) + 1 - size
    const w = input.weights[i]!
    weight[r] = w
    sum += w
  }
  return sum
}

const largest = (values: Float64Array, n: number): number => {
  let max = 0
  for (let r = 0; r < n; r++) if (values[r]! > max) max = values[r]!
  return max
}

/**
 * Claims for endpoint `owner` (canonical rank r) the next entry of its permutation that is not
 * taken. Branch-free step: `c + (skip − M)` is negative exactly when `c + skip` wraps past M.
 */
const claim = (table: Table, r: number, owner: number): void => {
  const used = table.used
  const size = table.size
  const step = table.step[r]!
  let c = table.next[r]!
  while ((used[c >>> 5]! >>> (c & 31)) & 1) {
    c += step
    c += (c >> 31) & size
  }
  const word = c >>> 5
  used[word] = used[word]! | (1 << (c & 31))
  table.entries[c] = owner
  c += step
  table.next[r] = c + ((c >> 31) & size)
}

/** Equal weights: every endpoint takes a turn every round (the paper's loop). */
const fillEqual = (table: Table, n: number, order: ArrayLike<number>): void => {
  const size = table.size
  for (let filled = 0; filled < size;) filled = equalRound(table, n, order, filled)
}

/** One round with equal weights, from `filled` entries taken; the entries taken after it. */
const equalRound = (table: Table, n: number, order: ArrayLike<number>, filled: number): number => {
  const size = table.size
  for (let r = 0; r < n; r++) {
    claim(table, r, order[r]!)
    if (++filled === size) break
  }
  return filled
}

/** Every round, each endpoint in canonical order, taking its turn if its weight allows (Envoy). */
const fillScan = (table: Table, n: number, order: ArrayLike<number>, max: number): void => {
  table.taken.fill(0, 0, n)
  const size = table.size
  for (let t = 1, filled = 0; filled < size; t++) filled = scanRound(table, n, order, max, t, filled)
}

/** Round t of the scan, from `filled` entries taken; the entries taken after it. */
const scanRound = (
  table: Table,
  n: number,
  order: ArrayLike<number>,
  max: number,
  t: number,
  filled: number
): number => {
  const taken = table.taken
  const weight = table.weight
  const size = table.size
  for (let r = 0; r < n; r++) {
    if (taken[r]! * max > t * weight[r]!) continue
    taken[r]!++
    claim(table, r, order[r]!)
    if (++filled === size) break
  }
  return filled
}

/**
 * The turns by round from a bucket queue: `head[t]` lists the ranks whose next turn is in round t
 * (linked through `link`), and each round plays its ranks in rank order. The last round played is
 * at most ⌈M · max / Σw⌉: after round t every endpoint holds at least t · w / max entries, so
 * (t − 1) · Σw / max < M while the fill goes on. A turn due after that round is never played and
 * not queued.
 */
const fillQueue = (table: Table, n: number, order: ArrayLike<number>, max: number, sum: number): void => {
  const size = table.size
  const last = Math.ceil(size * max / sum) + 1
  if (table.head.length < last + 1) table.head = new Int32Array(last + 1)
  table.head.fill(-1, 0, last + 1)
  table.taken.fill(0, 0, n)
  let count = ranks(table.batch, n)
  let filled = 0
  for (let t = 1; t <= last && filled < size; t++) {
    if (t > 1) {
      count = due(table, t)
      if (count > 1) table.batch.subarray(0, count).sort()
    }
    filled = queueRound(table, order, max, t, last, count, filled)
  }
}

/** `batch = [0, 1, …, n − 1]`; returns n. */
const ranks = (batch: Int32Array, n: number): number => {
  for (let r = 0; r < n; r++) batch[r] = r
  return n
}

/** Moves the ranks due in round t into `batch` (in no order); returns how many. */
const due = (table: Table, t: number): number => {
  const batch = table.batch
  const link = table.link
  let count = 0
  for (let r = table.head[t]!; r >= 0; r = link[r]!) batch[count++] = r
  return count
}

/** Plays round t of the queue (`count` ranks in `batch`, in rank order) from `filled` entries taken. */
const queueRound = (
  table: Table,
  order: ArrayLike<number>,
  max: number,
  t: number,
  last: number,
  count: number,
  filled: number
): number => {
  const size = table.size
  const taken = table.taken
  const weight = table.weight
  const link = table.link
  const head = table.head
  const batch = table.batch
  for (let k = 0; k < count; k++) {
    const r = batch[k]!
    claim(table, r, order[r]!)
    if (++filled === size) break
    // the next round t' > t with taken · max ≤ t' · w
    const next = Math.max(t + 1, Math.ceil(++taken[r]! * max / weight[r]!))
    if (next <= last) {
      link[r] = head[next]!
      head[next] = r
    }
  }
  return filled
}
