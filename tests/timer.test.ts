import { assert, describe, it } from "@effect/vitest"
import { BunServices } from "@switchyard/adapter-bun"
import { NodeServices } from "@switchyard/adapter-node"
import { Balancer, Change, Endpoint, RoundRobin } from "@switchyard/core"
import { Effect, Layer } from "effect"

const isBun = typeof (globalThis as { readonly Bun?: unknown }).Bun !== "undefined"

const timerSuite = (name: string, layer: Layer.Layer<never>) =>
  describe(`${name}: Balancer.Timer`, () => {
    it.live("reads fractional milliseconds on the wall time line, never going back", () =>
      Effect.gen(function*() {
        const timer = yield* Balancer.Timer
        assert.isDefined(timer)
        const reads = Array.from({ length: 10_000 }, () => timer!())
        assert.isTrue(reads.every((t, i) => i === 0 || t >= reads[i - 1]!), "monotone")
        assert.isTrue(reads.some((t) => !Number.isInteger(t)), "sub-millisecond")
        assert.isBelow(Math.abs(reads[0]! - Date.now()), 1000)
      }).pipe(Effect.provide(layer)))

    it.live("a balancer under the layer measures latency with it", () =>
      Effect.gen(function*() {
        const balancer = yield* Balancer.makeWith({ key: "api", policy: RoundRobin.make() })
        yield* balancer.apply(Change.diff([], [Endpoint.makeUnsafe("10.0.0.1:80")]))
        yield* balancer.use(() => Effect.sleep("20 millis"))
        const [stats] = yield* balancer.snapshot
        assert.isAtLeast(stats!.latency!, 19)
        assert.isBelow(stats!.latency!, 1000)
      }).pipe(Effect.provide(layer)))
  })

timerSuite("NodeServices.layer", NodeServices.layer)
if (isBun) timerSuite("BunServices.layer", BunServices.layer)
else {describe.skip("BunServices.layer: Balancer.Timer (runs on Bun only: Bun.nanoseconds)", () =>
    it("skipped", () => {}))}
