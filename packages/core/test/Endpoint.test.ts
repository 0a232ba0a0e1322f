import { assert, describe, it } from "@effect/vitest"
import { Endpoint } from "@switchyard/core"
import { Arbitraries } from "@switchyard/core/testing"
import { Effect, Result } from "effect"
import * as fc from "fast-check"
import { params } from "./seed.ts"

const decoded = (input: unknown) => {
  const result = Endpoint.decodeResult(input)
  if (Result.isFailure(result)) {
    throw new Error(`expected ${JSON.stringify(input)} to decode: ${result.failure.message}`)
  }
  return result.success
}

const failure = (input: unknown) => {
  const result = Endpoint.decodeResult(input)
  if (Result.isSuccess(result)) throw new Error(`expected ${JSON.stringify(input)} to fail`)
  return result.failure
}

describe("Endpoint", () => {
  it("canonicalises every spelling of an address to one identity", () => {
    assert.strictEqual(decoded("API.Internal.:0443").address, "api.internal:443")
    assert.strictEqual(decoded("[2001:DB8:0:0:0:0:0:1]:80").address, "[2001:db8::1]:80")
    assert.strictEqual(decoded("[0:0:0:0:0:0:0:1]:80").address, "[::1]:80")
    assert.strictEqual(decoded("[1:0:0:2:0:0:0:3]:80").address, "[1:0:0:2::3]:80")
    assert.strictEqual(decoded("[::FFFF:10.0.0.1]:80").address, "[::ffff:10.0.0.1]:80")
    assert.strictEqual(decoded("[fe80::1%eth0]:80").address, "[fe80::1%eth0]:80")
    assert.strictEqual(decoded("/run/app.sock").address, "unix:/run/app.sock")
    assert.strictEqual(decoded("unix:/run/app.sock").address, "unix:/run/app.sock")
  })

  it("applies the documented defaults: weight 1, no tags, no zone or priority", () => {
    const ep = decoded({ address: "10.0.0.1:80" })
    assert.deepStrictEqual(
      ep,
      { address: "10.0.0.1:80", weight: Endpoint.defaultWeight, tags: {} } as Endpoint.Endpoint
    )
    assert.strictEqual(Endpoint.defaultWeight, 1)
    assert.isFalse("zone" in ep || "priority" in ep)
  })

  it("keeps tags whose keys look like Object.prototype members as plain data", () => {
    const ep = decoded(JSON.parse(`{"address":"a.example:1","tags":{"__proto__":"x","constructor":"y"}}`))
    assert.strictEqual(Object.getPrototypeOf(ep.tags), Object.prototype)
    assert.deepStrictEqual(Object.keys(ep.tags).sort(), ["__proto__", "constructor"])
    assert.isTrue(Endpoint.equals(ep, decoded(Endpoint.encode(ep))))
  })

  it("names the field and the value of bad input", () => {
    const cases: ReadonlyArray<readonly [unknown, string, string]> = [
      [{ address: "10.0.0.1:80", weight: 0 }, "weight", "0"],
      [{ address: "10.0.0.1:80", weight: 2.5 }, "weight", "2.5"],
      [{ address: "10.0.0.1" }, "address", `"10.0.0.1"`],
      [{ address: "::1:80" }, "address", `"::1:80"`],
      [{ address: "a:1", tags: { az: 3 } }, "tags.az", "3"],
      [{ address: "a:1", zone: "" }, "zone", `""`],
      [{ address: "a:1", priority: -1 }, "priority", "-1"],
      [{ weight: 1 }, "address", "(missing)"],
      [17, "(endpoint)", "17"]
    ]
    for (const [input, field, value] of cases) {
      const error = failure(input)
      assert.strictEqual(error._tag, "EndpointError")
      assert.strictEqual(error.field, field, JSON.stringify(input))
      assert.strictEqual(error.value, value, JSON.stringify(input))
      assert.include(error.message, field)
    }
  })

  it.effect("decode is an Effect failing with EndpointError in the error channel", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Endpoint.decode({ address: "x:1", weight: -3 }))
      assert.strictEqual(error.field, "weight")
      assert.strictEqual(error.value, "-3")
    }))

  it("decodeAll names the index of the first bad endpoint and merges duplicates, last wins", () => {
    const bad = Endpoint.decodeAllResult(["a:1", { address: "b:1" }, { address: "c:1", weight: "2" }])
    assert.isTrue(Result.isFailure(bad) && bad.failure.field === "[2].weight")
    const notList = Endpoint.decodeAllResult({ endpoints: [] })
    assert.isTrue(Result.isFailure(notList) && notList.failure.field === "(list)")
    const merged = Endpoint.decodeAllResult(["a:1", "b:1", { address: "A:01", weight: 5 }])
    assert.isTrue(Result.isSuccess(merged))
    if (Result.isSuccess(merged)) assert.deepStrictEqual(merged.success.map(Endpoint.format), ["a:1 w=5", "b:1 w=1"])
  })

  it("property: every generated input decodes, and decoding is idempotent through encode", () => {
    fc.assert(
      fc.property(Arbitraries.endpointInput, (input) => {
        const ep = decoded(input)
        const again = decoded(Endpoint.encode(ep))
        assert.isTrue(Endpoint.equals(ep, again), `${Endpoint.format(ep)} vs ${Endpoint.format(again)}`)
        assert.strictEqual(decoded(ep.address).address, ep.address)
      }),
      params(1000)
    )
  })

  it("property: every malformed input fails with an EndpointError naming the expected field", () => {
    fc.assert(
      fc.property(Arbitraries.malformedEndpoint, ({ input, field }) => {
        const error = failure(input)
        assert.strictEqual(error._tag, "EndpointError")
        assert.strictEqual(error.field, field, JSON.stringify(input))
        assert.isAbove(error.value.length, 0)
      }),
      params(1000)
    )
  })
})
