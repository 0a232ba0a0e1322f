/**
 * `Change.diff` against a plain Map-based diff, on 10,000 endpoints with 1.5% churn.
 *
 * Scenario (deterministic, xorshift32 seeded with 0x5eed):
 * - `prev`: 10,000 endpoints `10.a.b.c:port`, weight 1-10, tags `{ zone }` or `{ zone, version }`;
 * - `next`: a fresh decode of `prev` (new objects, as a discovery poll gives) where
 *   50 endpoints (0.5%) are removed, 50 (0.5%) are re-weighted (updated) and 50 new ones (0.5%)
 *   are appended. Order is otherwise kept.
 *
 * Both diffs run interleaved in one process (alternating which goes first), after a warm-up;
 * each sample times one diff. `Endpoint.dedupe(next)` alone is timed too, because `Change.diff`
 * merges duplicate addresses in `next` and the plain diff does not (there are none here).
 *
 * Run: `node bench/diff.ts`, `bun bench/diff.ts`, `deno run -A bench/diff.ts`.
 */
import { Change, Endpoint } from "@switchyard/core"
import * as os from "node:os"
import { runtime, xorshift32 } from "./shared.ts"

const size = 10_000
const churn = 50 // 0.5% of `size` each for removed, updated and added
const warmup = 300
const samples = 1_500
const target = 1.5

// -----------------------------------------------------------------------------
// data
// -----------------------------------------------------------------------------

const random = xorshift32(0x5eed)
const below = (n: number): number => random() % n

const zones = ["us-east-1a", "us-east-1b", "us-east-1c"] as const
const versions = ["v1", "v2"] as const
const usedAddresses = new Set<string>()

const freshInput = (): { address: string; weight: number; tags: Record<string, string> } => {
  let address: string
  do {
    address = `10.${below(256)}.${below(256)}.${1 + below(254)}:${8000 + below(100)}`
  } while (usedAddresses.has(address))
  usedAddresses.add(address)
  const tags: Record<string, string> = { zone: zones[below(zones.length)]! }
  if (below(2) === 0) tags["version"] = versions[below(versions.length)]!
  return { address, weight: 1 + below(10), tags }
}

const inputs = Array.from({ length: size }, freshInput)
const prev = inputs.map((input) => Endpoint.makeUnsafe(input))

// Pick 2 * churn distinct positions: the first `churn` are removed, the next `churn` re-weighted.
const positions = new Set<number>()
while (positions.size < 2 * churn) positions.add(below(size))
const picked = Array.from(positions)
const removedAt = new Set(picked.slice(0, churn))
const updatedAt = new Set(picked.slice(churn))

const nextInputs: Array<{ address: string; weight: number; tags: Record<string, string> }> = []
inputs.forEach((input, i) => {
  if (removedAt.has(i)) return
  const weight = updatedAt.has(i) ? 1 + ((input.weight - 1 + 1 + below(9)) % 10) : input.weight
  nextInputs.push({ address: input.address, weight, tags: { ...input.tags } })
})
const addedInputs = Array.from({ length: churn }, freshInput)
nextInputs.push(...addedInputs)
const next = nextInputs.map((input) => Endpoint.makeUnsafe(input))

const expected = {
  added: addedInputs.map((input) => input.address),
  updated: [...updatedAt].map((i) => inputs[i]!.address),
  removed: [...removedAt].map((i) => inputs[i]!.address)
}

// -----------------------------------------------------------------------------
// the plain diff
// -----------------------------------------------------------------------------

interface PlainChange {
  readonly added: Array<Endpoint.Endpoint>
  readonly updated: Array<Endpoint.Endpoint>
  readonly removed: Array<Endpoint.Endpoint>
}

const sameTags = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean => {
  let count = 0
  for (const key in a) {
    if (a[key] !== b[key]) return false
    count++
  }
  for (const _ in b) count--
  return count === 0
}

