/**
 * A retry budget as a pure, windowed token bucket (after Finagle's `RetryBudget`): every request
 * deposits `percent` of a token, every retry, hedge or reconnect withdraws one whole token, and a
 * floor of `minPerSecond` tokens per second keeps clients with little traffic able to retry.
 * Time is passed in (ms).
 *
 * **Representation**
 *
 * - Deposits: a ring of {@link slices} time slices covering `ttl`, each holding the deposit credit
 *   granted while it was the current slice, in integer units ({@link scale} units to a token, so
 *   sums are exact). A deposit adds `⌊percent·scale⌋` units to the current slice; when time enters
 *   a new slice, the oldest slice's leftover credit is dropped (deposits expire after `ttl`).
 * - The floor: a reserve of one window's worth, `minPerSecond × ttl` tokens, held from the first
 *   call (Finagle's `TokenRetryBudget` reserve, so a client may retry at once after it starts),
 *   then earned back continuously at `minPerSecond` tokens per second (in whole units: by time
 *   `t` exactly `⌊minPerSecond·scale·t/1000⌋` units have been earned in all), what is unspent
 *   capped at that window's worth.
 * - A withdrawal needs a whole token in all and takes the oldest deposit credit first (it
 *   expires soonest), then the floor. Updates allocate nothing.
 *
 * **The bound**
 *
 * Let `D` be the deposits, `W` the granted withdrawals, `T` the time from the first call to the
 * last and `L` the ttl, in seconds. Then, over any run: `W ≤ percent × D + minPerSecond × (T + L)`.
 *
 * Proof. Credit enters in three ways only: `u ≤ percent·scale` units per deposit, the reserve of
 * `⌊minPerSecond·scale·L⌋` units at the first call, and floor units, of which at most
 * `minPerSecond·scale·T` are ever earned by time `T` (the cap and expiry only remove credit). A
 * withdrawal is granted only when at least `scale` units are held, and removes exactly `scale`
 * units; nothing goes below zero. Hence `scale·W ≤ D·u + minPerSecond·scale·(T + L)`. ∎
 */
import * as option from "./option.ts"

export interface Options {
  readonly ttlMillis: number
  readonly minPerSecond: number
  readonly percent: number
}

/** Finagle's parameters: credit lasts 10 s, a floor of 10 retries a second, 20% of requests. */
export const defaults: Options = { ttlMillis: 10_000, minPerSecond: 10, percent: 0.2 }

/** The largest floor: 100,000 retries a second (so credit stays exact in integer micro-tokens). */
const maxMinPerSecond = 100_000

/**
 * Decodes `Budget.make`'s options (`ttl` from 1 to 60 s, Finagle's range; `minRetriesPerSec` from
 * 0 to 100,000; `percentCanRetry` from 0 to 1000), each defaulting to Finagle's value.
 */
export const decode = (options?: {
  readonly ttl?: unknown
  readonly minRetriesPerSec?: unknown
  readonly percentCanRetry?: unknown
}): Options | option.Invalid => {
  const ttlMillis = option.millis("ttl", options?.ttl, defaults.ttlMillis, { min: 1000, max: 60_000 })
  if (option.isInvalid(ttlMillis)) {
    return { ...ttlMillis, problem: "expected a duration from 1 to 60 seconds (Finagle's range)" }
  }
  const minPerSecond = option.number("minRetriesPerSec", options?.minRetriesPerSec, defaults.minPerSecond, {
    min: 0,
    max: maxMinPerSecond
  })
  if (option.isInvalid(minPerSecond)) return minPerSecond
  const percent = option.number("percentCanRetry", options?.percentCanRetry, defaults.percent, { min: 0, max: 1000 })
  if (option.isInvalid(percent)) return percent
  return { ttlMillis, minPerSecond, percent }
}

export interface State {
  readonly options: Options
  /** Width of a slice in ms: `ttlMillis / slices`. */
  readonly sliceMillis: number
  /** Units added by one deposit: `⌊percent · scale⌋`. */
  readonly depositUnits: number
  /** The most floor units that may be held: `⌊minPerSecond · scale · ttl / 1000⌋`. */
  readonly floorCap: number
  /** Deposit credit per slice, in units; slice `i` of the run lives at `credit[i % slices]`. */
  readonly credit: Float64Array
  /** Time of the first call (ms), `NaN` before it. */
  origin: number
  /** Index of the current slice since `origin`. */
  current: number
  /** Deposit units in the live slices (the sum of `credit`). */
  deposited: number
  /** Floor units held now (the reserve from the first call on). */
  floor: number
  /** Floor units earned since `origin` (held, spent or dropped by the cap). */
  earned: number
  /** Deposits made. */
  deposits: number
  /** Withdrawals granted. */
  withdrawals: number
  /** Withdrawals refused. */
  refusals: number
}

export const scale = 1_000_000

export const slices = 10

export const make = (options: Options): State => {
  let depositUnits = Math.round(options.percent * scale)
  if (depositUnits / scale > options.percent) depositUnits--
  return {
    options,
    sliceMillis: options.ttlMillis / slices,
    depositUnits: Math.max(depositUnits, 0),
    floorCap: Math.max(Math.floor((options.minPerSecond * scale * options.ttlMillis) / 1000), 0),
    credit: new Float64Array(slices),
    origin: Number.NaN,
    current: 0,
    deposited: 0,
    floor: 0,
    earned: 0,
    deposits: 0,
    withdrawals: 0,
    refusals: 0
  }
}

export const deposit = (state: State, now: number): void => {
  advance(state, now)
  state.credit[state.current % slices]! += state.depositUnits
  state.deposited += state.depositUnits
  state.deposits++
}

export const tryWithdraw = (state: State, now: number): boolean => {
  advance(state, now)
  if (state.deposited + state.floor < scale) {
    state.refusals++
    return false
  }
  let owed = scale
  // oldest live slice first: it expires soonest
  for (let i = 1; i <= slices && owed > 0; i++) {
    const at = (state.current + i) % slices
    const available = state.credit[at]!
    const taken = available < owed ? available : owed
    state.credit[at] = available - taken
    state.deposited -= taken
    owed -= taken
  }
  state.floor -= owed
  state.withdrawals++
  return true
}

export const balance = (state: State, now: number): number => {
  advance(state, now)
  return (state.deposited + state.floor) / scale
}

const advance = (state: State, now: number): void => {
  if (Number.isNaN(state.origin)) {
    state.origin = now
    state.current = 0
    state.floor = state.floorCap // the reserve
    return
  }
  const elapsed = now - state.origin
  if (!(elapsed > 0)) return // no time passed, or the clock went backwards
  // the floor: units earned in all by now, minus those already counted
  const earned = Math.floor((state.options.minPerSecond * scale * elapsed) / 1000)
  if (earned > state.earned) {
    state.floor = Math.min(state.floor + earned - state.earned, state.floorCap)
    state.earned = earned
  }
  // integer arithmetic first, one division last, so slice boundaries are exact for integer ms
  const index = Math.floor((elapsed * slices) / state.options.ttlMillis)
  if (!(index > state.current)) return
  const steps = Math.min(index - state.current, slices)
  for (let i = 1; i <= steps; i++) {
    const at = (index - steps + i) % slices
    state.deposited -= state.credit[at]!
    state.credit[at] = 0
  }
  state.current = index
}
