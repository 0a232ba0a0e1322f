import { assert, describe, it } from "@effect/vitest"
import { Change, Endpoint } from "@switchyard/core"
import { Arbitraries, Laws } from "@switchyard/core/testing"
import * as fc from "fast-check"
import { params } from "./seed.ts"

const ep = Endpoint.makeUnsafe
const addresses = (endpoints: ReadonlyArray<Endpoint.Endpoint>) => endpoints.map((e) => e.address)

const pairs = fc.oneof(
  Arbitraries.setSequence({ minLength: 2, maxLength: 2 }).map(([a, b]) => [a!, b!] as const),
  fc.tuple(Arbitraries.endpointSet(), Arbitraries.endpointSet())
)

describe("Change", () => {
  it("diff sorts endpoints into added, updated and removed", () => {
    const a = ep("10.0.0.1:80")
    const b = ep({ address: "10.0.0.2:80", weight: 2 })
    const c = ep("10.0.0.3:80")
    const change = Change.diff([a, b], [ep({ address: "10.0.0.2:80", weight: 3 }), c], { key: "api" })
    assert.strictEqual(change.key, "api")
    assert.deepStrictEqual(addresses(change.added), ["10.0.0.3:80"])
    assert.deepStrictEqual(change.updated.map(Endpoint.format), ["10.0.0.2:80 w=3"])
    assert.deepStrictEqual(addresses(change.removed), ["10.0.0.1:80"])
    assert.deepStrictEqual(addresses(change.all), ["10.0.0.2:80", "10.0.0.3:80"])
  })

  it("a change of tags, zone or priority alone is an update; a reordering is no change", () => {
    const base = ep({ address: "a:1", tags: { v: "1" } })
    assert.strictEqual(Change.diff([base], [ep({ address: "a:1", tags: { v: "2" } })]).updated.length, 1)
    assert.strictEqual(Change.diff([base], [ep({ address: "a:1", tags: { v: "1" }, zone: "z" })]).updated.length, 1)
    assert.strictEqual(Change.diff([base], [ep({ address: "a:1", tags: { v: "1" }, priority: 1 })]).updated.length, 1)
    assert.strictEqual(Change.diff([base], [ep({ address: "a:1", tags: { w: "1" } })]).updated.length, 1)
    const x = ep("x:1")
    assert.isTrue(Change.isEmpty(Change.diff([base, x], [x, base])))
  })

  it("compose needs consistent changes: the documented counterexample is real", () => {
    const p = ep("10.0.0.9:80")
    const addAgain: Change.Change = { key: "", all: [p], added: [p], updated: [], removed: [] }
    const remove: Change.Change = { key: "", all: [], added: [], updated: [], removed: [p] }
    assert.deepStrictEqual(Change.apply(Change.apply([p], addAgain), remove), [])
    assert.deepStrictEqual(Change.apply([p], Change.compose(addAgain, remove)).map((e) => e.address), [p.address])
    // the same sets through consistent diffs compose exactly
    const composed = Change.compose(Change.diff([p], [p]), Change.diff([p], []))
    assert.deepStrictEqual(Change.apply([p], composed), [])
  })

  it("compose: added then removed cancels; removed then re-added is an update", () => {
    const a = ep("a:1")
    const b = ep("b:1")
    const addThenRemove = Change.compose(Change.diff([a], [a, b]), Change.diff([a, b], [a]))
    assert.isTrue(Change.isEmpty(addThenRemove))
    const removeThenBack = Change.compose(Change.diff([a, b], [a]), Change.diff([a], [a, b]))
    assert.deepStrictEqual(removeThenBack.updated.map(Endpoint.format), ["b:1 w=1"])
    assert.isTrue(Change.sameSet(Change.apply([a, b], removeThenBack), [a, b]))
    const removeThenChanged = Change.compose(
      Change.diff([a, b], [a]),
      Change.diff([a], [a, ep({ address: "b:1", weight: 9 })])
    )
    assert.deepStrictEqual(removeThenChanged.updated.map(Endpoint.format), ["b:1 w=9"])
  })

  it("property: apply(prev, diff(prev, next)) equals next", () => {
    fc.assert(
      fc.property(pairs, ([prev, next]) => {
        assert.isTrue(Change.sameSet(Change.apply(prev, Change.diff(prev, next)), next))
      }),
      params(1000)
    )
  })

  it("property: diff(x, x) is empty", () => {
    fc.assert(
      fc.property(Arbitraries.endpointSet(), (x) => {
        assert.isTrue(Change.isEmpty(Change.diff(x, x)))
        assert.isTrue(Change.isEmpty(Change.diff(x, [...x].reverse().filter(() => true).reverse())))
      }),
      params(1000)
    )
  })

  it("property: added, updated and removed are pairwise disjoint, each is what it says, all = next", () => {
    fc.assert(
      fc.property(pairs, ([prev, next]) => {
        const change = Change.diff(prev, next)
        assert.deepStrictEqual(Laws.checkChange(prev, next, change), [])
        const parts = [...change.added, ...change.updated, ...change.removed].map((e) => e.address)
        assert.strictEqual(new Set(parts).size, parts.length)
      }),
      params(1000)
    )
  })

  it("property: compose agrees with apply along a sequence of sets", () => {
    fc.assert(
      fc.property(Arbitraries.setSequence({ maxLength: 8 }), (sets) => {
        assert.deepStrictEqual(Laws.checkCompose(sets), [])
        let composed = Change.empty()
        let x = sets[0]!
        for (let i = 1; i < sets.length; i++) {
          const change = Change.diff(sets[i - 1]!, sets[i]!)
          x = Change.apply(x, change)
          composed = Change.compose(composed, change)
        }
        assert.isTrue(Change.sameSet(Change.apply(sets[0]!, composed), x))
      }),
      params(1000)
    )
  })

  it("the shipped law properties hold (Laws.changeProperties)", () => {
    for (const { property } of Laws.changeProperties()) fc.assert(property, params(300))
  })
})
