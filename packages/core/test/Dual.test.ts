import { assert, describe, it } from "@effect/vitest"
import { Change, Endpoint, Health, OutlierDetection, Policy, RoundRobin } from "@switchyard/core"
import { Effect, pipe } from "effect"

const a = Endpoint.makeUnsafe("10.0.0.1:80")
const b = Endpoint.makeUnsafe("10.0.0.2:80")
const c = Endpoint.makeUnsafe("10.0.0.3:80")
const probe = () => Effect.void

describe("dual combinators read the same in pipe", () => {
  it("Change.apply", () => {
    const change = Change.diff([a, b], [b, c], { key: "api" })
    assert.deepStrictEqual(pipe([a, b], Change.apply(change)), Change.apply([a, b], change))
    assert.deepStrictEqual(pipe([a, b], Change.apply(change)).map((e) => e.address), [b.address, c.address])
  })

  it("OutlierDetection.make and Health.make wrap the piped policy, with or without options", () => {
    const inner = RoundRobin.make()
    assert.strictEqual(pipe(inner, OutlierDetection.make()).name, OutlierDetection.make(inner).name)
    assert.strictEqual(
      pipe(inner, OutlierDetection.make({ consecutiveFailures: 3 })).name,
      `outlier-detection(${inner.name})`
    )
    assert.strictEqual(pipe(inner, Health.make({ probe })).name, Health.make(inner, { probe }).name)
    // invalid options give the same error either way
    const piped = pipe(inner, OutlierDetection.make({ consecutiveFailures: 0 }))
    const direct = OutlierDetection.make(inner, { consecutiveFailures: 0 })
    assert.isDefined(piped.error)
    assert.deepStrictEqual({ ...piped.error }, { ...direct.error })
  })

  it("Policy.isPolicy tells a policy from options", () => {
    assert.isTrue(Policy.isPolicy(RoundRobin.make()))
    for (const u of [undefined, null, {}, { name: "x" }, { make: () => undefined }, { consecutiveFailures: 3 }]) {
      assert.isFalse(Policy.isPolicy(u), JSON.stringify(u))
    }
  })
})
