import { assert, describe, it } from "@effect/vitest"
import * as Budget from "@switchyard/core/Budget"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import * as budget from "../src/internal/budget.ts"
import { params } from "./seed.ts"

type Op =
  | { readonly kind: "deposit"; readonly times: number }
  | { readonly kind: "withdraw"; readonly times: number }
  | { readonly kind: "wait"; readonly ms: number }

/** Requests, retries and waits, with bursts so that both the floor and the deposits run out. */
const ops: fc.Arbitrary<ReadonlyArray<Op>> = fc.array(
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({ kind: fc.constant("deposit" as const), times: fc.integer({ min: 1, max: 40 }) })
    },
    {
      weight: 4,
      arbitrary: fc.record({ kind: fc.constant("withdraw" as const), times: fc.integer({ min: 1, max: 40 }) })
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant("wait" as const),
        ms: fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 130_000 }))
      })
    }
  ),
  { maxLength: 60 }
)

const options = fc.record({
  ttlMillis: fc.integer({ min: 1_000, max: 60_000 }),
  minPerSecond: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 20 }), fc.double({ min: 0, max: 20, noNaN: true })),
  percent: fc.oneof(fc.constant(0), fc.constant(0.2), fc.double({ min: 0, max: 3, noNaN: true }))
})

/**
 * The bound, evaluated in floating point: attempts beyond the requests (withdrawals) ≤
 * percent × requests + minPerSecond × (elapsed seconds + ttl seconds), the ttl term being the
 * reserve a fresh budget holds. The slack of 1e-9 only absorbs the rounding of this float
 * expression. The budget itself counts in integer micro-tokens and rounds down.
 */
const bound = (o: budget.Options, deposits: number, elapsedMs: number): number =>
  o.percent * deposits + (o.minPerSecond * (elapsedMs + o.ttlMillis)) / 1000 + 1e-9

/** The reserve a fresh budget holds: one window of the floor, in whole micro-tokens. */
const reserve = (o: budget.Options): number =>
  Math.floor((o.minPerSecond * budget.scale * o.ttlMillis) / 1000) / budget.scale

describe("internal/budget", () => {
  it("property: withdrawals never exceed percent × deposits + minPerSecond × (elapsed + ttl) seconds, credit left never exceeds the floor plus the last ttl's deposits, and a withdrawal is granted exactly when a whole token is there", () => {
    fc.assert(
      fc.property(options, ops, fc.integer({ min: 0, max: 2 ** 40 }), (o, sequence, start) => {
        const state = budget.make(o)
        let now = start
        let deposits = 0
        let withdrawals = 0
        const depositTimes: Array<number> = []
        // a fresh budget holds the reserve: one window of the floor
        assert.strictEqual(budget.balance(state, now), reserve(o))
        for (const op of sequence) {
          if (op.kind === "wait") now += op.ms
          else if (op.kind === "deposit") {
            for (let i = 0; i < op.times; i++) budget.deposit(state, now)
            deposits += op.times
            depositTimes.push(...Array.from({ length: op.times }, () => now))
          } else {
            for (let i = 0; i < op.times; i++) {
              const before = budget.balance(state, now)
              const granted = budget.tryWithdraw(state, now)
              assert.strictEqual(granted, before >= 1, `balance ${before}`)
              if (granted) withdrawals++
              assert.isAtLeast(budget.balance(state, now), 0)
            }
          }
          assert.isAtMost(withdrawals, bound(o, deposits, now - start))
          // credit expires: what is left never exceeds the floor plus the deposits of the last ttl
          const recent = depositTimes.filter((t) => t > now - o.ttlMillis).length
          assert.isAtMost(budget.balance(state, now), (o.minPerSecond * o.ttlMillis) / 1000 + o.percent * recent + 1e-9)
        }
        assert.strictEqual(state.withdrawals, withdrawals)
        assert.strictEqual(state.deposits, deposits)
      }),
      params(1000)
    )
  })

  it("Finagle's defaults: a fresh budget holds a window's 100 tokens; spent, the floor earns 10 a second back, up to 100", () => {
    const state = budget.make({ ttlMillis: 10_000, minPerSecond: 10, percent: 0.2 })
    for (let i = 0; i < 100; i++) assert.isTrue(budget.tryWithdraw(state, 0), `reserve token ${i}`)
    assert.isFalse(budget.tryWithdraw(state, 0))
    assert.isFalse(budget.tryWithdraw(state, 99))
    assert.isTrue(budget.tryWithdraw(state, 100))
    assert.strictEqual(budget.balance(state, 1000), 9)
    assert.strictEqual(budget.balance(state, 60_000), 100)
    let granted = 0
    while (budget.tryWithdraw(state, 60_000)) granted++
    assert.strictEqual(granted, 100)
    assert.strictEqual(state.refusals, 3)
  })

  it("five requests earn one retry at percent 0.2, with no floor", () => {
    const state = budget.make({ ttlMillis: 10_000, minPerSecond: 0, percent: 0.2 })
    for (let i = 0; i < 4; i++) budget.deposit(state, 0)
    assert.isFalse(budget.tryWithdraw(state, 0))
    budget.deposit(state, 0)
    assert.strictEqual(budget.balance(state, 0), 1)
    assert.isTrue(budget.tryWithdraw(state, 0))
    assert.isFalse(budget.tryWithdraw(state, 0))
  })

  it("deposits expire after ttl (at slice granularity): the balance falls back to the floor", () => {
    const state = budget.make({ ttlMillis: 10_000, minPerSecond: 1, percent: 1 })
    for (let i = 0; i < 50; i++) budget.deposit(state, 0)
    // the reserve (10) is a full window of the floor: it earns nothing more until spent
    assert.strictEqual(budget.balance(state, 0), 60)
    assert.strictEqual(budget.balance(state, 9_999), 60)
    assert.strictEqual(budget.balance(state, 10_000), 10)
    // spent credit is spent: the floor is earned again over time, the deposits never come back
    const spent = budget.make({ ttlMillis: 10_000, minPerSecond: 1, percent: 1 })
    for (let i = 0; i < 5; i++) budget.deposit(spent, 0)
    for (let i = 0; i < 15; i++) assert.isTrue(budget.tryWithdraw(spent, 0))
    assert.strictEqual(budget.balance(spent, 0), 0)
    assert.strictEqual(budget.balance(spent, 3_000), 3)
    assert.strictEqual(budget.balance(spent, 100_000), 10)
  })

  it("a clock that goes backwards changes nothing", () => {
    const state = budget.make({ ttlMillis: 10_000, minPerSecond: 0, percent: 1 })
    budget.deposit(state, 5_000)
    budget.deposit(state, 1_000)
    assert.strictEqual(budget.balance(state, 0), 2)
    assert.strictEqual(budget.balance(state, 15_000), 0)
  })
})

