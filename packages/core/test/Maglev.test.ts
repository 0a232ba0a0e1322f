import { assert, describe, it } from "@effect/vitest"
import { Endpoint, Maglev, Policy, RingHash } from "@switchyard/core"
import { Laws, TestPicker } from "@switchyard/core/testing"
import * as fc from "fast-check"
import * as canonical from "../src/internal/canonical.ts"
import * as hashing from "../src/internal/hash.ts"
import * as maglev from "../src/internal/maglev.ts"
import { endpointSet, ep, harness, spreadsEvenly, stableHashes, u32 } from "./harness.ts"
import { params } from "./seed.ts"

/** The address behind every table entry: `pick(firstHash(e))` reads entry e. */
const entries = (picker: Policy.Picker, size: number): Array<string> =>
  Array.from({ length: size }, (_, e) => picker.pick(maglev.firstHash(e, size))!.endpoint.address)

describe("Maglev", () => {
  it("table sizes: 65,537 up to 655 endpoints, then the next prime past each power of two ≥ 100·n up to 2^18, then ≥ 10·n", () => {
    assert.strictEqual(Maglev.defaultTableSize(0), 65537)
    assert.strictEqual(Maglev.defaultTableSize(655), 65537)
    assert.strictEqual(Maglev.defaultTableSize(656), 131101)
    assert.strictEqual(Maglev.defaultTableSize(2621), 262147)
    assert.strictEqual(Maglev.defaultTableSize(10_000), 262147)
    for (const n of [1, 100, 1000, 2621]) {
      const m = Maglev.defaultTableSize(n)
      assert.isTrue(maglev.isPrime(m) && m > 100 * n, `${m} for ${n}`)
    }
    assert.deepStrictEqual([2, 3, 4, 9, 65536].map(maglev.primeAtLeast), [2, 3, 5, 11, 65537])
  })

  it("the default table is bounded for large sets: 2^18 entries up to 26,214 endpoints, then the power of two ≥ 10·n, never fewer than 10 entries per endpoint, never shrinking as n grows", () => {
    // before: ≥ 100·n at every n, 16.8 million entries (and a 10 s build) for 100,000 endpoints
    assert.deepStrictEqual(
      [2622, 5000, 10_000, 26_214, 26_215, 50_000, 52_428, 52_429, 100_000].map(Maglev.defaultTableSize),
      [262147, 262147, 262147, 262147, 524309, 524309, 524309, 1048583, 1048583]
    )
    let previous = 0
    for (let n = 1; n <= 300_000; n += 1 + (n >> 6)) {
      const m = Maglev.defaultTableSize(n)
      if (!(m >= previous && maglev.isPrime(m) && m >= 10 * n && m <= Math.max(262147, maglev.primeAtLeast(20 * n)))) {
        assert.fail(`n = ${n}: ${m} (previous ${previous})`)
      }
      previous = m
    }
  })

  it("fills every entry, splits it evenly and reads entry ⌊hash · M / 2^32⌋", () => {
    const { picker } = harness(Maglev.make(), [ep(1), ep(2), ep(3)], TestPicker.seeded(1))
    const table = entries(picker, 65537)
    const counts = new Map<string, number>()
    for (const address of table) counts.set(address, (counts.get(address) ?? 0) + 1)
    assert.deepStrictEqual([...counts.values()].sort(), [21845, 21846, 21846])
    const key = RingHash.hash("user-42")
    const entry = Math.floor(key * 65537 / 4294967296)
    assert.strictEqual(picker.pick(key)!.endpoint.address, table[entry])
    // a run of ⌊2^32 / M⌋ or ⌈2^32 / M⌉ consecutive hashes reads the same entry
    for (const e of [0, 1, 4242, 65536]) {
      const first = maglev.firstHash(e, 65537)
      const next = e === 65536 ? 4294967296 : maglev.firstHash(e + 1, 65537)
      assert.include([65535, 65536], next - first)
      for (const h of [first, first + 1, next - 1]) assert.strictEqual(picker.pick(h)!.endpoint.address, table[e])
    }
    const explained = picker.explain(key)
    assert.strictEqual(explained.chosen, table[entry])
    assert.deepStrictEqual(explained.candidates.map((c) => c.score), [entry])
    assert.include(explained.note, "of a 65537-entry table")
    assert.isUndefined(harness(Maglev.make(), [], TestPicker.seeded(1)).picker.pick(key))
  })

  it("property: hash to entry (fastrange) is ⌊h · M / 2^32⌋ exactly up to M = 2^21, monotone, below M, and gives every entry ⌊2^32/M⌋ or ⌈2^32/M⌉ hashes", () => {
    // Exact boundaries from BigInt: entry e starts at ⌈e · 2^32 / M⌉. Up to 2^21 every sampled
    // boundary is exact and firstHash is it; above, the float product may move a boundary by one
    // hash (about 1 in 4 million at M ≈ 2^22), and firstHash is still where entry e starts.
    const exactFirst = (e: number, m: number) => Number((BigInt(e) * 4294967296n + BigInt(m) - 1n) / BigInt(m))
    /** The first boundary that breaks a rule, or undefined. */
    const check = (m: number, es: ReadonlyArray<number>, exact: boolean, viaBigInt: boolean): string | undefined => {
      const scale = maglev.scaleOf(m)
      if (maglev.entryOf(0, scale) !== 0 || maglev.entryOf(0xffffffff, scale) !== m - 1) return `M = ${m}: ends`
      const low = Math.floor(4294967296 / m)
      for (const e of es) {
        const first = maglev.firstHash(e, m)
        if (viaBigInt) {
          const exactly = exactFirst(e, m)
          if (exact ? first !== exactly : Math.abs(first - exactly) > 1) {
            return `M = ${m}, e = ${e}: ${first} ≠ ${exactly}`
          }
        }
        if (maglev.entryOf(first, scale) !== e || maglev.entryOf(first - 1, scale) !== e - 1) {
          return `M = ${m}, e = ${e}: the run does not start at firstHash ${first}`
        }
        const run = (e + 1 === m ? 4294967296 : maglev.firstHash(e + 1, m)) - first
        if (exact ? run !== low && run !== low + 1 : run < low - 1 || run > low + 2) {
          return `M = ${m}, e = ${e}: a run of ${run} hashes`
        }
      }
      return undefined
    }
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 2 ** 26 }),
        fc.array(fc.nat(), { minLength: 100, maxLength: 100 }),
        (m, samples) => {
          const prime = maglev.primeAtLeast(m)
          const es = samples.map((sample) => 1 + (sample % (prime - 1)))
          const failure = check(prime, es, prime <= 2 ** 21, true)
          if (failure !== undefined) assert.fail(failure)
        }
      ),
      params(1000)
    )
    // the default sizes, every boundary
    for (const m of [65537, 131101, 262147, 524309, 1048583]) {
      assert.isUndefined(check(m, Array.from({ length: m - 1 }, (_, e) => e + 1), true, false))
    }
  })

  it("at 10,000 and 100,000 endpoints of equal weight every endpoint holds ⌊M/n⌋ or ⌈M/n⌉ entries of the default table (26–27 and 10–11); with weights 1–10, within 2 + 2·weight/mean of its exact share", () => {
    const random = TestPicker.seeded(7)
    for (
      const [n, weighted, size] of [[10_000, false, 262147], [10_000, true, 262147], [100_000, false, 1048583]] as const
    ) {
      const endpoints = Array.from({ length: n }, (_, i) => ep(i, weighted ? 1 + (i * 7919) % 10 : 1))
      const h = harness(Maglev.make(), endpoints, random)
      assert.include(h.picker.explain(0).note, `of a ${size}-entry table`)
      const counts = new Int32Array(n)
      for (let e = 0; e < size; e++) counts[h.picker.pick(maglev.firstHash(e, size))!.index]!++
      const total = h.slots.reduce((sum, slot) => sum + slot.endpoint.weight, 0)
      for (const slot of h.slots) {
        const count = counts[slot.index]!
        const exact = (size * slot.endpoint.weight) / total
        const ok = weighted
          ? Math.abs(count - exact) <= 2 + (2 * n * slot.endpoint.weight) / total
          : count === Math.floor(size / n) || count === Math.ceil(size / n)
        if (!ok) {
          assert.fail(`n = ${n}: ${slot.endpoint.address} (weight ${slot.endpoint.weight}) holds ${count} of ${size}`)
        }
      }
    }
  })

  it("one removal or addition among 10,000 endpoints moves at most 12× the ideal 1/n of the keys, as with the 4× larger table used before (Maglev's extra movement grows with n, not as M shrinks)", () => {
    // measured over 40 random sets: 9.2× on average, at most 10.9×; 9.2× with M = 1,048,583 (module doc)
    const n = 10_000
    const size = Maglev.defaultTableSize(n)
    const random = TestPicker.seeded(3)
    const endpoints = Array.from({ length: n + 1 }, (_, i) => ep(4 * i + 1))
    const extra = endpoints.pop()!
    const base = entries(harness(Maglev.make(), endpoints, random).picker, size)
    for (const at of [0, 4321, 9999]) {
      const removed = endpoints[at]!.address
      const less = entries(harness(Maglev.make(), endpoints.filter((e) => e.address !== removed), random).picker, size)
      let moved = 0
      for (let e = 0; e < size; e++) if (less[e] !== base[e]) moved++
      const ratio = (moved / size) * n
      assert.isTrue(ratio >= 1 && ratio <= 12, `removing ${removed} moved ${ratio.toFixed(2)}× the ideal`)
    }
    const more = entries(harness(Maglev.make(), [...endpoints, extra], random).picker, size)
    let moved = 0
    for (let e = 0; e < size; e++) if (more[e] !== base[e]) moved++
    const ratio = (moved / size) * (n + 1)
    assert.isTrue(ratio >= 1 && ratio <= 12, `adding ${extra.address} moved ${ratio.toFixed(2)}× the ideal`)
  })

  it("property: a picker kept up to date through any batches of changes holds the same table as a fresh picker over the same set", () => {
    const batch = fc.record({
      removals: fc.array(fc.nat(), { maxLength: 4 }),
      updates: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 5 })), { maxLength: 3 }),
      additions: fc.integer({ min: 0, max: 4 })
    })
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 12 }),
        fc.array(batch, { minLength: 1, maxLength: 5 }),
        fc.integer(),
        (n, batches, seed) => {
          const policy = Maglev.make({ tableSize: 1009 })
          const random = TestPicker.seeded(seed)
          const h = harness(policy, Array.from({ length: n }, (_, i) => ep(i, 1 + (i % 3))), random)
          let nextId = n
          for (const b of batches) {
            for (const r of b.removals) if (h.slots.length > 0) h.remove(h.slots[r % h.slots.length]!.endpoint.address)
            for (const [u, w] of b.updates) {
              if (h.slots.length === 0) break
              h.update(Endpoint.makeUnsafe({ address: h.slots[u % h.slots.length]!.endpoint.address, weight: w }))
            }
            for (let a = 0; a < b.additions; a++) h.add(ep(nextId++, 1 + (nextId % 4)))
            h.picker.rebalanced()
            if (h.slots.length === 0) continue
            const fresh = harness(policy, [...h.endpoints()].reverse(), random)
            const kept = entries(h.picker, 1009)
            const built = entries(fresh.picker, 1009)
            for (let e = 0; e < 1009; e++) {
              if (kept[e] !== built[e]) assert.fail(`entry ${e}: ${kept[e]} after the changes, ${built[e]} built fresh`)
            }
          }
        }
      ),
      params(300)
    )
  })

  it("canonical order: the native sort of hash · 2^k + index gives the order of sortByHash (hash, then address), ties included", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ maxLength: 6 }), { minLength: 1, maxLength: 600 }),
        fc.integer({ min: 1, max: 50 }),
        (addresses, buckets) => {
          const n = addresses.length
          // few distinct hashes, so that many addresses share one
          const h1 = Uint32Array.from(addresses, (a) => (hashing.murmur3(a, 0) % buckets) * 0x9e3779b1)
          const expected = new Int32Array(n)
          hashing.sortByHash(expected, n, h1, addresses)
          const order = new Int32Array(n)
          canonical.sort(order, new Float64Array(n), n, h1, addresses)
          assert.deepStrictEqual(order, expected)
        }
      ),
      params(300)
    )
  })

  it("a pinned table size is rounded up to a prime", () => {
    const { picker } = harness(Maglev.make({ tableSize: 1000 }), [ep(1), ep(2)], TestPicker.seeded(1))
    assert.include(picker.explain(0).note, "of a 1009-entry table")
  })

  it("property: the equal-weight loop, the scan and the queue fill the same table; equal weights differ by at most one entry; weighted counts are within 2 + 2·weight/mean of the exact share", () => {
    const weights = fc.oneof(
      fc.array(fc.constant(1), { minLength: 1, maxLength: 20 }),
      fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 20 }),
      fc.array(fc.oneof(fc.constant(1), fc.constant(1000)), { minLength: 1, maxLength: 20 })
    )
    fc.assert(
      fc.property(
        weights,
        fc.array(u32, { minLength: 40, maxLength: 40 }),
        fc.nat({ max: 2000 }),
        (ws, hashes, extra) => {
          const n = ws.length
          const size = maglev.primeAtLeast(100 * n + extra)
          const input = {
            n,
            h1: hashes.slice(0, n),
            h2: hashes.slice(20, 20 + n),
            weights: ws,
            order: Int32Array.from(ws.keys())
          }
          const auto = maglev.make()
          const scan = maglev.make()
          const queue = maglev.make()
          maglev.build(auto, size, input)
          maglev.build(scan, size, input, "scan")
          maglev.build(queue, size, input, "queue")
          assert.deepStrictEqual(scan.entries, queue.entries)
          assert.deepStrictEqual(auto.entries, scan.entries)
          const counts = new Array<number>(n).fill(0)
          for (const owner of scan.entries) counts[owner]!++
          const total = ws.reduce((a, b) => a + b, 0)
          if (ws.every((w) => w === ws[0])) assert.isAtMost(Math.max(...counts) - Math.min(...counts), 1)
          // Envoy's rule: every endpoint lighter than the heaviest also plays round 1, so each is
          // within 2 + 2·weight/mean entries of its exact share (see internal/maglev)
          for (let i = 0; i < n; i++) {
            const bound = 2 + (2 * n * ws[i]!) / total
            assert.isAtMost(Math.abs(counts[i]! - (size * ws[i]!) / total), bound, `${counts} for ${ws}`)
          }
        }
      ),
      params(1000)
    )
  })

  it("property: weighted shares are within ±1% (absolute) of the weight shares, over the whole table", () => {
    // 100 runs: each builds and reads a 65,537-entry table
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 16 }),
        fc.integer(),
        (ws, seed) => {
          const h = harness(
            Maglev.make(),
            ws.map((w, i) => ep(i + Math.abs(seed % 1000) * 16, w)),
            TestPicker.seeded(seed)
          )
          const counts = new Int32Array(ws.length)
          for (let e = 0; e < 65537; e++) counts[h.picker.pick(maglev.firstHash(e, 65537))!.index]!++
          const total = ws.reduce((a, b) => a + b, 0)
          h.slots.forEach((slot) =>
            assert.approximately(counts[slot.index]! / 65537, slot.endpoint.weight / total, 0.01)
          )
        }
      ),
      params(100)
    )
  })

  it("property: the same hash gives the same endpoint while the set is unchanged, whatever order the set arrived in", () => {
    fc.assert(stableHashes(() => Maglev.make({ tableSize: 1009 })), params(1000))
  })

  it("property: the picker laws hold on a small table (any batch of changes: removed and absent endpoints are never picked; explain picks as pick does)", () => {
    for (const law of Laws.pickerProperties(() => Maglev.make({ tableSize: 1009 }))) {
      fc.assert(law.property, params(500))
    }
  })

  it("property: pick(-1) spreads over every endpoint (20,000 picks, each within ±15% of 1/n)", () => {
    // 50 runs: each builds a 65,537-entry table and picks 20,000 times
    fc.assert(spreadsEvenly(() => Maglev.make(), 0.15), params(50))
  })

  it("property: one removal or addition among 2 to 64 endpoints moves ≤ 2× the ideal 1/n of the keys (whole table and 20,000 random keys)", () => {
    // 30 runs: each builds three 65,537-entry tables and compares them entry by entry. The bound
    // is statistical: in 50,000 measured changes one moved 2.34× (two endpoints sharing a skip;
    // see the module docs), so a seed that fails here is worth a look but not necessarily a bug.
    let worst = 0
    fc.assert(
      fc.property(endpointSet(3, 65), fc.nat(), fc.integer(), (set, at, seed) => {
        const endpoints = [...set]
        const extra = endpoints.pop()!
        const n = endpoints.length
        const random = TestPicker.seeded(seed)
        const removed = endpoints[at % n]!.address
        const base = entries(harness(Maglev.make(), endpoints, random).picker, 65537)
        const less = entries(
          harness(Maglev.make(), endpoints.filter((e) => e.address !== removed), random).picker,
          65537
        )
        const more = entries(harness(Maglev.make(), [...endpoints, extra], random).picker, 65537)
        let entriesMovedOnRemoval = 0
        let entriesMovedOnAddition = 0
        for (let e = 0; e < 65537; e++) {
          if (less[e] !== base[e]) entriesMovedOnRemoval++
          if (more[e] !== base[e]) entriesMovedOnAddition++
        }
        let keysMovedOnRemoval = 0
        let keysMovedOnAddition = 0
        for (let j = 0; j < 20_000; j++) {
          const e = maglev.entryOf(Math.floor(random() * 4294967296), maglev.scaleOf(65537))
          if (less[e] !== base[e]) keysMovedOnRemoval++
          if (more[e] !== base[e]) keysMovedOnAddition++
        }
        const ratios = [
          (entriesMovedOnRemoval / 65537) * n,
          (entriesMovedOnAddition / 65537) * (n + 1),
          (keysMovedOnRemoval / 20_000) * n,
          (keysMovedOnAddition / 20_000) * (n + 1)
        ]
        worst = Math.max(worst, ...ratios)
        for (const ratio of ratios) assert.isAtMost(ratio, 2, `n = ${n}: moved ${ratios.join(", ")}× the ideal`)
        // and the new endpoint holds its even share of the table
        const held = more.filter((address) => address === extra.address).length
        assert.isAtMost(Math.abs(held - 65537 / (n + 1)), 1)
      }),
      params(30)
    )
    assert.isAtMost(worst, 2)
  })
})
