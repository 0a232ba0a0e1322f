/**
 * Pure building blocks of the load-balancing simulator (`testing/Simulator.ts`): a seeded PRNG
 * with independent streams, engine-independent `exp` / `log`, the random variates the models
 * need, a binary-heap event queue, a growable FIFO of integers and a nearest-rank percentile.
 *
 * Everything here gives bit-identical results on V8 (Node, Deno) and JavaScriptCore (Bun): the
 * PRNG is 32-bit integer arithmetic (`Math.imul`, shifts), and `exp` / `log` use only `+ - * /`
 * and `Math.sqrt` / `Math.round` / `Math.floor`, which IEEE 754 and ECMA-262 define exactly. The
 * engines' own `Math.exp` / `Math.log` are allowed to differ in the last bit, and one bit in one
 * service time is enough to reorder two events and make two runtimes' reports drift apart.
 */

// -----------------------------------------------------------------------------
// random numbers
// -----------------------------------------------------------------------------

/** A stream of uniform doubles in [0, 1) and unsigned 32-bit integers. */
export interface Rng {
  readonly next: () => number
  readonly nextU32: () => number
}

/**
 * A generator for stream `stream` of `seed`: SFC32 (Chris Doty-Humphrey's Small Fast Counting
 * generator from PractRand, 128-bit state), keyed by SplitMix32 over the seed's two 32-bit halves
 * and the stream number, so streams of one seed are independent and each seed gives other streams.
 */
export const rng = (seed: number, stream: number): Rng => {
  const lo = seed >>> 0
  const hi = Math.floor(seed / 4294967296) >>> 0
  let key = mix32(mix32(lo ^ 0x9e3779b9) ^ hi) ^ mix32(stream + 0x632be5ab)
  const word = (): number => {
    key = (key + 0x9e3779b9) | 0
    return mix32(key)
  }
  let a = word()
  let b = word()
  let c = word()
  let d = 1
  const nextU32 = (): number => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return t >>> 0
  }
  for (let i = 0; i < 15; i++) nextU32()
  return {
    nextU32,
    // 53 random bits: 27 from one word and 26 from the next
    next: () => ((nextU32() >>> 5) * 67108864 + (nextU32() >>> 6)) / 9007199254740992
  }
}

/** SplitMix32's finaliser (a bijection on 32-bit integers with good avalanche). */
const mix32 = (x: number): number => {
  let z = x | 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) | 0
}

// -----------------------------------------------------------------------------
// engine-independent exp and log
// -----------------------------------------------------------------------------

// ln 2 split so that k·LN2_HI is exact for |k| < 2^20 (fdlibm's constants)
const LN2_HI = 6.93147180369123816490e-01
const LN2_LO = 1.90821492927058770002e-10

/** 2^k for an integer k, exactly (a shift for small k, else repeated squaring of 2 or 1/2). */
const pow2 = (k: number): number => {
  if (k >= 0 && k < 31) return 1 << k
  if (k < 0 && k > -31) return 1 / (1 << -k)
  let base = k < 0 ? 0.5 : 2
  let n = k < 0 ? -k : k
  let out = 1
  while (n > 0) {
    if (n & 1) out *= base
    base *= base
    n >>>= 1
  }
  return out
}

/**
 * e^x with only exactly-rounded operations: x = k·ln 2 + r with |r| ≤ ln 2 / 2, the degree-13
 * Taylor polynomial of e^r (the first term left out is below 5e-18), then an exact scaling by
 * 2^k. Relative error about 2e-16.
 */
export const exp = (x: number): number => {
  if (x !== x) return x
  if (x > 709) return Infinity
  if (x < -745) return 0
  const k = Math.round(x * Math.LOG2E)
  const r = (x - k * LN2_HI) - k * LN2_LO
  let p = 0
  for (let i = 0; i < expTaylor.length; i++) p = expTaylor[i]! + r * p
  return k > 1000 || k < -1000 ? p * pow2(k >> 1) * pow2(k - (k >> 1)) : p * pow2(k)
}

