/**
 * A static stride scheduler: weighted round robin in O(1) expected probes per pick (the scheme of
 * gRPC's weighted round robin, gRFC A58, and grpc-go `balancer/weightedroundrobin/scheduler.go`).
 *
 * The schedule is a fixed cyclic order of `size` entries, each with an integer weight in
 * `[1, max]`. A pick probes entries in that order from the cursor; the probe of an entry of weight
 * `w` adds `w` to its credit, and when the credit reaches `max` the entry takes the turn and the
 * credit drops by `max`. A pass over all entries is a round. An entry of weight `max` takes its turn
 * in every round, so no pick probes more than `size` entries.
 *
 * - Exact shares: over any `max` consecutive rounds an entry's credit grows by `w · max` and ends
 *   where it started, so it takes exactly `w` turns; over any `r` consecutive rounds it takes
 *   `⌊r·w/max⌋` or `⌈r·w/max⌉`. Hence any `Σw` consecutive picks of an unchanged schedule give each
 *   entry exactly its weight in turns (they span `max` rounds of every entry).
 * - Cost: `size · max` probes per `Σw` picks. gRPC rounds weights to 16 bits relative to the
 *   largest, so its cost grows with `max / mean` and its shares are approximate. Here weights stay
 *   exact integers and an item heavier than twice the mean weight is split into `⌈w / cap⌉` entries
 *   of nearly equal weight (`cap = ⌈2·Σw/n⌉`), placed at evenly spaced points of the round. Then
 *   `size ≤ 1.5·n`, `max ≤ cap`, and a pick costs `size · max / Σw ≤ 3 + n/Σw ≤ 4` probes on average
 *   over a cycle, whatever the weights.
 * - Layout: typed arrays by position (`weights`, `credits`) and the items by position, so a probe
 *   touches two integers and a turn returns `items[j]`. Credits are stored minus `max` (in
 *   `[−max, 0)`), which keeps every value of the probe inside the 32-bit signed range for weights
 *   up to `2^31 − 1`. A pick allocates nothing.
 * - Rebuilds carry state over: an item of the previous build whose entry count and the period
 *   `max` are unchanged keeps every entry's credit exactly (a weight change then only changes the
 *   rate); otherwise its entries start from its first entry's place in the cycle, rescaled to the
 *   new period (rounded to nearest, so repeated rescaling has no drift in either direction). A new
 *   item starts at the phase the caller gives (the fraction of its cycle already behind it). The
 *   cursor keeps its relative place in the round, so frequent rebuilds neither favour the entries
 *   at the start of the order nor skip part of the round.
 */

/** A schedule of items. */
export interface Schedule<A> {
  /** The number of entries in a round. */
  size: number
  /** The largest entry weight: an entry of weight `w` takes `w` turns every `max` rounds. */
  max: number
  /** The position the next pick probes first. */
  cursor: number
  /** The number of items (the last build's `n`). */
  count: number
  /** The arrays of the last build. */
  current: Buffers<A>
  /**
   * `current`'s items, weights and credits, held by the schedule itself: a pick reads them with
   * one load fewer (on Bun, through a Balancer: 2.1-2.2× the plain stride scheduler → 1.5-2.0×).
   */
  items: Array<A>
  weights: Int32Array
  credits: Int32Array
  /** The arrays of the build before, reused by the next one. */
  spare: Buffers<A>
}

/** The arrays of one build. */
export interface Buffers<A> {
  /** By position: the item. */
  readonly items: Array<A>
  /** By position: the entry's weight, in `[1, max]`. */
  readonly weights: Int32Array
  /** By position: the entry's credit minus `max`, in `[−max, 0)`. */
  readonly credits: Int32Array
  /** By position: the index of the entry's item in the build's `items`. */
  readonly owners: Int32Array
  /** By entry in build order (item by item, copy by copy): its position. */
  readonly positions: Int32Array
  /** By item in build order: its first entry. */
  readonly first: Int32Array
  /** By item in build order: its number of entries. */
  readonly copies: Int32Array
}

/** An empty schedule. */
export const make = <A>(): Schedule<A> => ({
  size: 0,
  max: 0,
  cursor: 0,
  count: 0,
  current: buffers(0, 0),
  items: [],
  weights: new Int32Array(0),
  credits: new Int32Array(0),
  spare: buffers(0, 0)
})

/**
 * Rebuilds the schedule for `items` with integer weights in `[1, 2^31 − 1]`; `phase` gives the
 * starting phase (in `[0, 1)`) of an item that was not in the previous build. O(n) time; allocates
 * a map of the items that changed place, and the arrays when they grow.
 */