const plainDiff = (
  before: ReadonlyArray<Endpoint.Endpoint>,
  after: ReadonlyArray<Endpoint.Endpoint>
): PlainChange => {
  const old = new Map<string, Endpoint.Endpoint>()
  for (const endpoint of before) old.set(endpoint.address, endpoint)
  const added: Array<Endpoint.Endpoint> = []
  const updated: Array<Endpoint.Endpoint> = []
  for (const endpoint of after) {
    const was = old.get(endpoint.address)
    if (was === undefined) {
      added.push(endpoint)
      continue
    }
    old.delete(endpoint.address)
    if (
      was.weight !== endpoint.weight || was.zone !== endpoint.zone || was.priority !== endpoint.priority ||
      !sameTags(was.tags, endpoint.tags)
    ) {
      updated.push(endpoint)
    }
  }
  return { added, updated, removed: Array.from(old.values()) }
}

// -----------------------------------------------------------------------------
// check both agree before timing anything
// -----------------------------------------------------------------------------

const addresses = (endpoints: ReadonlyArray<Endpoint.Endpoint>): string =>
  endpoints.map((e) => e.address).sort().join(",")

const ours = Change.diff(prev, next, { key: "bench" })
const plain = plainDiff(prev, next)
for (const part of ["added", "updated", "removed"] as const) {
  const want = [...expected[part]].sort().join(",")
  if (addresses(ours[part]) !== want || addresses(plain[part]) !== want) {
    throw new Error(
      `the diffs disagree on ${part}: Change.diff has ${ours[part].length}, the plain diff ${
        plain[part].length
      }, the scenario ${expected[part].length}`
    )
  }
}

// -----------------------------------------------------------------------------
// timing
// -----------------------------------------------------------------------------

let sink = 0
const cases = [
  { name: "Change.diff", run: () => Change.diff(prev, next, { key: "bench" }) },
  { name: "plain Map diff", run: () => plainDiff(prev, next) },
  { name: "(Endpoint.dedupe alone)", run: () => ({ added: Endpoint.dedupe(next), updated: [], removed: [] }) }
] as const
const times = cases.map(() => new Array<number>(samples))

const once = (c: (typeof cases)[number]): number => {
  const start = performance.now()
  const change = c.run()
  const elapsed = performance.now() - start
  sink += change.added.length + change.updated.length + change.removed.length
  return elapsed * 1000
}

for (let i = 0; i < warmup; i++) for (const c of cases) once(c)
for (let i = 0; i < samples; i++) {
  // Rotate the order every round so no case always runs right after another's garbage.
  for (let k = 0; k < cases.length; k++) {
    const j = (i + k) % cases.length
    times[j]![i] = once(cases[j]!)
  }
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!

const stats = times.map((t) => {
  const sorted = [...t].sort((a, b) => a - b)
  return { median: percentile(sorted, 0.5), p90: percentile(sorted, 0.9) }
})

console.log(`runtime: ${runtime()} on ${os.cpus()[0]?.model ?? "unknown cpu"} (${os.cpus().length} cpus)`)
console.log(
  `scenario: ${size} endpoints; next removes ${churn}, re-weights ${churn}, adds ${churn} ` +
    `(${(100 * churn / size).toFixed(1)}% each); ${warmup} warm-up + ${samples} interleaved samples per case`
)
const width = Math.max(...cases.map((c) => c.name.length))
cases.forEach((c, i) => {
  const s = stats[i]!
  console.log(
    `  ${c.name.padEnd(width)}  median ${s.median.toFixed(1).padStart(7)} µs   p90 ${s.p90.toFixed(1).padStart(7)} µs`
  )
})
const ratio = stats[0]!.median / stats[1]!.median
const ratio90 = stats[0]!.p90 / stats[1]!.p90
console.log(
  `ratio Change.diff / plain: median ${ratio.toFixed(2)}x, p90 ${ratio90.toFixed(2)}x ` +
    `(target <= ${target}x: ${ratio <= target ? "met" : "MISSED"})`
)
if (sink === 0) console.log("(no work?)")
