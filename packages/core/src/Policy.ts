/**
 * A load-balancing policy builds a {@link Picker} over the balancer's endpoints (CloudWeGo Volo's
 * `LoadBalance.get_picker` + `rebalance`, nntp-proxy's `BackendSelector`).
 *
 * **The contract**
 *
 * - The balancer owns one {@link Slot} per endpoint: the endpoint's current value and its load
 *   (pending requests, latency estimate, picks, failures). A slot survives every change that keeps
 *   its address, so state learned about an endpoint carries over rebalances and policy swaps.
 * - The balancer keeps the slots in one array, `context.slots`, and tells the picker what changed
 *   (`added`, `removed`, `updated`, then `rebalanced` once per batch). A picker may keep its own
 *   index structures (a heap, a ring, a table) and update them incrementally or rebuild them.
 * - `pick` is synchronous, never blocks and allocates nothing; it returns `undefined` when there is
 *   nothing to pick. Randomness comes from `context.random` (Effect's `Random`, so seedable) and
 *   time from `context.now` (Effect's `Clock`).
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Endpoint from "./Endpoint.ts"
import * as options from "./internal/option.ts"
import type * as Load from "./Load.ts"
import type * as Options from "./Options.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * The balancer's record of one endpoint. Mutable; owned by the balancer, read by pickers.
 *
 * **Details**
 *
 * - `index` is the slot's position in `context.slots` (kept by the balancer; removal swaps the
 *   last slot into the freed position).
 * - `pending` counts requests acquired through the balancer and not yet released.
 * - `latency` is the peak-EWMA latency estimate in milliseconds, `-1` until the first sample;
 *   `stamp` is when it was last updated (milliseconds of `Clock`), or when the slot was made.
 * - `cost` is the policy's load metric for the slot (see `Load`), lower is better; the balancer
 *   refreshes it whenever `pending` or the latency estimate changes.
 *
 * @category models
 * @since 0.1.0
 */
export interface Slot {
  endpoint: Endpoint.Endpoint
  index: number
  pending: number
  picks: number
  successes: number
  failures: number
  latency: number
  stamp: number
  cost: number
}

/**
 * What a picker is built from: the host's slots (a balancer's, a `TestPicker`'s, the simulator's),
 * its randomness and its clock. (Named so as not to shadow effect's `Context`.)
 *
 * @category models
 * @since 0.1.0
 */
export interface Host {
  /** The slots of the ready endpoints; the balancer keeps it current. Do not modify. */
  readonly slots: ReadonlyArray<Slot>
  /** A uniform double in [0, 1), from Effect's `Random`. */
  readonly random: () => number
  /** Milliseconds from Effect's `Clock` (fractional). */
  readonly now: () => number
  /**
   * Runs background work (a health probe, a timer) in the balancer's scope; it is interrupted when
   * the balancer closes. Absent where there is no Effect runtime (the simulator).
   */
  readonly fork?: ((effect: Effect.Effect<void>) => void) | undefined
  /**
   * Asks the balancer to re-subscribe to its discovery source (ServiceTalk's resubscribe when
   * every host is unhealthy). Absent where there is no discovery source.
   */
  readonly resubscribe?: (() => void) | undefined
}

/**
 * How one request through the balancer ended. Interrupted requests are not outcomes.
 *
 * @category models
 * @since 0.1.0
 */
export interface Outcome {
  /** Whether the request succeeded. */
  readonly success: boolean
  /** The failure, when it failed (the `E` of the effect given to `Balancer.use`). */
  readonly error?: unknown
  /** Latency in milliseconds. */
  readonly latency: number
  /** When it completed, in milliseconds of `Clock`. */
  readonly now: number
}

/**
 * A score a picker gave one candidate, for tracing why an endpoint was chosen.
 *
 * @category models
 * @since 0.1.0
 */
export interface Candidate {
  readonly address: Endpoint.Address
  /** What the policy compared (pending, cost, deadline, ring position); lower wins unless noted. */
  readonly score: number
}

/**
 * Why a pick chose what it chose: the candidates the policy looked at and their scores.
 *
 * @category models
 * @since 0.1.0
 */
export interface Explanation {
  readonly policy: string
  readonly chosen: Endpoint.Address | undefined
  readonly candidates: ReadonlyArray<Candidate>
  readonly note: string
}

/**
 * A picker: chooses a slot for each request.
 *
 * @category models
 * @since 0.1.0
 */
export interface Picker {
  /**
   * Chooses a slot, or `undefined` when there is none. `hash` is a request hash (an unsigned
   * 32-bit integer) for hash-based policies, or `-1` for none (they then use a random one); other
   * policies ignore it.
   */
  readonly pick: (hash: number) => Slot | undefined
  /**
   * Picks as `pick` does — the same choice, the same effect on the picker's state (a turn taken,
   * randomness drawn) — and says why: the candidates and their scores. Allocates; used for the
   * balancer's per-pick trace and for `Balancer.explain`.
   */
  readonly explain: (hash: number) => Explanation
  /** A slot was appended to `context.slots`. */
  readonly added: (slot: Slot) => void
  /** A slot was taken out of `context.slots` (its `index` is stale). */
  readonly removed: (slot: Slot) => void
  /** A slot's endpoint changed weight, tags, zone or priority; `previous` is the old value. */
  readonly updated: (slot: Slot, previous: Endpoint.Endpoint) => void
  /** Called once after each batch of `added` / `removed` / `updated`. */
  readonly rebalanced: () => void
  /**
   * Called after each request to `slot` completes (not when it is interrupted), after the
   * balancer updated the slot's statistics. Health checks and outlier detection learn here.
   */
  readonly observe?: ((slot: Slot, outcome: Outcome) => void) | undefined
  /**
   * How many slots are in `context.slots` but excluded from picking (unhealthy, ejected), for
   * the balancer's "all excluded" error. Absent means none are.
   */
  readonly excluded?: (() => number) | undefined
  /**
   * Whether `pick` could return `slot` now (it is not unhealthy or ejected). Absent means every
   * slot in `context.slots` can be picked. The balancer's `picks()` iterator uses it when it walks
   * the slots for endpoints the policy has not offered.
   */
  readonly accepts?: ((slot: Slot) => boolean) | undefined
}

