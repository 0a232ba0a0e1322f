/**
 * A picker driven as `Balancer.apply` drives it (`TestPicker`), with changes batched until the
 * test calls `picker.rebalanced()` itself.
 */
import { assert } from "@effect/vitest"
import { Endpoint, type Policy } from "@switchyard/core"
import { Arbitraries, TestPicker } from "@switchyard/core/testing"
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

/** Endpoints with distinct addresses of every kind (IPv4, IPv6, host names, unix sockets). */
export const endpointSet = (min: number, max: number) =>
  fc.uniqueArray(Arbitraries.address.map((a) => Endpoint.makeUnsafe(a)), {
    minLength: min,
    maxLength: max,
    selector: (e) => e.address
  })

/** A 32-bit request hash. */
export const u32 = fc.integer({ min: 0, max: 0xffffffff })

/**
 * Property of a hash-based policy: while the set is unchanged, a hash gives the same endpoint
 * again, the same in another client that received the set in another order, and in `explain`.
 */
export const stableHashes = (policy: () => Policy.Policy) =>
  fc.property(
    endpointSet(1, 12),
    fc.array(u32, { minLength: 50, maxLength: 50 }),
    fc.integer(),
    (endpoints, keys, seed) => {
      const a = harness(policy(), endpoints, TestPicker.seeded(seed))
      const b = harness(policy(), [...endpoints].reverse(), TestPicker.seeded(seed + 1))
      for (const key of keys) {
        const chosen = a.picker.pick(key)?.endpoint.address
        const again = a.picker.pick(key)?.endpoint.address
        const other = b.picker.pick(key)?.endpoint.address
        const explained = a.picker.explain(key).chosen
        if (again !== chosen || other !== chosen || explained !== chosen) {
          assert.fail(`key ${key}: ${chosen}, then ${again}; the other client ${other}; explain ${explained}`)
        }
      }
    }
  )
