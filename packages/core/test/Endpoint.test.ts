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

  it("an optional field (or a tag) given as undefined is absent, for every optional field", () => {
    const bare = decoded({ address: "10.0.0.1:80" })
    for (const field of ["weight", "tags", "zone", "priority"]) {
      const ep = decoded({ address: "10.0.0.1:80", [field]: undefined })
      assert.deepStrictEqual(ep, bare, field)
      if (field === "zone" || field === "priority") assert.isFalse(field in ep, `${field} stays absent`)
    }
    assert.deepStrictEqual(decoded({ address: "10.0.0.1:80", tags: { az: "a", gone: undefined } }).tags, { az: "a" })
    assert.deepStrictEqual(
      Endpoint.decodeAllResult([{ address: "a:1", zone: undefined, priority: undefined }]).pipe(
        Result.map((xs) => xs.length)
      ),
      Result.succeed(1)
    )
    // a required field given as undefined is still missing
    assert.strictEqual(failure({ address: undefined }).value, "(missing)")
  })

  it("messages show the offending value as written: NaN and Infinity are not null", () => {
    for (
      const [weight, shown] of [[Number.NaN, "NaN"], [Infinity, "Infinity"], [-Infinity, "-Infinity"], [
        -0,
        "-0"
      ]] as const
    ) {
      const error = failure({ address: "10.0.0.1:80", weight })
      assert.strictEqual(error.value, shown)
      assert.include(error.message, `weight: ${shown}`)
      assert.notInclude(error.message, "null")
    }
    assert.strictEqual(failure({ address: "10.0.0.1:80", weight: 10n }).value, "10n")
    assert.include(
      Endpoint.decodeAllResult({ endpoints: [] }).pipe(Result.flip, Result.getOrThrow).message,
      "{ endpoints: [] }"
    )
  })

  it("host names that end in a number are refused: resolvers read them as IPv4 (0x7f.0.0.1 is 127.0.0.1)", () => {
    for (const address of ["0x7f.0.0.1:80", "0x7f000001:80", "127.1.0x1:80", "foo.123:80", "10.0x0:80"]) {
      assert.include(failure(address).problem, "ends in a number", address)
    }
    assert.strictEqual(decoded("123abc.example:80").address, "123abc.example:80")
    assert.strictEqual(decoded("x0.example:80").address, "x0.example:80")
  })

  it("the unix socket path limit counts UTF-8 bytes, not UTF-16 units", () => {
    const accented = `/${"é".repeat(60)}` // 61 UTF-16 units, 121 bytes
    assert.include(failure(`unix:${accented}`).problem, "121")
    const astral = `/${"😀".repeat(27)}` // 55 units, 109 bytes
    assert.include(failure(astral).problem, "109")
    assert.strictEqual(decoded(`/${"é".repeat(53)}`).address, `unix:/${"é".repeat(53)}`) // 107 bytes
    assert.include(failure(`/${"é".repeat(53)}x`).problem, "108")
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
