import { assert, describe, it } from "@effect/vitest"
import { Change, DiscoveryEvent, Endpoint } from "@switchyard/core"
import { Arbitraries, Laws } from "@switchyard/core/testing"
import { Result, Schema } from "effect"
import * as fc from "fast-check"
import { params } from "./seed.ts"

const a = Endpoint.makeUnsafe("10.0.0.1:80")
const b = Endpoint.makeUnsafe("10.0.0.2:80")

describe("DiscoveryEvent", () => {
  it("Expired keeps the endpoint with its status; Unavailable removes it; Available revives it", () => {
    let s = DiscoveryEvent.fromEvents([DiscoveryEvent.available(a), DiscoveryEvent.available(b)])
    s = DiscoveryEvent.fold(s, DiscoveryEvent.expired(a.address))
    assert.strictEqual(s.get(a.address)?.status, "expired")
    assert.deepStrictEqual(DiscoveryEvent.availableEndpoints(s).map((e) => e.address), [b.address])
    s = DiscoveryEvent.fold(s, DiscoveryEvent.unavailable(b.address))
    assert.isFalse(s.has(b.address))
    s = DiscoveryEvent.fold(s, DiscoveryEvent.available({ ...a, weight: 4 }))
    assert.deepStrictEqual(s.get(a.address), { endpoint: { ...a, weight: 4 }, status: "available" })
  })

  it("events about unknown addresses change nothing and fold returns the same snapshot", () => {
    const s = DiscoveryEvent.fromEvents([DiscoveryEvent.available(a)])
    assert.strictEqual(DiscoveryEvent.fold(s, DiscoveryEvent.expired(b.address)), s)
    assert.strictEqual(DiscoveryEvent.fold(s, DiscoveryEvent.unavailable(b.address)), s)
  })

  it("an expiring endpoint leaves the change's `all` and shows in removed", () => {
    const before = DiscoveryEvent.fromEvents([DiscoveryEvent.available(a), DiscoveryEvent.available(b)])
    const after = DiscoveryEvent.fold(before, DiscoveryEvent.expired(a.address))
    const change = DiscoveryEvent.diff(before, after, { key: "api" })
    assert.deepStrictEqual(change.removed.map((e) => e.address), [a.address])
    assert.deepStrictEqual(change.all.map((e) => e.address), [b.address])
  })

  it("property: events -> snapshot -> events -> snapshot round trip", () => {
    fc.assert(
      fc.property(Arbitraries.eventScript(), (script) => {
        const events = script.map((s) => s.event)
        assert.deepStrictEqual(Laws.checkEventsRoundTrip(events), [])
        const snapshot = DiscoveryEvent.fromEvents(events)
        assert.isTrue(DiscoveryEvent.equivalent(DiscoveryEvent.fromEvents(DiscoveryEvent.toEvents(snapshot)), snapshot))
      }),
      params(1000)
    )
  })

  it("property: a change turned into events rebuilds the next set from the previous one", () => {
    fc.assert(
      fc.property(Arbitraries.setSequence({ minLength: 2, maxLength: 2 }), ([prev, next]) => {
        const change = Change.diff(prev!, next!)
        const rebuilt = DiscoveryEvent.fromEvents(
          DiscoveryEvent.fromChange(change),
          DiscoveryEvent.fromEndpoints(Endpoint.dedupe(prev!))
        )
        assert.isTrue(DiscoveryEvent.equivalent(rebuilt, DiscoveryEvent.fromEndpoints(change.all)))
      }),
      params(1000)
    )
  })

  it("events decode with their Schema: a bad address in an event is a typed SchemaError", () => {
    const decode = Schema.decodeUnknownResult(DiscoveryEvent.DiscoveryEvent)
    const good = decode({ _tag: "Expired", address: "EXAMPLE.com:0080" })
    assert.isTrue(
      Result.isSuccess(good) && good.success._tag === "Expired" && good.success.address === "example.com:80"
    )
    const bad = decode({ _tag: "Unavailable", address: "nope" })
    assert.isTrue(Result.isFailure(bad) && Schema.isSchemaError(bad.failure) && bad.failure.message.includes("port"))
  })
})
