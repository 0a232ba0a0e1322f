import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as sample from "../src/internal/sample.ts"
import { params } from "./seed.ts"

describe("LeastPending sampling (internal/sample)", () => {
  it("property: first and second give two different indices in [0, n) for every u in [0, 1)", () => {
    const u = fc.oneof(
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      fc.constantFrom(0, 2 ** -53, 0.5, 1 - 2 ** -53)
    )
    fc.assert(
      fc.property(u, fc.integer({ min: 2, max: 2 ** 23 }), (u, n) => {
        const i = sample.first(u, n)
        const j = sample.second(u, n, i)
        if (!(i >= 0 && i < n && j >= 0 && j < n && i !== j && Number.isInteger(i) && Number.isInteger(j))) {
          assert.fail(`u = ${u}, n = ${n}: (${i}, ${j})`)
        }
      }),
      params(1000)
    )
  })

  it("u spread evenly over [0, 1) gives every ordered pair of different indices equally often (n = 2 … 12)", () => {
    for (let n = 2; n <= 12; n++) {
      const pairs = n * (n - 1)
      const per = 7
      const counts = new Map<number, number>()
      const steps = pairs * per
      for (let s = 0; s < steps; s++) {
        const u = (s + 0.5) / steps
        const i = sample.first(u, n)
        const key = i * n + sample.second(u, n, i)
        counts.set(key, (counts.get(key) ?? 0) + 1)
      }
      assert.strictEqual(counts.size, pairs, `n = ${n}`)
      for (const [key, count] of counts) assert.strictEqual(count, per, `n = ${n}, pair ${key}`)
    }
  })
})
