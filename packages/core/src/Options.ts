/**
 * The one error every constructor gives for an option it cannot take: {@link OptionError}, naming
 * the module, the option, the value as given and why it was refused.
 *
 * **Details**
 *
 * Every option of every public constructor goes through one decoder: durations (a `Duration`, a
 * number of milliseconds, a string such as `"5 seconds"`), numbers, counts, booleans, functions
 * and names. Nothing is clamped or coerced: `NaN` is not `0`, a huge number is not "forever", a
 * fractional count is not rounded, `undefined` is "use the default". The longest duration any
 * option takes is 2^31 − 1 ms (about 24.8 days), the longest delay a JavaScript timer holds.
 *
 * Where the error appears:
 *
 * - A constructor that returns an `Effect` (`Budget.make`, `Hedge.make`, `Balancer.make`) fails
 *   with it, and nothing is made.
 * - A constructor that returns a description (a `Policy`, a `Retry`, a `Discovery`) never throws:
 *   the description carries the error in its `error` field, and the `Effect` that builds from it
 *   fails with that same error (`Balancer.make` for a policy or a discovery, `Retry.use` for a
 *   retry policy) before anything is started or sent.
 * - The simulator (`Simulator.run`, a pure function) throws it.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Budget, Options } from "@switchyard/core"
 *
 * const program = Budget.make({ ttl: Number.NaN }).pipe(
 *   Effect.catchTag("OptionError", (error) => {
 *     // error.module === "budget", error.option === "ttl", error.value === "NaN",
 *     // error.reason === "NotFinite"
 *     console.log(error.message)
 *     return Effect.void
 *   })
 * )
 * Options.isOptionError(new Error("no")) // false
 * ```
 *
 * @stability stable
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * Why a value was refused:
 *
 * - `"WrongType"`: not of the expected type at all (a string for a count, `null`, an object, a
 *   string that is not a duration);
 * - `"NotFinite"`: `NaN` or an infinity where a finite value is expected;
 * - `"OutOfRange"`: finite, but below the least or above the greatest value accepted;
 * - `"NotInteger"`: fractional where a count is expected;
 * - `"UnknownChoice"`: not one of the names the option accepts.
 *
 * @category models
 * @since 0.1.0
 */
export type Reason = "WrongType" | "NotFinite" | "OutOfRange" | "NotInteger" | "UnknownChoice"

/**
 * An option a constructor cannot take. `module` is the constructor's module (`"budget"`, `"retry"`; for a policy, its
 * name: `"peak-ewma"`, `"outlier-detection"`), `option` the option's name as written in the
 * constructor's options, `value` the value as given (`NaN`, `-Infinity`, `"soon"`, `1.5`), and
 * `problem` what was expected.
 *
 * @category errors
 * @since 0.1.0
 */
export class OptionError extends Schema.TaggedError<OptionError>()("OptionError", {
  module: Schema.String,
  option: Schema.String,
  value: Schema.String,
  reason: Schema.Literals(["WrongType", "NotFinite", "OutOfRange", "NotInteger", "UnknownChoice"]),
  problem: Schema.String
}) {
  override get message(): string {
    return `invalid ${this.module} option ${this.option}: ${this.value} (${this.problem}); nothing was built with it`
  }
}

/**
 * Whether a value is an {@link OptionError}.
 *
 * @category guards
 * @since 0.1.0
 */
export const isOptionError = (u: unknown): u is OptionError => Predicate.isTagged(u, "OptionError")