/**
 * A load-balancing policy: a name and a way to build a picker.
 *
 * @category models
 * @since 0.1.0
 */
export interface Policy {
  readonly name: string
  /**
   * Set when the policy was built from invalid options: a balancer refuses to start with it and
   * fails with this error instead.
   */
  readonly error?: Options.OptionError | undefined
  /**
   * The load metric the balancer keeps in `slot.cost` for this policy (default `Load.pending`);
   * its `decayMillis` is the time constant of the latency estimate.
   */
  readonly load?: Load.Load | undefined
  /** Whether `pick` uses the request hash (ring hash, Maglev). */
  readonly hashed?: boolean | undefined
  readonly make: (context: Host) => Picker
}

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Whether a value is a {@link Policy}: an object with a `name` and a `make` function.
 *
 * @category guards
 * @since 0.1.0
 */
export const isPolicy = (u: unknown): u is Policy =>
  typeof u === "object" && u !== null && "name" in u && typeof u.name === "string" && "make" in u &&
  typeof u.make === "function"

/**
 * A policy that cannot pick because its options were invalid: it carries the `Options.OptionError` that
 * `Balancer.make` fails with, and its picker picks nothing.
 *
 * @category constructors
 * @since 0.1.0
 */
export const invalid = (error: Options.OptionError): Policy => ({
  name: error.module,
  error,
  make: () => ({
    ...stateless,
    pick: () => undefined,
    explain: () => ({ policy: error.module, chosen: undefined, candidates: [], note: error.message })
  })
})

/**
 * Reads a duration option as milliseconds: the default when absent, an `Options.OptionError` when it is
 * not a duration (`NaN` included), not finite, not within `[min, ∞)` (or `(min, ∞)`), or longer
 * than 2^31 − 1 ms (about 24.8 days, the longest delay a JavaScript timer holds).
 *
 * @category constructors
 * @since 0.1.0
 */
export const durationOption = (
  policy: string,
  option: string,
  input: Duration.Input | undefined,
  fallback: Duration.Duration,
  min: { readonly millis: number; readonly inclusive: boolean }
): number | Options.OptionError =>
  orOptionError(
    policy,
    options.millis(option, input, Duration.toMillis(fallback), { min: min.millis, minInclusive: min.inclusive })
  )

/**
 * Reads an integer option: the default when absent, an `Options.OptionError` when it is not an integer
 * within `[min, max]` (a string, `NaN` or `1.5` included).
 *
 * @category constructors
 * @since 0.1.0
 */
export const integerOption = (
  policy: string,
  option: string,
  input: number | undefined,
  fallback: number,
  min: number,
  max: number
): number | Options.OptionError =>
  orOptionError(policy, options.number(option, input, fallback, { min, max, integer: true }))

/**
 * Reads a number option: the default when absent, an `Options.OptionError` when it is not a finite number
 * within `[min, max]`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const numberOption = (
  policy: string,
  option: string,
  input: number | undefined,
  fallback: number,
  min: number,
  max: number
): number | Options.OptionError => orOptionError(policy, options.number(option, input, fallback, { min, max }))

/**
 * Reads a boolean option: the default when absent, an `Options.OptionError` when it is not `true` or
 * `false`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const booleanOption = (
  policy: string,
  option: string,
  input: boolean | undefined,
  fallback: boolean
): boolean | Options.OptionError => orOptionError(policy, options.boolean(option, input, fallback))

/**
 * Checks that a function option (a probe, a classifier) is a function when given: the value, or
 * an `Options.OptionError`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const functionOption = <F>(
  policy: string,
  option: string,
  input: F | undefined
): F | undefined | Options.OptionError =>
  input === undefined || typeof input === "function"
    ? input
    : orOptionError<never>(policy, options.invalid(option, input, "expected a function"))

const orOptionError = <A>(policy: string, read: A | options.Invalid): A | Options.OptionError =>
  options.isInvalid(read) ? options.error(policy, read) : read

/**
 * A fresh slot for an endpoint, with no load and no latency sample, made at `now` (ms of `Clock`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeSlot = (endpoint: Endpoint.Endpoint, now = 0): Slot => ({
  endpoint,
  index: -1,
  pending: 0,
  picks: 0,
  successes: 0,
  failures: 0,
  latency: -1,
  stamp: now,
  cost: 0
})

/**
 * A policy that wraps `policy` (health checks, outlier detection): it keeps the inner policy's
 * load metric and hashing, and fails as the inner one does when that was built from invalid
 * options, so a wrapper forwards nothing by hand.
 *
 * @category constructors
 * @since 0.1.0
 */
export const wrap = (policy: Policy, name: string, make: (context: Host) => Picker): Policy =>
  policy.error !== undefined ? policy : { name, load: policy.load, hashed: policy.hashed, make }

/**
 * The picker callbacks that do nothing, for policies that read `context.slots` directly.
 *
 * @category constructors
 * @since 0.1.0
 */
export const stateless: Pick<Picker, "added" | "removed" | "updated" | "rebalanced"> = {
  added: () => {},
  removed: () => {},
  updated: () => {},
  rebalanced: () => {}
}
