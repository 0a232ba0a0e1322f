/**
 * A picker driven as `Balancer.apply` drives it (`TestPicker`), with changes batched until the
 * test calls `picker.rebalanced()` itself.
 */
import { assert } from "@effect/vitest"
import { Endpoint, type Policy } from "@switchyard/core"
import { TestPicker } from "@switchyard/core/testing"
import * as fc from "fast-check"

/** Endpoint `id` (weight `weight`): `10.a.b.c:80`, distinct for ids below 2^24. */
export const ep = (id: number, weight = 1): Endpoint.Endpoint =>
  Endpoint.makeUnsafe({ address: `10.${(id >> 16) & 255}.${(id >> 8) & 255}.${id & 255}:80`, weight })

export const harness = (policy: Policy.Policy, endpoints: ReadonlyArray<Endpoint.Endpoint>, random: () => number) => {
  const t = TestPicker.make(policy, endpoints, { random })
  return {
    ...t,
    add: (e: Endpoint.Endpoint) => t.add(e, { batch: true }),
    remove: (address: string) => t.remove(address, { batch: true }),
    update: (e: Endpoint.Endpoint) => t.update(e, { batch: true })
  }
}

/**
 * Property: without a request hash, `policy`'s picks spread over every endpoint of 2 to 16: in
 * 20,000 picks each gets 1/n within ±`tolerance`/n.
 */
export const spreadsEvenly = (policy: () => Policy.Policy, tolerance: number) =>
  fc.property(fc.integer({ min: 2, max: 16 }), fc.integer(), (n, seed) => {
    const h = harness(
      policy(),
      Array.from({ length: n }, (_, i) => ep(i + Math.abs(seed % 1000) * 16)),
      TestPicker.seeded(seed)
    )
    const counts = new Int32Array(n)
    for (let j = 0; j < 20_000; j++) counts[h.picker.pick(-1)!.index]!++
    for (const count of counts) assert.approximately(count / 20_000, 1 / n, tolerance / n)
  })
