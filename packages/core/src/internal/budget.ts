/**
 * A retry budget as a pure, windowed token bucket (Finagle's `RetryBudget`): every request
 * deposits `percent` of a token, every retry, hedge or reconnect withdraws one whole token, and a
 * floor of `minPerSecond` tokens per second keeps clients with little traffic able to retry.
 * Credit expires: both kinds are gone `ttl` after they were granted. Time is passed in (ms).
 *
 * **Representation**
 *
 * A ring of {@link slices} time slices covering `ttl`, each holding the credit granted while it
 * was the current slice, counted in integer units ({@link scale} units to a token, so sums are
 * exact). A deposit adds `⌊percent·scale⌋` units to the current slice. Each slice starts with
 * `⌊minPerSecond·scale·(ttl/slices)/1000⌋` floor units; on the first call every slice of the ring
 * is filled that way, so a fresh budget holds `minPerSecond × ttl` tokens at once (Finagle's
 * reserve). When time enters a new slice, the oldest slice's leftover credit is dropped and the
 * slice starts over with its floor. A withdrawal needs a whole token in the live slices and takes
 * it oldest credit first. Updates allocate nothing.
 *
 * **The bound**
 *
 * Let `D` be the deposits, `W` the granted withdrawals, and `T` the time from the first call to
 * the last, in seconds. Then, over any run:
 *
 * `W ≤ percent × D + minPerSecond × T + minPerSecond × ttl`.
 *
 * Proof. Credit is only added in three ways: `slices · f` units on the first call; `f` units each
 * time the slice index advances by one; and `u` units per deposit. Here `f` is the floor units per
 * slice and `u` the deposit units. The index is `⌊(now − origin) · slices / ttl⌋`. So by time `T`
 * it has advanced at most `T · slices / ttl` times, or fewer when a gap skips more than a whole
 * ring. A withdrawal happens only when the live slices hold at least `scale` units. It then removes
 * exactly `scale` units, and no slice goes below zero. Expiry only ever removes credit. Hence
 * `scale · W ≤ slices·f + (T·slices/ttl)·f + D·u`. With `f ≤ minPerSecond·scale·ttl/(slices·1000)`
 * and `u ≤ percent·scale`, this is `scale·W ≤ scale·(minPerSecond·ttl + minPerSecond·T + percent·D)`,
 * with `ttl` and `T` in seconds. ∎
 *
 * `u` and `f` are rounded down to whole units (10⁻⁶ token), which only ever lowers a rate. Credit
 * is kept in integers, so the sums and the "is there a whole token" test are exact.
 *
 * **Difference from Finagle**
 *
 * Finagle records a withdrawal as a negative deposit, and that negative deposit itself expires
 * after `ttl`. Here a withdrawal spends credit that already exists, and the floor is granted per
 * slice. Over one `ttl` window both allow `minPerSecond × ttl + percent × deposits`. This form
 * makes the long-run bound above hold exactly.
 */

/** Budget parameters: `ttl` in ms, the floor in tokens per second, the deposit per request in tokens. */
export interface Options {
  readonly ttlMillis: number
  readonly minPerSecond: number
  readonly percent: number
}

/** Mutable budget state. Create it with {@link make}; update it only through this module. */
export interface State {
  readonly options: Options
  /** Width of a slice in ms: `ttlMillis / slices`. */
  readonly sliceMillis: number
  /** Units added by one deposit: `⌊percent · scale⌋`. */
  readonly depositUnits: number
  /** Floor units granted to each slice when it starts. */
  readonly floorUnits: number
  /** Credit per slice, in units; slice `i` of the run lives at `credit[i % slices]`. */
  readonly credit: Float64Array
  /** Time of the first call (ms), `NaN` before it. */
  origin: number
  /** Index of the current slice since `origin`. */
  current: number
  /** Units in the live slices (the sum of `credit`). */
  total: number
  /** Deposits made. */
  deposits: number
  /** Withdrawals granted. */
  withdrawals: number
  /** Withdrawals refused. */
  refusals: number
}

/** Units to a token (integer arithmetic, so sums and comparisons are exact). */
export const scale = 1_000_000

/** Time slices in the ring (Finagle's `WindowedAdder` also uses 10). */
export const slices = 10

/** A budget that has seen no call yet; its window starts at the first call. */
export const make = (options: Options): State => {
  let depositUnits = Math.round(options.percent * scale)
  if (depositUnits / scale > options.percent) depositUnits--
  const sliceMillis = options.ttlMillis / slices
  const floorUnits = Math.floor((options.minPerSecond * scale * sliceMillis) / 1000)
  return {
    options,
    sliceMillis,
    depositUnits: Math.max(depositUnits, 0),
    floorUnits: Math.max(floorUnits, 0),
    credit: new Float64Array(slices),
    origin: Number.NaN,
    current: 0,
    total: 0,
    deposits: 0,
    withdrawals: 0,
    refusals: 0
  }
}

/** A request was made: credit `percent` of a token to the current slice. */
export const deposit = (state: State, now: number): void => {
  advance(state, now)
  state.credit[state.current % slices]! += state.depositUnits
  state.total += state.depositUnits
  state.deposits++
}

/** A retry, hedge or reconnect wants to go: `true` (and one token spent) if the budget allows it. */
export const tryWithdraw = (state: State, now: number): boolean => {
  advance(state, now)
  if (state.total < scale) {
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
    owed -= taken
  }
  state.total -= scale
  state.withdrawals++
  return true
}

/** Tokens available now (fractional); a withdrawal succeeds exactly when this is at least 1. */
export const balance = (state: State, now: number): number => {
  advance(state, now)
  return state.total / scale
}

/** Moves the window to `now`: drops expired slices and grants the floor to the new ones. */
const advance = (state: State, now: number): void => {
  if (Number.isNaN(state.origin)) {
    state.origin = now
    state.current = 0
    state.credit.fill(state.floorUnits)
    state.total = state.floorUnits * slices
    return
  }
  // integer arithmetic first, one division last, so slice boundaries are exact for integer ms
  const index = Math.floor(((now - state.origin) * slices) / state.options.ttlMillis)
  if (!(index > state.current)) return // same slice, or the clock went backwards
  const steps = Math.min(index - state.current, slices)
  for (let i = 1; i <= steps; i++) {
    const at = (index - steps + i) % slices
    state.total += state.floorUnits - state.credit[at]!
    state.credit[at] = state.floorUnits
  }
  state.current = index
}