export const build = <A>(
  schedule: Schedule<A>,
  items: ReadonlyArray<A>,
  weightOf: (item: A) => number,
  phase: (item: A) => number
): void => {
  // one loop per function: each gets compiled on its own, where one function with six loops ran
  // its later loops unoptimized (V8 deoptimized it for the feedback they lacked) at 3-5× the cost
  const n = items.length
  const cap = capOf(items, weightOf)
  const size = entries(items, weightOf, cap)
  const spare = schedule.spare
  const next = spare.weights.length < size || spare.copies.length < n ? buffers<A>(size, n) : spare
  split(items, weightOf, cap, next)
  layout(next, n, size)
  const max = assign(items, weightOf, next)
  const old = schedule.current
  const built: Buffers<A> = { ...next, items: listed(items, next.owners, size) }
  carry(schedule, items, phase, built, max)
  // the cursor's place in the round, in exact integer arithmetic (an unchanged size keeps it)
  const cursor = schedule.size > 0 ? Math.floor(schedule.cursor * size / schedule.size) : 0
  // the spare keeps the arrays, not the items (no reference to a removed item outlives the build)
  schedule.spare = { ...old, items: [] }
  schedule.current = built
  schedule.items = built.items
  schedule.weights = built.weights
  schedule.credits = built.credits
  schedule.size = size
  schedule.max = max
  schedule.count = n
  schedule.cursor = cursor
}

/** Takes the next turn: the item of the entry that takes it, or `undefined` when empty. */
export const next = <A>(schedule: Schedule<A>): A | undefined => {
  const at = nextAt(schedule)
  return at < 0 ? undefined : schedule.items[at]
}

/** Takes the next turn: the position of the entry that takes it, or `-1` when empty. */
export const nextAt = <A>(schedule: Schedule<A>): number => {
  const size = schedule.size
  if (size === 0) return -1
  const credits = schedule.credits
  const weights = schedule.weights
  const max = schedule.max
  let j = schedule.cursor
  for (;;) {
    const credit = credits[j]! + weights[j]!
    if (credit >= 0) {
      credits[j] = credit - max
      schedule.cursor = j + 1 === size ? 0 : j + 1
      return j
    }
    credits[j] = credit
    j = j + 1 === size ? 0 : j + 1
  }
}

/**
 * The coming turns without taking them: up to `limit` distinct items in the order of their next
 * turn, each with the number of turns before it (0 for the next pick), looking at most `probes`
 * entries ahead. Allocates.
 */
export const upcoming = <A>(
  schedule: Schedule<A>,
  limit: number,
  probes: number
): Array<{ readonly item: A; readonly before: number }> => {
  const out: Array<{ readonly item: A; readonly before: number }> = []
  const size = schedule.size
  if (size === 0) return out
  const { credits, items, weights } = schedule.current
  const seen = new Set<A>()
  const changed = new Map<number, number>()
  let turns = 0
  let j = schedule.cursor
  for (let probe = 0; probe < probes && out.length < limit; probe++) {
    const credit = (changed.get(j) ?? credits[j]!) + weights[j]!
    changed.set(j, credit >= 0 ? credit - schedule.max : credit)
    if (credit >= 0) {
      const item = items[j]!
      if (!seen.has(item)) {
        seen.add(item)
        out.push({ item, before: turns })
      }
      turns++
    }
    j = j + 1 === size ? 0 : j + 1
  }
  return out
}

// internal

/**
 * The largest entry weight allowed: the heaviest weight when it is at most twice the mean (no
 * split), else `⌈2·Σw/n⌉`.
 */
const capOf = <A>(items: ReadonlyArray<A>, weightOf: (item: A) => number): number => {
  const n = items.length
  let total = 0
  let heaviest = 0
  for (let i = 0; i < n; i++) {
    const w = weightOf(items[i]!)
    total += w
    if (w > heaviest) heaviest = w
  }
  return n === 0 || heaviest <= 2 * total / n ? heaviest : Math.ceil(2 * total / n)
}

/** The number of entries: `Σ ⌈w / cap⌉`. */
const entries = <A>(items: ReadonlyArray<A>, weightOf: (item: A) => number, cap: number): number => {
  let size = 0
  for (let i = 0; i < items.length; i++) size += Math.ceil(weightOf(items[i]!) / cap)
  return size
}

