import { assert, describe, it } from "@effect/vitest"
import { Connector } from "@switchyard/core"
import { Effect, Schema } from "effect"

describe("Connector errors", () => {
  it.effect("ConnectError and ConnectionRejected are typed, say what failed, and were not sent", () =>
    Effect.gen(function*() {
      const refused = yield* Effect.flip(
        Effect.fail(new Connector.ConnectError({ address: "10.0.0.1:80", reason: "Refused", detail: "ECONNREFUSED" }))
      )
      assert.strictEqual(refused._tag, "ConnectError")
      assert.strictEqual(refused.message, "could not connect to 10.0.0.1:80: refused (ECONNREFUSED)")
      assert.isFalse(refused.sent)
      const rejected = new Connector.ConnectionRejected({ key: "api", hosts: 3 })
      assert.include(rejected.message, "all connections to 3 hosts are busy")
      assert.isTrue(Connector.isConnectFailure(refused) && Connector.isConnectFailure(rejected))
      assert.isFalse(Connector.isConnectFailure(new Error("boom")))
      assert.isFalse(Connector.isConnectFailure({ _tag: "Other" }))
    }))

  it("ConnectError round-trips through its Schema (it can cross process boundaries and logs)", () => {
    const error = new Connector.ConnectError({ address: "[::1]:80", reason: "Timeout", detail: "" })
    const encoded = Schema.encodeSync(Connector.ConnectError)(error)
    const decoded = Schema.decodeUnknownSync(Connector.ConnectError)(encoded)
    assert.strictEqual(decoded.reason, "Timeout")
    assert.strictEqual(decoded.message, "could not connect to [::1]:80: timeout")
  })
})
