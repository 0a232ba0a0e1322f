/**
 * An earliest-deadline-first scheduler: an indexed binary min-heap of entries keyed by deadline
 * (Envoy's `EdfScheduler`).
 *
 * Entries carry their own deadline (`key`) and heap index (`position`), so removal and re-keying
 * find an entry in O(1) and restore the heap in O(log n). Equal deadlines are ordered by an
 * insertion sequence number kept in a parallel array (Envoy's `order_offset`), so the schedule is
 * deterministic. Nothing here allocates except `insert` growing the arrays and `smallest`.
 */

/** What the heap needs of an entry: scratch fields it owns while the entry is in the heap. */
export interface Entry {
  /** The deadline. */
  key: number
  /** The index in the heap, `-1` when not in it. */
  position: number
}

/** A heap of entries. */
export interface Heap<A extends Entry> {
  readonly items: Array<A>
  /** The insertion sequence number of `items[i]`, moved with it. */
  readonly sequence: Array<number>
  next: number
}

/** An empty heap. */
export const make = <A extends Entry>(): Heap<A> => ({ items: [], sequence: [], next: 0 })

/** Adds `item` with deadline `key`. O(log n). */
export const insert = <A extends Entry>(heap: Heap<A>, item: A, key: number): void => {
  item.key = key
  item.position = heap.items.length
  heap.items.push(item)
  heap.sequence.push(heap.next++)
  siftUp(heap, item.position)
}

/** Removes `item` if it is in the heap. O(log n). */
export const remove = <A extends Entry>(heap: Heap<A>, item: A): void => {
  const at = item.position
  const items = heap.items
  if (at < 0 || at >= items.length || items[at] !== item) return
  const last = items.pop()!
  const lastSequence = heap.sequence.pop()!
  item.position = -1
  if (last === item) return
  items[at] = last
  heap.sequence[at] = lastSequence
  last.position = at
  siftDown(heap, at)
  siftUp(heap, last.position)
}

/** Changes the deadline of `item`, which is in the heap. O(log n). */
export const rekey = <A extends Entry>(heap: Heap<A>, item: A, key: number): void => {
  item.key = key
  siftDown(heap, item.position)
  siftUp(heap, item.position)
}

/** Moves the entry at `at` down to its place after its deadline grew. O(log n). */
export const siftDown = <A extends Entry>(heap: Heap<A>, at: number): void => {
  const items = heap.items
  const sequence = heap.sequence
  const n = items.length
  const item = items[at]!
  const seq = sequence[at]!
  let i = at
  for (;;) {
    let child = 2 * i + 1
    if (child >= n) break
    const right = child + 1
    if (right < n && before(items[right]!.key, sequence[right]!, items[child]!.key, sequence[child]!)) child = right
    const c = items[child]!
    if (!before(c.key, sequence[child]!, item.key, seq)) break
    items[i] = c
    sequence[i] = sequence[child]!
    c.position = i
    i = child
  }
  items[i] = item
  sequence[i] = seq
  item.position = i
}

/** Subtracts `by` from every deadline (order is kept). O(n). */
export const shift = <A extends Entry>(heap: Heap<A>, by: number): void => {
  for (const item of heap.items) item.key -= by
}

/** Up to `k` entries in schedule order (earliest first), without changing the heap. O(k log k). */
export const smallest = <A extends Entry>(heap: Heap<A>, k: number): Array<A> => {
  const out: Array<A> = []
  const frontier: Array<number> = heap.items.length > 0 ? [0] : []
  while (out.length < k && frontier.length > 0) {
    let best = 0
    for (let j = 1; j < frontier.length; j++) {
      const a = frontier[j]!
      const b = frontier[best]!
      if (before(heap.items[a]!.key, heap.sequence[a]!, heap.items[b]!.key, heap.sequence[b]!)) best = j
    }
    const at = frontier[best]!
    frontier.splice(best, 1)
    out.push(heap.items[at]!)
    for (const child of [2 * at + 1, 2 * at + 2]) if (child < heap.items.length) frontier.push(child)
  }
  return out
}

/** Whether the heap invariants hold (for tests): order, positions and sequence numbers. */
export const isValid = <A extends Entry>(heap: Heap<A>): boolean => {
  const items = heap.items
  if (heap.sequence.length !== items.length) return false
  for (let i = 0; i < items.length; i++) {
    if (items[i]!.position !== i) return false
    const parent = (i - 1) >> 1
    if (i > 0 && before(items[i]!.key, heap.sequence[i]!, items[parent]!.key, heap.sequence[parent]!)) return false
  }
  return true
}

// internal

const before = (keyA: number, seqA: number, keyB: number, seqB: number): boolean =>
  keyA < keyB || (keyA === keyB && seqA < seqB)

const siftUp = <A extends Entry>(heap: Heap<A>, at: number): void => {
  const items = heap.items
  const sequence = heap.sequence
  const item = items[at]!
  const seq = sequence[at]!
  let i = at
  while (i > 0) {
    const parent = (i - 1) >> 1
    const p = items[parent]!
    if (!before(item.key, seq, p.key, sequence[parent]!)) break
    items[i] = p
    sequence[i] = sequence[parent]!
    p.position = i
    i = parent
  }
  items[i] = item
  sequence[i] = seq
  item.position = i
}