/** Fills `copies` and `first` by item. */
const split = <A>(items: ReadonlyArray<A>, weightOf: (item: A) => number, cap: number, buffers: Buffers<A>): void => {
  const { copies, first } = buffers
  let entry = 0
  for (let i = 0; i < items.length; i++) {
    const k = Math.ceil(weightOf(items[i]!) / cap)
    first[i] = entry
    copies[i] = k
    entry += k
  }
}

/** Fills `weights` and `owners` by position (an item's weight shared out over its entries); returns the largest. */
const assign = <A>(items: ReadonlyArray<A>, weightOf: (item: A) => number, buffers: Buffers<A>): number => {
  const { copies, first, owners, positions, weights } = buffers
  let max = 0
  for (let i = 0; i < items.length; i++) {
    const w = weightOf(items[i]!)
    const k = copies[i]!
    const base = Math.floor(w / k)
    const heavier = w - base * k
    for (let j = 0; j < k; j++) {
      const at = positions[first[i]! + j]!
      const ew = j < heavier ? base + 1 : base
      weights[at] = ew
      owners[at] = i
      if (ew > max) max = ew
    }
  }
  return max
}

/** The items by position, as a fresh packed array (refilling or clearing the old one costs more). */
const listed = <A>(items: ReadonlyArray<A>, owners: Int32Array, size: number): Array<A> => {
  if (size === items.length) return items.slice() // no split: the items' own order
  const list: Array<A> = []
  for (let at = 0; at < size; at++) list.push(items[owners[at]!]!)
  return list
}

/** Fills the credits of `next`, carried over from the schedule's current build where it had the item. */
const carry = <A>(
  schedule: Schedule<A>,
  items: ReadonlyArray<A>,
  phase: (item: A) => number,
  next: Buffers<A>,
  max: number
): void => {
  const { copies: oldCopies, credits: oldCredits, first: oldFirst, items: oldItems, positions: oldPositions } =
    schedule.current
  const oldMax = schedule.max
  const before = schedule.count
  const n = items.length
  const { copies, credits, first, positions } = next
  // the previous build's index of each item: most items keep theirs (a removal moves one item into
  // the gap, an addition appends), so only the others go through a map (a Map of object keys costs
  // ~100 ns an operation: over every item, the most of a rebuild at 10,000)
  let moved: Map<A, number> | undefined
  for (let i = 0; i < before; i++) {
    const item = oldItems[oldPositions[oldFirst[i]!]!]!
    if (i >= n || items[i] !== item) (moved ??= new Map()).set(item, i)
  }
  for (let i = 0; i < n; i++) {
    const item = items[i]!
    const k = copies[i]!
    const to = first[i]!
    const p = i < before && item === oldItems[oldPositions[oldFirst[i]!]!]
      ? i
      : moved?.get(item)
    if (p !== undefined && oldCopies[p] === k && oldMax === max) {
      const from = oldFirst[p]!
      for (let j = 0; j < k; j++) credits[positions[to + j]!] = oldCredits[oldPositions[from + j]!]!
      continue
    }
    const start = p === undefined ? phase(item) : (oldCredits[oldPositions[oldFirst[p]!]!]! + oldMax) / oldMax
    for (let j = 0; j < k; j++) {
      credits[positions[to + j]!] = Math.min(max - 1, Math.floor(((start + j / k) % 1) * max + 0.5)) - max
    }
  }
}

const buffers = <A>(size: number, n: number): Buffers<A> => ({
  items: [],
  weights: new Int32Array(size),
  credits: new Int32Array(size),
  owners: new Int32Array(size),
  positions: new Int32Array(size),
  first: new Int32Array(n),
  copies: new Int32Array(n)
})

/**
 * Fills `positions`: copy `j` of item `i` (of `k`) belongs at `(j + (i + ½)/n) / k` of the round, so
 * the copies of a split item are evenly spaced and single entries keep the items' order. A stable
 * counting sort on `⌊key · size⌋`, O(n + size); with no split item, the identity.
 */
const layout = <A>(buffers: Buffers<A>, n: number, size: number): void => {
  const { copies, positions } = buffers
  if (size === n) {
    for (let e = 0; e < size; e++) positions[e] = e
    return
  }
  const start = new Int32Array(size + 1)
  let entry = 0
  for (let i = 0; i < n; i++) {
    const k = copies[i]!
    const offset = (i + 0.5) / n
    for (let j = 0; j < k; j++) {
      const bucket = Math.min(size - 1, Math.floor((j + offset) / k * size))
      positions[entry++] = bucket
      start[bucket + 1]!++
    }
  }
  for (let b = 0; b < size; b++) start[b + 1]! += start[b]!
  for (let e = 0; e < size; e++) positions[e] = start[positions[e]!]!++
}