/** 1/13!, 1/12!, …, 1/1!, 1/0!: the Taylor coefficients of e^r, highest first (for Horner). */
const expTaylor = ((): ReadonlyArray<number> => {
  const out = [1]
  for (let n = 1; n <= 13; n++) out.push(out[n - 1]! / n)
  return out.reverse()
})()

/**
 * ln x with only exactly-rounded operations: x = 2^e·m with m in [√½, √2), then
 * ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| < 0.172, by its odd series to s^23.
 * Relative error about 2e-16. `log(0)` is -Infinity, negative input NaN.
 */
export const log = (x: number): number => {
  if (x !== x || x < 0) return NaN
  if (x === 0) return -Infinity
  if (x === Infinity) return Infinity
  let m = x
  let e = 0
  while (m >= 4294967296) {
    m /= 4294967296
    e += 32
  }
  while (m < 2.3283064365386963e-10) {
    m *= 4294967296
    e -= 32
  }
  while (m >= Math.SQRT2) {
    m /= 2
    e++
  }
  while (m < Math.SQRT2 / 2) {
    m *= 2
    e--
  }
  const s = (m - 1) / (m + 1)
  const z = s * s
  let p = 0
  for (let i = 0; i < atanhSeries.length; i++) p = z * (atanhSeries[i]! + p)
  return e * LN2_HI + (e * LN2_LO + 2 * s * (1 + p))
}

/** 1/23, 1/21, …, 1/3: the odd terms of atanh's series, highest first; z^12/25 < 5e-21 is left out. */
const atanhSeries = ((): ReadonlyArray<number> => {
  const out: Array<number> = []
  for (let n = 23; n >= 3; n -= 2) out.push(1 / n)
  return out
})()

/**
 * sin x with only exactly-rounded operations: x reduced to r in [−π/2, π/2] (by whole turns, then
 * sin(π − r) = sin r), then the odd Taylor polynomial to r^19 (the first term left out is below
 * 3e-17). The reduction's error grows with |x|: within 2e-13 of `Math.sin` for |x| below 1,400; the
 * simulator reduces its arguments to [0, 2π) first.
 */
export const sin = (x: number): number => {
  if (!Number.isFinite(x)) return NaN
  let r = x - TWO_PI * Math.round(x / TWO_PI)
  if (r > Math.PI / 2) r = Math.PI - r
  else if (r < -Math.PI / 2) r = -Math.PI - r
  const z = r * r
  let p = 0
  for (let i = 0; i < sinTaylor.length; i++) p = sinTaylor[i]! + z * p
  return r * p
}

const TWO_PI = 2 * Math.PI

/** (−1)^k/(2k+1)! for k = 9, 8, …, 0: the Taylor coefficients of sin r / r in r², highest first. */
const sinTaylor = ((): ReadonlyArray<number> => {
  const out = [1]
  for (let k = 1; k <= 9; k++) out.push(-out[k - 1]! / ((2 * k) * (2 * k + 1)))
  return out.reverse()
})()

// -----------------------------------------------------------------------------
// variates
// -----------------------------------------------------------------------------

/** An exponential variate with the given mean, by inversion (1 − u is in (0, 1]). */
export const exponential = (random: Rng, mean: number): number => -mean * log(1 - random.next())

/**
 * Standard normal variates from a stream, by Marsaglia's polar method (needs no sine or cosine);
 * each accepted pair gives two variates, the second kept for the next call.
 */
export const normals = (random: Rng): () => number => {
  let spare = 0
  let hasSpare = false
  return () => {
    if (hasSpare) {
      hasSpare = false
      return spare
    }
    for (;;) {
      const u = 2 * random.next() - 1
      const v = 2 * random.next() - 1
      const s = u * u + v * v
      if (s > 0 && s < 1) {
        const f = Math.sqrt((-2 * log(s)) / s)
        spare = v * f
        hasSpare = true
        return u * f
      }
    }
  }
}

