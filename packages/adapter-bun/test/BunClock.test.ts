import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { clockSuite } from "../../../tests/conformance/ClockSuite.ts"
import * as BunClock from "../src/BunClock.ts"
import * as BunServices from "../src/BunServices.ts"

const bun = (globalThis as { readonly Bun?: { readonly nanoseconds: () => number } | undefined }).Bun
const notBun = bun === undefined

clockSuite({
  name: "BunClock",
  make: BunClock.make,
  layers: [["BunClock.layer", BunClock.layer], ["BunServices.layer", BunServices.layer]],
  timer: ["Bun.nanoseconds() as a bigint", () => BigInt(Math.trunc(bun!.nanoseconds()))],
  skip: notBun ? "Bun only: Bun.nanoseconds is not available on this runtime" : undefined
})

describe.skipIf(!notBun)("BunClock outside Bun (skipped on Bun, where Bun.nanoseconds exists)", () => {
  it.live("building the layer dies with a defect naming Bun.nanoseconds", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Clock.currentTimeNanos.pipe(Effect.provide(BunClock.layer)))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), "expected the layer to die")
      if (Exit.isFailure(exit)) {
        assert.include(Cause.pretty(exit.cause), "Bun.nanoseconds is not available on this runtime")
      }
    }))
})