describe("Budget", () => {
  it.effect("defaults are Finagle's; a fresh budget holds 100 tokens, a retry right after make is granted, and spent tokens come back at 10 a second", () =>
    Effect.gen(function*() {
      const b = yield* Budget.make()
      assert.strictEqual(b.minRetriesPerSec, 10)
      assert.strictEqual(b.percentCanRetry, 0.2)
      assert.strictEqual(b.ttl.toString(), "10000 millis")
      assert.strictEqual(yield* b.balance, 100)
      yield* b.withdraw
      for (let i = 0; i < 99; i++) yield* b.withdraw
      assert.strictEqual(yield* b.balance, 0)
      assert.strictEqual((yield* Effect.flip(b.withdraw))._tag, "BudgetExhausted")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* b.balance, 10)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* b.balance, 100)
    }))

  it.effect("withdraw fails typed with the budget's numbers when no whole token is left, and spends nothing", () =>
    Effect.gen(function*() {
      const b = yield* Budget.make({ minRetriesPerSec: 0, percentCanRetry: 0.5 })
      yield* b.deposit
      const error = yield* Effect.flip(b.withdraw)
      assert.strictEqual(error._tag, "BudgetExhausted")
      assert.strictEqual(error.balance, 0.5)
      assert.include(error.message, "0.5 of the 1 token")
      assert.include(error.message, "0.5 per request plus 0 per second")
      assert.include(error.message, "10000 ms")
      assert.isFalse(yield* b.tryWithdraw)
      yield* b.deposit
      yield* b.withdraw
      assert.strictEqual(yield* b.balance, 0)
    }))

  it.effect("time comes from the Clock: credit expires when the TestClock passes ttl", () =>
    Effect.gen(function*() {
      const b = yield* Budget.make({ ttl: "2 seconds", minRetriesPerSec: 0, percentCanRetry: 1 })
      yield* b.deposit
      yield* b.deposit
      assert.strictEqual(yield* b.balance, 2)
      yield* TestClock.adjust("1999 millis")
      assert.strictEqual(yield* b.balance, 2)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* b.balance, 0)
    }))

  it.effect("invalid options fail make with an OptionError naming the option and value", () =>
    Effect.gen(function*() {
      const cases = [
        [{ ttl: "500 millis" }, "ttl", `"500 millis"`],
        [{ ttl: "2 minutes" }, "ttl", `"2 minutes"`],
        [{ ttl: "soon" as never }, "ttl", `"soon"`],
        [{ minRetriesPerSec: -1 }, "minRetriesPerSec", "-1"],
        [{ minRetriesPerSec: Infinity }, "minRetriesPerSec", "Infinity"],
        [{ percentCanRetry: 1001 }, "percentCanRetry", "1001"],
        [{ percentCanRetry: Number.NaN }, "percentCanRetry", "NaN"]
      ] as const
      for (const [options, option, value] of cases) {
        const error = yield* Effect.flip(Budget.make(options))
        assert.strictEqual(error._tag, "OptionError")
        assert.strictEqual(error.module, "budget")
        assert.strictEqual(error.option, option)
        assert.strictEqual(error.value, value)
        assert.include(error.message, option)
        assert.include(error.message, "invalid budget option")
      }
    }))

  it("property: through Effect's Clock too, withdrawals stay within percentCanRetry × requests + minRetriesPerSec × (elapsed + ttl) seconds", async () => {
    await fc.assert(
      fc.asyncProperty(options, ops, (o, sequence) =>
        Effect.runPromise(
          Effect.gen(function*() {
            const b = yield* Budget.make({
              ttl: o.ttlMillis,
              minRetriesPerSec: o.minPerSecond,
              percentCanRetry: o.percent
            })
            let elapsed = 0
            let deposits = 0
            let withdrawals = 0
            for (const op of sequence) {
              if (op.kind === "wait") {
                yield* TestClock.adjust(op.ms)
                elapsed += op.ms
              } else if (op.kind === "deposit") {
                for (let i = 0; i < op.times; i++) yield* b.deposit
                deposits += op.times
              } else {
                for (let i = 0; i < op.times; i++) {
                  const exit = yield* Effect.exit(b.withdraw)
                  if (exit._tag === "Success") withdrawals++
                }
              }
              assert.isAtMost(withdrawals, bound(o, deposits, elapsed))
            }
          }).pipe(Effect.provide(TestClock.layer()))
        )),
      params(300) // each run builds a TestClock layer; 300 runs keep this under a second
    )
  })
})
