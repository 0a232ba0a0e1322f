/**
 * The one decoder of option values (durations, numbers, request hashes) behind every public
 * constructor. Each reader returns the decoded value or an {@link Invalid} naming the option, the
 * value as given (rendered readably: `NaN`, not `null`), why it was refused and what was expected;
 * the constructor turns it into the one public error, `Options.OptionError`. Nothing is clamped or coerced: `NaN` is not `0`, a huge
 * number is not "forever", a fractional count is not rounded.
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import { OptionError, type Reason } from "../Options.ts"
import * as render from "./render.ts"

/** Why an option value was refused. */
export interface Invalid {
  readonly _tag: "Invalid"
  readonly option: string
  /** The value as given, rendered for a message. */
  readonly value: string
  readonly reason: Reason
  readonly problem: string
}

/** The public error of a value `module`'s constructor refused. */
export const error = (module: string, invalid: Invalid): OptionError =>
  new OptionError({
    module,
    option: invalid.option,
    value: invalid.value,
    reason: invalid.reason,
    problem: invalid.problem
  })

/** Whether a reader refused the value. */
export const isInvalid = (u: unknown): u is Invalid =>
  typeof u === "object" && u !== null && (u as { readonly _tag?: unknown })._tag === "Invalid"

/** Builds an {@link Invalid} for `input`. */
export const invalid = (option: string, input: unknown, problem: string, reason: Reason = "WrongType"): Invalid => ({
  _tag: "Invalid",
  option,
  value: render.value(input),
  reason,
  problem
})

/** The reason a number (or a duration's milliseconds) outside the expected ones was refused. */
const numberReason = (x: number): Reason => Number.isFinite(x) ? "OutOfRange" : "NotFinite"

/**
 * The longest duration any option accepts: 2^31 − 1 ms (about 24.8 days), the longest delay a
 * JavaScript timer holds on every runtime.
 */
export const maxMillis = 2_147_483_647

/** Bounds of a duration option, in milliseconds. */
export interface DurationBounds {
  /** The least value (default 0). */
  readonly min?: number | undefined
  /** Whether `min` itself is accepted (default `true`). */
  readonly minInclusive?: boolean | undefined
  /** The greatest finite value (default {@link maxMillis}). */
  readonly max?: number | undefined
  /** Whether an infinite duration is accepted, as "no limit" (default `false`). */
  readonly infinite?: boolean | undefined
}

/**
 * Reads a duration option as milliseconds: `fallback` when absent (`undefined`); otherwise a
 * `Duration`, a number of milliseconds, a bigint of nanoseconds, a `[seconds, nanos]` pair or a
 * string such as `"5 seconds"`, within `bounds`.
 */
export const millis = (
  option: string,
  input: unknown,
  fallback: number,
  bounds?: DurationBounds
): number | Invalid => {
  if (input === undefined) return fallback
  const min = bounds?.min ?? 0
  const minInclusive = bounds?.minInclusive ?? true
  const max = bounds?.max ?? maxMillis
  const range = `${minInclusive ? "of at least" : "greater than"} ${min} ms and at most ${max} ms` +
    (bounds?.infinite === true ? ", or infinite" : "")
  const decoded = toMillis(input)
  if (decoded === undefined) {
    return invalid(
      option,
      input,
      `expected a duration ${range} (a Duration, a number of milliseconds, or a string such as "5 seconds")`,
      typeof input === "number" ? "NotFinite" : "WrongType"
    )
  }
  if (decoded === Infinity && bounds?.infinite === true) return Infinity
  const ok = Number.isFinite(decoded) && (minInclusive ? decoded >= min : decoded > min) && decoded <= max
  return ok ? decoded : invalid(option, input, `expected a finite duration ${range}`, numberReason(decoded))
}

/** Bounds of a number option. */
export interface NumberBounds {
  readonly min: number
  readonly max: number
  /** Whether `min` itself is accepted (default `true`). */
  readonly minInclusive?: boolean | undefined
  /** Whether `max` itself is accepted (default `true`). */
  readonly maxInclusive?: boolean | undefined
  /** Whether only integers are accepted (default `false`). */
  readonly integer?: boolean | undefined
}

/** Reads a number option: `fallback` when absent, otherwise a finite number within `bounds`. */
export const number = (
  option: string,
  input: unknown,
  fallback: number,
  bounds: NumberBounds
): number | Invalid => {
  if (input === undefined) return fallback
  const minInclusive = bounds.minInclusive ?? true
  const maxInclusive = bounds.maxInclusive ?? true
  const ok = typeof input === "number" && Number.isFinite(input) &&
    (minInclusive ? input >= bounds.min : input > bounds.min) &&
    (maxInclusive ? input <= bounds.max : input < bounds.max) &&
    (bounds.integer !== true || Number.isInteger(input))
  if (ok) return input
  const kind = bounds.integer === true ? "an integer" : "a number"
  const inRange = typeof input === "number" && (minInclusive ? input >= bounds.min : input > bounds.min) &&
    (maxInclusive ? input <= bounds.max : input < bounds.max)
  return invalid(
    option,
    input,
    `expected ${kind} ${minInclusive ? "from" : "greater than"} ${bounds.min} ${
      maxInclusive ? "to" : "and less than"
    } ${bounds.max}`,
    typeof input !== "number" ? "WrongType" : inRange ? "NotInteger" : numberReason(input)
  )
}

/** Reads a boolean option: `fallback` when absent. */
export const boolean = (option: string, input: unknown, fallback: boolean): boolean | Invalid =>
  input === undefined ? fallback : typeof input === "boolean" ? input : invalid(option, input, "expected true or false")

/** The greatest request hash: hashes are unsigned 32-bit integers. */
export const maxHash = 4_294_967_295

/**
 * Reads a request hash: `-1` ("no hash": hash-based policies pick at random) when absent,
 * otherwise an integer from 0 to 2^32 − 1.
 */
export const hash = (input: unknown): number | Invalid => {
  if (input === undefined) return -1
  return typeof input === "number" && Number.isInteger(input) && input >= 0 && input <= maxHash
    ? input
    : invalid("hash", input, "expected an unsigned 32-bit integer (0 to 4294967295), such as RingHash.hash(key)")
}

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

/** The milliseconds of a duration input, or `undefined` when it is not one. Never coerces NaN. */
const toMillis = (input: unknown): number | undefined => {
  if (Duration.isDuration(input)) return Duration.toMillis(input)
  if (typeof input === "number") return Number.isNaN(input) ? undefined : input
  if (typeof input === "bigint") return Number(input) / 1e6
  if (typeof input === "string") {
    const parsed = Duration.fromInput(input as Duration.Input)
    return Option.isSome(parsed) ? Duration.toMillis(parsed.value) : undefined
  }
  if (Array.isArray(input)) {
    const [seconds, nanos] = input as ReadonlyArray<unknown>
    if (
      input.length !== 2 || typeof seconds !== "number" || typeof nanos !== "number" ||
      !Number.isFinite(seconds) || !Number.isFinite(nanos)
    ) return undefined
    return seconds * 1000 + nanos / 1e6
  }
  return undefined
}
