/**
 * A scripted discovery source for tests, driven by Effect's `Clock` (so by `TestClock` in
 * `it.effect`): each step publishes a payload, or fails, a given time after the previous one.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Fiber, Stream } from "effect"
 * import { TestClock } from "effect/testing"
 * import { TestDiscovery } from "@switchyard/core/testing"
 *
 * const program = Effect.gen(function*() {
 *   const discovery = yield* TestDiscovery.make([
 *     { after: "0 millis", payload: ["10.0.0.1:80"] },
 *     { after: "1 second", fail: "registry timed out" },
 *     { after: "1 second", payload: ["10.0.0.1:80", "10.0.0.2:80"] }
 *   ])
 *   const fiber = yield* discovery.updates("api").pipe(Stream.runCollect, Effect.forkChild)
 *   yield* TestClock.adjust("2 seconds")
 *   return yield* Fiber.join(fiber) // Changed, Rejected, Changed
 * })
 * ```
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as Discovery from "../Discovery.ts"
import * as DiscoveryEvent from "../DiscoveryEvent.ts"
import * as Endpoint from "../Endpoint.ts"
import * as option from "../internal/option.ts"
import type * as Options from "../Options.ts"

/**
 * One step of a script: after `after` (from the previous step), publish `payload`, or fail with
 * `fail` (a fetch failure).
 *
 * @category models
 * @since 0.1.0
 */
export type Step =
  | { readonly after: Duration.Input; readonly payload: unknown }
  | { readonly after: Duration.Input; readonly fail: string }

/**
 * A discovery that plays a script. Each `watch` / `updates` plays it from the moment the script
 * was made (steps already due are published at once); `discover` answers with the step due at
 * the current time.
 *
 * **Details**
 *
 * By default the stream ends after the last step (the discovery is `finite`, so a `Balancer`
 * stops watching there); with `hold: true` it stays open, as a live source does. An `after` that
 * is not a duration (`NaN`, a negative number, `"soon"`) fails `make` with an
 * `Options.OptionError` naming the step. `empty` is the `Discovery` option of that name (an empty
 * payload is rejected by default).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <Target = string>(
  script: ReadonlyArray<Step>,
  options?: Discovery.Options<Target> & { readonly hold?: boolean | undefined }
): Effect.Effect<Discovery.Discovery<Target>, Options.OptionError> =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const timeline: Array<{ readonly at: number; readonly step: Step }> = []
    let at = start
    for (let i = 0; i < script.length; i++) {
      const step = script[i]!
      const after = option.millis(`script[${i}].after`, step.after, Number.NaN)
      const invalid = option.isInvalid(after)
        ? after
        : Number.isNaN(after)
        ? option.invalid(`script[${i}].after`, step.after, "expected a duration")
        : undefined
      if (invalid !== undefined) {
        return yield* Effect.fail(option.error("TestDiscovery", invalid))
      }
      at += after as number
      timeline.push({ at, step })
    }
    const toPayload = (step: Step): Discovery.Payload =>
      "fail" in step ? Result.fail(new Error(step.fail)) : Result.succeed(step.payload)
    const played = Stream.fromIterable(timeline).pipe(
      Stream.mapEffect(({ at, step }) =>
        Clock.currentTimeMillis.pipe(
          Effect.flatMap((now) => now < at ? Effect.sleep(Duration.millis(at - now)) : Effect.void),
          Effect.as(toPayload(step))
        )
      )
    )
    return Discovery.make<Target, Error>({
      key: options?.key,
      empty: options?.empty,
      finite: options?.hold !== true,
      fetch: () =>
        Clock.currentTimeMillis.pipe(Effect.flatMap((now) => {
          let due: Step | undefined
          for (const entry of timeline) if (entry.at <= now) due = entry.step
          if (due === undefined) return Effect.fail(new Error(`no step of the script is due yet at t=${now - start}ms`))
          return "fail" in due ? Effect.fail(new Error(due.fail)) : Effect.succeed(due.payload)
        })),
      payloads: () => options?.hold === true ? Stream.concat(played, Stream.never) : played
    })
  })

/**
 * A discovery that plays a script of ServiceTalk-style events: each event is folded into a
 * snapshot, and the snapshot's available endpoints are published.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromEvents = <Target = string>(
  script: ReadonlyArray<{ readonly delay: Duration.Input; readonly event: DiscoveryEvent.DiscoveryEvent }>,
  options?: Discovery.Options<Target> & { readonly hold?: boolean | undefined }
): Effect.Effect<Discovery.Discovery<Target>, Options.OptionError> => {
  let snapshot = DiscoveryEvent.emptySnapshot
  const steps: Array<Step> = script.map(({ delay, event }) => {
    snapshot = DiscoveryEvent.fold(snapshot, event)
    return { after: delay, payload: DiscoveryEvent.availableEndpoints(snapshot).map(Endpoint.encode) }
  })
  return make(steps, options)
}
