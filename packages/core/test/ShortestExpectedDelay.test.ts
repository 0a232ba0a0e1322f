import { assert, describe, it } from "@effect/vitest"
import { Endpoint, type Policy, ShortestExpectedDelay } from "@switchyard/core"
import { TestPicker } from "@switchyard/core/testing"
import * as choices from "../src/internal/choices.ts"

const endpoints = (n: number) => Array.from({ length: n }, (_, i) => Endpoint.makeUnsafe(`10.7.0.${i + 1}:80`))

/** A picker whose clock the test moves, and a way to complete one request to a slot. */
const harness = (n: number, options?: Parameters<typeof ShortestExpectedDelay.make>[0]) => {
  let now = 0
  const t = TestPicker.make(ShortestExpectedDelay.make(options), endpoints(n), { now: () => now })
  /** `inFlight` requests to `slot`, completed `latency` ms later (success unless told). */
  const complete = (slot: Policy.Slot, latency: number, inFlight = 1, success = true) => {
    for (let k = 0; k < inFlight; k++) t.acquire(slot)
    now += latency
    for (let k = 0; k < inFlight; k++) t.release(slot, { success, latency, now })
  }
  return { t, complete, advance: (ms: number) => (now += ms) }
}

const share = (t: TestPicker.TestPicker, address: string, picks: number): number => {
  let hits = 0
  for (let k = 0; k < picks; k++) if (t.pick()?.endpoint.address === address) hits++
  return hits / picks
}

describe("ShortestExpectedDelay", () => {
  it("invalid options give a policy that refuses to start, naming the option", () => {
    const cases: ReadonlyArray<[Parameters<typeof ShortestExpectedDelay.make>[0], string]> = [
      [{ choices: 1 }, "choices"],
      [{ choices: 2.5 }, "choices"],
      [{ decay: 0 }, "decay"],
      [{ decay: "forever" as never }, "decay"],
      [{ defaultLatency: -1 }, "defaultLatency"],
      [{ failurePenalty: Number.NaN }, "failurePenalty"],
      [{ failurePenalty: -1 }, "failurePenalty"]
    ]
    for (const [options, option] of cases) {
      const policy = ShortestExpectedDelay.make(options)
      assert.strictEqual(policy.error?.option, option, JSON.stringify(options))
      assert.strictEqual(policy.name, "shortest-expected-delay")
    }
    assert.isUndefined(ShortestExpectedDelay.make({ choices: 2, decay: "250 millis", failurePenalty: 0 }).error)
  })

  it("an endpoint seen to answer ten times slower gets almost no requests while the others are idle", () => {
    const { complete, t } = harness(4)
    for (let round = 0; round < 50; round++) {
      for (const slot of t.slots) complete(slot, slot.endpoint.address === "10.7.0.4:80" ? 100 : 10)
    }
    assert.strictEqual(share(t, "10.7.0.4:80", 1000), 0)
  })

  it("at the same latency, an endpoint seen to keep more requests in flight is taken for more concurrent", () => {
    const { complete, t } = harness(2)
    const [small, large] = [t.slots[0]!, t.slots[1]!]
    for (let round = 0; round < 200; round++) {
      complete(small, 10, 1)
      complete(large, 10, 8)
    }
    // two requests on each: the large one's expected delay is the lower
    for (const slot of [small, large]) for (let k = 0; k < 2; k++) t.acquire(slot)
    assert.strictEqual(t.pick(), large)
    const explanation = t.picker.explain(-1)
    const [a, b] = explanation.candidates.map((c) => c.score)
    assert.strictEqual(explanation.candidates.length, 2)
    assert.isAbove(Math.abs(a! - b!), 0)
  })

  it("an endpoint that fails fast loses to slower healthy ones, and is tried again once its failures age", () => {
    const { advance, complete, t } = harness(3)
    const failing = t.slots[2]!
    for (let round = 0; round < 20; round++) {
      complete(t.slots[0]!, 10)
      complete(t.slots[1]!, 10)
      complete(failing, 1, 1, false)
    }
    assert.strictEqual(share(t, failing.endpoint.address, 1000), 0)
    // ten seconds (ten time constants) of completions on the others age the failure rate
    for (let round = 0; round < 1000; round++) {
      advance(10)
      complete(t.slots[round & 1]!, 10)
    }
    assert.isAbove(share(t, failing.endpoint.address, 1000), 0.5)
  })

  it("examines every endpoint when there are at most `choices`, and `choices` distinct ones otherwise", () => {
    for (const [n, d, expected] of [[3, 5, 3], [5, 5, 5], [10, 5, 5], [10, 2, 2], [100, 7, 7]] as const) {
      const { t } = harness(n, { choices: d })
      for (let k = 0; k < 50; k++) {
        const explanation = t.picker.explain(-1)
        const addresses = new Set(explanation.candidates.map((c) => c.address))
        assert.strictEqual(explanation.candidates.length, expected, `n = ${n}, d = ${d}`)
        assert.strictEqual(addresses.size, expected, `n = ${n}, d = ${d}: distinct`)
        assert.isTrue(addresses.has(explanation.chosen!))
      }
    }
  })

  it("choices.best: the candidates of a partial shuffle are uniform, whatever the permutation left", () => {
    const n = 6
    const slots = endpoints(n).map((endpoint) => ({ endpoint, pending: 0 }) as Policy.Slot)
    const unit = new Float64Array(n).fill(1)
    const order = Int32Array.from({ length: n }, (_, i) => i)
    const seen = new Array<number>(n).fill(0)
    let state = 7
    const random = () => (state = (state * 48271) % 2147483647) / 2147483647
    const picks = 60_000
    for (let k = 0; k < picks; k++) {
      choices.best(slots, unit, 3, order, random)
      for (const i of choices.examined(n, 3, order)) seen[i]!++
    }
    for (const count of seen) assert.approximately(count / (picks * 3), 1 / n, 0.01)
    assert.deepStrictEqual([...order].sort(), [0, 1, 2, 3, 4, 5])
  })

  it("estimates survive a rebalance, and a removed endpoint is never picked", () => {
    const { complete, t } = harness(4)
    for (let round = 0; round < 50; round++) {
      for (const slot of t.slots) complete(slot, slot.endpoint.address === "10.7.0.1:80" ? 100 : 10)
    }
    t.remove("10.7.0.3:80")
    t.add(Endpoint.makeUnsafe("10.7.0.9:80"))
    for (let k = 0; k < 1000; k++) {
      const address = t.pick()?.endpoint.address
      assert.notStrictEqual(address, "10.7.0.3:80")
      assert.notStrictEqual(address, "10.7.0.1:80")
    }
  })
})
