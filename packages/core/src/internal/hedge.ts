/**
 * The hedging delay of `Hedge`, once: reading the `delay` option (a fixed duration or a
 * percentile of recent latencies) and the ring of recent latencies a percentile delay is drawn
 * from. `Hedge.make` and the simulator use the same code.
 */
import * as Duration from "effect/Duration"
import * as option from "./option.ts"

/** The least delay a percentile gives, in ms: 1 (`Hedge.minPercentileDelay`). */
export const minPercentileMillis = 1

/** `Hedge.make`'s defaults: one backup, a window of 1,000 latencies. */
export const defaults = { maxHedges: 1, window: 1000 } as const

/** The most backups per call: 10. */
export const maxMaxHedges = 10

/** `Hedge.make`'s options, decoded. */
export interface Settings<E> {
  readonly maxHedges: number
  readonly window: number
  readonly delay: { readonly fixed: number } | { readonly percentile: number }
  readonly nonFatal: ((error: E) => boolean) | undefined
}

/** Decodes `Hedge.make`'s options (its `budget` is the caller's). */
export const decode = <E>(options: {
  readonly delay: unknown
  readonly maxHedges?: unknown
  readonly nonFatal?: ((error: E) => boolean) | undefined
  readonly window?: unknown
}): Settings<E> | option.Invalid => {
  const maxHedges = option.number("maxHedges", options.maxHedges, defaults.maxHedges, {
    min: 0,
    max: maxMaxHedges,
    integer: true
  })
  if (option.isInvalid(maxHedges)) return maxHedges
  const window = option.number("window", options.window, defaults.window, { min: 1, max: 1_000_000, integer: true })
  if (option.isInvalid(window)) return window
  if (options.nonFatal !== undefined && typeof options.nonFatal !== "function") {
    return option.invalid("nonFatal", options.nonFatal, "expected a function")
  }
  const delay = readDelay(options.delay)
  if (option.isInvalid(delay)) return delay
  return { maxHedges, window, delay, nonFatal: options.nonFatal }
}

/** A fixed delay in ms, or a percentile of recent latencies. */
export const readDelay = (
  spec: unknown
): { readonly fixed: number } | { readonly percentile: number } | option.Invalid => {
  const isPercentile = typeof spec === "object" && spec !== null && !Duration.isDuration(spec) && !Array.isArray(spec)
  if (isPercentile) {
    const percentile = option.number("delay.percentile", (spec as { readonly percentile?: unknown }).percentile, -1, {
      min: 0,
      max: 1,
      minInclusive: false,
      maxInclusive: false
    })
    if (option.isInvalid(percentile)) return percentile
    return percentile === -1
      ? option.invalid("delay", spec, "expected a duration, or { percentile } with a number between 0 and 1")
      : { percentile }
  }
  const fixed = option.millis("delay", spec, -1, { min: 0 })
  if (option.isInvalid(fixed)) return fixed
  return fixed === -1
    ? option.invalid("delay", spec, "expected a duration of at least 0 ms, or { percentile }")
    : { fixed }
}

/**
 * The delays of one hedger: `next()` is the delay for a call starting now in ms (`undefined` while
 * a percentile has too few latencies to go on), and `samples` takes the latencies calls record.
 */
export const delays = <E>(
  settings: Settings<E>
): { readonly samples: Samples; readonly next: () => number | undefined } => {
  const delay = settings.delay
  if ("fixed" in delay) {
    const fixed = delay.fixed
    return { samples: makeSamples(settings.window, Number.NaN), next: () => fixed }
  }
  const samples = makeSamples(settings.window, delay.percentile)
  return { samples, next: () => delayOf(samples) }
}

/** A ring of recent latencies and the cached quantile. */
export interface Samples {
  readonly values: Float64Array
  readonly scratch: Float64Array
  /** The quantile in (0, 1), `NaN` for a fixed delay (then nothing is kept). */
  readonly percentile: number
  /** Latencies needed before the quantile is used. */
  readonly minimum: number
  /** New latencies between recomputations. */
  readonly refreshEvery: number
  count: number
  next: number
  sinceRefresh: number
  /** The cached quantile in ms, `NaN` when not computed yet. */
  cached: number
}

export const makeSamples = (size: number, percentile: number): Samples => {
  const fixed = Number.isNaN(percentile)
  return {
    values: new Float64Array(fixed ? 0 : size),
    scratch: new Float64Array(fixed ? 0 : size),
    percentile,
    minimum: fixed ? 0 : Math.min(size, Math.max(1, Math.ceil(1 / (1 - percentile) - 1e-9))),
    refreshEvery: Math.max(1, Math.floor(size / 100)),
    count: 0,
    next: 0,
    sinceRefresh: 0,
    cached: Number.NaN
  }
}

export const record = (samples: Samples, latency: number): void => {
  const size = samples.values.length
  if (size === 0) return
  samples.values[samples.next] = latency
  samples.next = samples.next + 1 === size ? 0 : samples.next + 1
  if (samples.count < size) samples.count++
  samples.sinceRefresh++
}

/** The hedging delay from the samples in ms, or `undefined` while there are too few. */
export const delayOf = (samples: Samples): number | undefined => {
  const n = samples.count
  if (n < samples.minimum) return undefined
  if (Number.isNaN(samples.cached) || samples.sinceRefresh >= samples.refreshEvery) {
    const scratch = samples.scratch
    for (let i = 0; i < n; i++) scratch[i] = samples.values[i]!
    const rank = Math.max(1, Math.ceil(samples.percentile * n - 1e-9))
    samples.cached = select(scratch, n, rank - 1)
    samples.sinceRefresh = 0
  }
  return Math.max(samples.cached, minPercentileMillis)
}

/** The `k`-th smallest of `a[0..n)` (0-based), by quickselect with Hoare partitioning; reorders `a`. */
const select = (a: Float64Array, n: number, k: number): number => {
  let lo = 0
  let hi = n - 1
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1]!
    let i = lo
    let j = hi
    while (i <= j) {
      while (a[i]! < pivot) i++
      while (a[j]! > pivot) j--
      if (i <= j) {
        const t = a[i]!
        a[i] = a[j]!
        a[j] = t
        i++
        j--
      }
    }
    if (k <= j) hi = j
    else if (k >= i) lo = i
    else return a[k]!
  }
  return a[k]!
}