// -----------------------------------------------------------------------------
// event queue
// -----------------------------------------------------------------------------

/**
 * A min-heap of events keyed by time, ties broken by insertion order (so equal times are
 * first-in first-out and the order never depends on the heap's shape). An event is an integer tag.
 */
export interface EventQueue {
  readonly size: () => number
  readonly push: (time: number, tag: number) => void
  /** Removes the earliest event and returns its tag; its time is then `time()`. */
  readonly pop: () => number
  /** The time of the event last popped. */
  readonly time: () => number
}

/** An empty event queue. */
export const eventQueue = (): EventQueue => {
  let capacity = 64
  let times = new Float64Array(capacity)
  let seqs = new Float64Array(capacity)
  let tags = new Int32Array(capacity)
  let n = 0
  let seq = 0
  let last = 0
  const grow = (): void => {
    capacity *= 2
    const t = new Float64Array(capacity)
    const s = new Float64Array(capacity)
    const g = new Int32Array(capacity)
    t.set(times)
    s.set(seqs)
    g.set(tags)
    times = t
    seqs = s
    tags = g
  }
  return {
    size: () => n,
    push: (time, tag) => {
      if (n === capacity) grow()
      const order = seq++
      // sift the hole up from the end, then fill it
      let i = n++
      while (i > 0) {
        const parent = (i - 1) >> 1
        const pt = times[parent]!
        if (pt < time || (pt === time && seqs[parent]! < order)) break
        times[i] = pt
        seqs[i] = seqs[parent]!
        tags[i] = tags[parent]!
        i = parent
      }
      times[i] = time
      seqs[i] = order
      tags[i] = tag
    },
    pop: () => {
      const tag = tags[0]!
      last = times[0]!
      n--
      if (n > 0) {
        // sift the last event down from the root's hole
        const time = times[n]!
        const order = seqs[n]!
        const moved = tags[n]!
        let i = 0
        for (;;) {
          let c = 2 * i + 1
          if (c >= n) break
          const r = c + 1
          if (r < n && (times[r]! < times[c]! || (times[r] === times[c] && seqs[r]! < seqs[c]!))) c = r
          const ct = times[c]!
          if (time < ct || (time === ct && order < seqs[c]!)) break
          times[i] = ct
          seqs[i] = seqs[c]!
          tags[i] = tags[c]!
          i = c
        }
        times[i] = time
        seqs[i] = order
        tags[i] = moved
      }
      return tag
    },
    time: () => last
  }
}

// -----------------------------------------------------------------------------
// fifo
// -----------------------------------------------------------------------------

/** A first-in first-out queue of integers (a backend's waiting requests) that grows as needed. */
export interface Fifo {
  readonly size: () => number
  readonly push: (value: number) => void
  /** Removes and returns the oldest value; only call it when `size() > 0`. */
  readonly shift: () => number
}

/** An empty FIFO: a ring buffer that doubles when full. */
export const fifo = (initialCapacity = 16): Fifo => {
  let items = new Int32Array(Math.max(initialCapacity, 1))
  let head = 0
  let n = 0
  return {
    size: () => n,
    push: (value) => {
      if (n === items.length) {
        const grown = new Int32Array(items.length * 2)
        for (let k = 0; k < n; k++) grown[k] = items[(head + k) % items.length]!
        items = grown
        head = 0
      }
      items[(head + n) % items.length] = value
      n++
    },
    shift: () => {
      const value = items[head]!
      head = (head + 1) % items.length
      n--
      return value
    }
  }
}

// -----------------------------------------------------------------------------
// statistics
// -----------------------------------------------------------------------------

/** The nearest-rank `q`-quantile (0 < q ≤ 1) of ascending `sorted`; `NaN` when it is empty. */
export const quantile = (sorted: ArrayLike<number>, q: number): number => {
  const n = sorted.length
  if (n === 0) return NaN
  const rank = Math.ceil(q * n)
  return sorted[rank < 1 ? 0 : rank > n ? n - 1 : rank - 1]!
}
