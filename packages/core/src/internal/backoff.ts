/**
 * Exponential backoff with jitter, for waits after failures (a source that keeps failing, a
 * stream that keeps ending): the wait after `n` failures in a row is `initial · 1.6^(n−1)`, capped
 * at `max`, then jittered uniformly by ±20% and capped again (gRPC's connection backoff:
 * `INITIAL_BACKOFF`, `MULTIPLIER` 1.6, `JITTER` 0.2). Pure: the uniform draw is passed in.
 */

import * as option from "./option.ts"

/** A backoff, in milliseconds. */
export interface Backoff {
  readonly initial: number
  readonly max: number
}

/** The growth of the wait per further failure. */
export const multiplier = 1.6

/** The jitter, as a fraction of the wait. */
export const jitter = 0.2

/** A backoff from `initial` to `max` milliseconds. */
export const make = (initial: number, max: number): Backoff => ({ initial, max })

/** The wait in ms after `failures` (≥ 1) failures in a row, given a uniform draw `u` in [0, 1). */
export const delay = (backoff: Backoff, failures: number, u: number): number => {
  const base = Math.min(backoff.max, backoff.initial * Math.pow(multiplier, Math.max(failures - 1, 0)))
  return Math.min(backoff.max, base * (1 + jitter * (2 * u - 1)))
}

/**
 * Reads `{ initial?, max? }` backoff options (durations) against defaults in ms: `initial` > 0,
 * `max` ≥ `initial` (the default `max` is raised to `initial` when `initial` is longer).
 */
export const read = (
  input: { readonly initial?: unknown; readonly max?: unknown } | undefined,
  initialDefault: number,
  maxDefault: number
): Backoff | option.Invalid => {
  const initial = option.millis("backoff.initial", input?.initial, initialDefault, { min: 0, minInclusive: false })
  if (option.isInvalid(initial)) return initial
  const max = option.millis("backoff.max", input?.max, Math.max(maxDefault, initial), { min: initial })
  if (option.isInvalid(max)) return max
  return make(initial, max)
}
