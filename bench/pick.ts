/**
 * Pickers against plain-JS limits, against peer libraries, the Effect-level pick, and rebalancing.
 *
 * 1. ns/pick at N = 3, 100 and 10,000 endpoints for our pickers driven through the real `Policy`
 *    contract (`policy.make({ slots, random, now })`, `picker.pick(hash)`), next to plain-JS
 *    limits written here: RR index, two-counter P2C, P2C peak-EWMA, stride scheduler, alias table, ring
 *    binary search (sorted `Uint32Array`) and Maglev table lookup (`Int32Array`, entry
 *    `(hash * (M / 2^32)) | 0`, the mapping Maglev uses).
 *    Our random pickers run twice: with `() => Math.random()` (the same source the plain limits
 *    use) and with effect's seeded `Random` (ISAAC, `Random.withSeed(1)`, `.nextDoubleUnsafe()`).
 *    And what users call, `balancer.pickUnsafe()` of a real `Balancer.makeWith({ policy })`, for
 *    RoundRobin, LeastPending, PeakEwma, WeightedRoundRobin, Maglev and ShortestExpectedDelay (the
 *    last against plain P2C, its bound scaled by the `min(n, 5)` candidates it examines). The plain
 *    limits are bare closures, inlined whole into the bench loop by every runtime: a floor that no
 *    library behind an interface reaches, kept as it is so the ratios stay comparable over time.
 * 2. Peers (devDependencies of bench/package.json): the picker of @grpc/grpc-js's `round_robin`,
 *    undici's `BalancedPool` upstream selection (`[kGetDispatcher]()`; idle as built, idle with
 *    weights 10-100, and saturated: every upstream but one marked busy through its `needDrain`
 *    field, so the selection walks all N), load-balancers' `P2cBalancer` and effect's
 *    `HashRing.get`.
 * 3. `yield* balancer.pick` inside a running `Effect.gen` loop versus `yield* Effect.sync(...)`;
 *    and `yield* balancer.use(f)` (metrics on) versus a bare `Effect.acquireUseRelease` of `f`.
 * 4. `balancer.apply` of a 1% churn at 10,000 endpoints versus a full rebuild.
 *
 * Every policy is imported statically, so `tsc` checks this file with the rest.
 *
 * Method: every case runs in batches timed with `performance.now()`; each batch is calibrated to
 * about `SAMPLE_MS`. After a warm-up, all cases of one N run interleaved, round by round, with the
 * starting case rotated each round. A ratio is the median over rounds of the per-round ratio, so
 * slow drift of the machine cancels. Each case's hot loop is compiled separately
 * (`new Function`), so one call site never sees two pickers and turns polymorphic.
 *
 * Run: `sh scripts/node24.sh bench/pick.ts`, `bun bench/pick.ts`, `deno run -A bench/pick.ts`.
 * `PICK_QUICK=1` runs fewer samples (for a smoke test).
 */
import * as grpc from "@grpc/grpc-js"
import { BunServices } from "@switchyard/adapter-bun"
import { NodeServices } from "@switchyard/adapter-node"
import {
  Balancer,
  Change,
  Endpoint,
  LeastPending,
  Maglev,
  PeakEwma,
  Policy,
  RingHash,
  RoundRobin,
  ShortestExpectedDelay,
  WeightedRandom,
  WeightedRoundRobin
} from "@switchyard/core"
import { Effect, HashRing, PrimaryKey, Random } from "effect"
import { P2cBalancer } from "load-balancers"
import { createRequire } from "node:module"
import * as os from "node:os"
import process from "node:process"
import { runtime, xorshift32 } from "./shared.ts"

// Bun answers the bare specifier "undici" with a built-in stub (its BalancedPool selects nothing),
// so load the package's own entry file.
const undici = createRequire(import.meta.url)("undici/index.js") as typeof import("undici")

const quick = process.env["PICK_QUICK"] === "1"
const sizes = (process.env["PICK_SIZES"] ?? "3,100,10000").split(",").map(Number)
/** Only the cases whose name matches (for investigating one picker); every case by default. */
const only = new RegExp(process.env["PICK_ONLY"] ?? "")
const SAMPLE_MS = quick ? 0.5 : 1
const warmupRounds = quick ? 3 : 10
const rounds = quick ? 30 : 200
const keyCount = 4096 // request hashes / keys cycled through by the hash-based cases

// -----------------------------------------------------------------------------
// data (deterministic)
// -----------------------------------------------------------------------------

const rand = xorshift32(0x5eed)
const below = (n: number): number => rand() % n

const T = 1_000_000 // the `now` of every picker, in ms
const TAU = 10_000 // PeakEwma's default decay (10 s)
const FALLBACK = 30 // PeakEwma's default latency for unmeasured endpoints (30 ms)

const usedAddresses = new Set<string>()
const freshEndpoint = (): Endpoint.Endpoint => {
  let address: string
  do {
    address = `10.${below(256)}.${below(256)}.${1 + below(254)}:${8000 + below(100)}`
  } while (usedAddresses.has(address))
  usedAddresses.add(address)
  return Endpoint.makeUnsafe({ address, weight: 1 + below(10) })
}

const allEndpoints = Array.from({ length: 10_000 }, freshEndpoint)
const keys = Array.from({ length: keyCount }, (_, i) => `session-${i}-${rand().toString(36)}`)
const hashes = Uint32Array.from({ length: keyCount }, () => rand())

/** Slots for the first n endpoints with some load: pending 0-3, latency 5-25 ms sampled 0-5 s ago. */
const makeSlots = (n: number): Array<Policy.Slot> => {
  const r = xorshift32(0xc0ffee + n)
  return allEndpoints.slice(0, n).map((endpoint, index) => {
    const slot = Policy.makeSlot(endpoint)
    slot.index = index
    slot.pending = r() % 4
    slot.latency = 5 + (r() % 2000) / 100
    slot.stamp = T - (r() % 5000)
    return slot
  })
}

const notes: Array<string> = []

// -----------------------------------------------------------------------------
// plain-JS limits
// -----------------------------------------------------------------------------

type Pick = (hash: number) => Policy.Slot | undefined

/** Round robin: one index over an array. */
const plainRR = (slots: ReadonlyArray<Policy.Slot>): Pick => {
  const n = slots.length
  let i = -1
  return () => slots[i = (i + 1) % n]
}

/** Two random samples (two Math.random() calls); fewer pending wins. */
const plainP2C = (slots: ReadonlyArray<Policy.Slot>): Pick => {
  const n = slots.length
  return () => {
    const a = slots[(Math.random() * n) | 0]!
    const b = slots[(Math.random() * n) | 0]!
    return b.pending < a.pending ? b : a
  }
}

/** Two random samples; lower decayed latency × (pending + 1) wins. */
const plainP2CEwma = (slots: ReadonlyArray<Policy.Slot>, now: () => number): Pick => {
  const n = slots.length
  const cost = (s: Policy.Slot, t: number): number =>
    (s.latency < 0 ? FALLBACK : s.latency * Math.exp(-Math.max(t - s.stamp, 0) / TAU)) * (s.pending + 1)
  return () => {
    const a = slots[(Math.random() * n) | 0]!
    const b = slots[(Math.random() * n) | 0]!
    const t = now()
    return cost(b, t) < cost(a, t) ? b : a
  }
}

/**
 * A static stride scheduler (gRFC A58) over the slots in order, with no split: each probe adds the
 * weight to a credit and the slot whose credit reaches the largest weight is picked (O(1) expected:
 * `n · max / Σweight` probes per pick, 1.8 for weights 1-10).
 */
const plainStride = (slots: ReadonlyArray<Policy.Slot>): Pick => {
  const n = slots.length
  const weights = Int32Array.from(slots, (slot) => slot.endpoint.weight)
  const max = Math.max(...weights)
  const credits = Int32Array.from(slots, (_, i) => Math.floor(((i * 0.618034) % 1) * max) - max)
  let i = 0
  return () => {
    for (;;) {
      const j = i
      i = i + 1 === n ? 0 : i + 1
      const credit = credits[j]! + weights[j]!
      if (credit >= 0) {
        credits[j] = credit - max
        return slots[j]
      }
      credits[j] = credit
    }
  }
}

/** Weighted random by Vose's alias table: one random number, one comparison (O(1)). */
const plainAlias = (slots: ReadonlyArray<Policy.Slot>): Pick => {
  const n = slots.length
  const total = slots.reduce((sum, s) => sum + s.endpoint.weight, 0)
  const prob = new Float64Array(n)
  const alias = new Int32Array(n)
  const scaled = slots.map((s) => (s.endpoint.weight * n) / total)
  const small: Array<number> = []
  const large: Array<number> = []
  scaled.forEach((p, i) => (p < 1 ? small : large).push(i))
  while (small.length > 0 && large.length > 0) {
    const s = small.pop()!
    const l = large.pop()!
    prob[s] = scaled[s]!
    alias[s] = l
    scaled[l] = scaled[l]! + scaled[s]! - 1
    ;(scaled[l]! < 1 ? small : large).push(l)
  }
  for (const i of [...small, ...large]) prob[i] = 1
  return () => {
    const u = Math.random() * n
    const i = u | 0
    return slots[u - i < prob[i]! ? i : alias[i]!]
  }
}

/** Ring lookup: binary search for the first point ≥ hash in a sorted Uint32Array, wrapping. */
const plainRing = (slots: ReadonlyArray<Policy.Slot>, size: number): Pick => {
  const r = xorshift32(0x1234 + slots.length)
  const points = Uint32Array.from({ length: size }, () => r())
  points.sort()
  const owners = Int32Array.from({ length: size }, () => r() % slots.length)
  return (hash) => {
    let lo = 0
    let hi = size
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (points[mid]! < hash) lo = mid + 1
      else hi = mid
    }
    return slots[owners[lo === size ? 0 : lo]!]
  }
}

/**
 * Maglev lookup: `table[⌊hash · M / 2^32⌋]`, computed as `(hash * scale) | 0` with
 * `scale = M / 2^32`: the hash-to-entry map Maglev uses (multiply-shift "fastrange"), so the
 * comparison is like for like.
 */
const plainMaglev = (slots: ReadonlyArray<Policy.Slot>, size: number): Pick => {
  const r = xorshift32(0x4321 + slots.length)
  const table = Int32Array.from({ length: size }, () => r() % slots.length)
  const scale = size / 4294967296
  return (hash) => slots[table[(hash * scale) | 0]!]
}

/**
 * Points on the plain ring: as many as RingHash builds by default, min(n · vnodes, max ring size)
 * (read from the module when it exists; 1024 and 2^18 otherwise).
 */
const ringSize = (n: number): number =>
  Math.min(n * (RingHash?.defaultVnodes ?? 1024), RingHash?.defaultMaxRingSize ?? 262_144)
/** Maglev table size: Maglev's own default for n endpoints, so the plain limit looks up a table as large. */
const maglevSize = (n: number): number => Maglev.defaultTableSize(n)

// -----------------------------------------------------------------------------
// peers
// -----------------------------------------------------------------------------

/** grpc-js round_robin: a ChildLoadBalancerHandler with a fake channel helper and READY fake subchannels. */
const grpcRoundRobin = (n: number): { readonly pick: () => unknown } => {
  let id = 0
  const fakeSubchannel = (address: string) => {
    const self = {
      getConnectivityState: () => grpc.connectivityState.READY,
      addConnectivityStateListener: () => {},
      removeConnectivityStateListener: () => {},
      startConnecting: () => {},
      getAddress: () => address,
      throttleKeepalive: () => {},
      ref: () => {},
      unref: () => {},
      getChannelzRef: () => ({ kind: "subchannel", id: ++id, name: address }),
      isHealthy: () => true,
      addHealthStateWatcher: () => {},
      removeHealthStateWatcher: () => {},
      addDataWatcher: () => {},
      realSubchannelEquals: (other: unknown) => other === self
    }
    return self
  }
  let picker: grpc.experimental.Picker | undefined
  let state: grpc.connectivityState | undefined
  const helper = {
    createSubchannel: (address: grpc.experimental.SubchannelAddress) =>
      fakeSubchannel(grpc.experimental.subchannelAddressToString(address)),
    updateState: (s: grpc.connectivityState, p: grpc.experimental.Picker) => {
      state = s
      picker = p
    },
    requestReresolution: () => {},
    addChannelzChild: () => {},
    removeChannelzChild: () => {}
  } as unknown as grpc.experimental.ChannelControlHelper
  const handler = new grpc.experimental.ChildLoadBalancerHandler(helper)
  const endpoints = Array.from({ length: n }, (_, i) => ({ addresses: [{ host: "127.0.0.1", port: 20_000 + i }] }))
  handler.updateAddressList(
    grpc.experimental.statusOrFromValue(endpoints),
    grpc.experimental.parseLoadBalancingConfig({ round_robin: {} }),
    {},
    ""
  )
  if (state !== grpc.connectivityState.READY || picker === undefined) throw new Error("grpc-js round_robin not READY")
  const ready = picker
  const args = { metadata: new grpc.Metadata(), extraPickInfo: {} }
  if (ready.pick(args).subchannel === null) throw new Error("grpc-js picker picked nothing")
  return { pick: () => ready.pick(args) }
}

interface UndiciPeer {
  readonly pick: () => unknown
  /** Idle, as constructed: every upstream weight 100, none busy. */
  readonly uniform: () => void
  /** Idle, weights 10-100. */
  readonly weighted: () => void
  /** Weights 100, every upstream but one busy (`needDrain`). */
  readonly saturated: () => void
  readonly close: () => Promise<void>
}

/** undici BalancedPool over n never-connected 127.0.0.1 upstreams; selection is `[kGetDispatcher]()`. */
const undiciBalancedPool = (n: number, weights: ReadonlyArray<number>): UndiciPeer => {
  const pool = new undici.BalancedPool(Array.from({ length: n }, (_, i) => `http://127.0.0.1:${20_000 + i}`))
  const symbolOf = (target: object, description: string): symbol => {
    for (let o: object | null = target; o !== null; o = Object.getPrototypeOf(o) as object | null) {
      const found = Object.getOwnPropertySymbols(o).find((s) => s.description === description)
      if (found !== undefined) return found
    }
    throw new Error(`undici: no symbol ${description}`)
  }
  const p = pool as unknown as Record<symbol, unknown> & { _updateBalancedPoolStats: () => void }
  const kGetDispatcher = symbolOf(pool, "get dispatcher")
  const clients = p[symbolOf(pool, "clients")] as Array<Record<symbol, number>>
  const kWeight = symbolOf(clients[0]!, "kWeight")
  // PoolBase's `[kNeedDrain]` class field (undici/lib/dispatcher/pool-base.js): an own property of
  // each upstream pool, true while the pool cannot take another request; selection skips it.
  const kNeedDrain = Object.getOwnPropertySymbols(clients[0]!).find((s) => s.description === "needDrain")
  if (kNeedDrain === undefined) throw new Error("undici: no needDrain symbol on an upstream pool")
  for (const client of clients) {
    if (!Object.getOwnPropertySymbols(client).includes(kNeedDrain)) {
      throw new Error("undici: an upstream has no needDrain")
    }
  }
  const get = (p[kGetDispatcher] as () => unknown).bind(pool)
  if (get() === undefined) throw new Error("undici BalancedPool selected nothing")
  const free = n >> 1
  const setState = (weight: (i: number) => number, busy: boolean) => {
    clients.forEach((client, i) => {
      client[kWeight] = weight(i)
      ;(client as Record<symbol, unknown>)[kNeedDrain] = busy && i !== free
    })
    p._updateBalancedPoolStats()
  }
  setState(() => 100, true)
  if (get() !== clients[free] || get() !== clients[free]) {
    throw new Error("undici: saturated selection is not the free upstream")
  }
  setState(() => 100, false)
  return {
    pick: get,
    // As constructed (and while every upstream is healthy): every weight is maxWeightPerServer (100).
    uniform: () => setState(() => 100, false),
    // Weights 10-100 (our endpoints' 1-10 × 10), as its error penalties would leave them.
    weighted: () => setState((i) => weights[i]! * 10, false),
    // Every upstream but one has as many requests as it takes: the selection loop walks all N.
    saturated: () => setState(() => 100, true),
    close: () => {
      setState(() => 100, false)
      return pool.destroy()
    }
  }
}

/** effect HashRing over n nodes (128 points each, its default). */
const effectHashRing = (n: number) => {
  class Node implements PrimaryKey.PrimaryKey {
    readonly address: string
    constructor(address: string) {
      this.address = address
    }
    [PrimaryKey.symbol](): string {
      return this.address
    }
  }
  return HashRing.addMany(HashRing.make<Node>(), allEndpoints.slice(0, n).map((e) => new Node(e.address)))
}

// -----------------------------------------------------------------------------
// measurement
// -----------------------------------------------------------------------------

type Run = (iterations: number) => number

/**
 * A timing loop of its own (a fresh function, so its call site stays monomorphic) that evaluates
 * `call` once per iteration `k`; `bindings` are its free variables, besides `hashes` and `keys`.
 */
const compile = (call: string, bindings: Record<string, unknown>): Run => {
  const all: Record<string, unknown> = { hashes, keys, ...bindings }
  const names = Object.keys(all)
  const factory = new Function(
    ...names,
    `"use strict"
return function run(n) {
  let s = 0
  for (let k = 0; k < n; k++) {
    const x = ${call}
    if (x === undefined) s++
  }
  return s
}`
  ) as (...args: Array<unknown>) => Run
  return factory(...names.map((name) => all[name]))
}

interface Case {
  readonly name: string
  readonly run: Run
  /** Untimed, before each sample. */
  readonly prepare?: (() => void) | undefined
  iterations: number
  readonly samples: Array<number> // ns per pick, one per round
}

const makeCase = (name: string, run: Run, prepare?: () => void): Case => ({
  name,
  run,
  prepare,
  iterations: 1,
  samples: []
})

let sink = 0
const timeOnce = (c: Case, iterations: number): number => {
  c.prepare?.()
  // An untimed quarter batch first, so the case starts on its own data in cache whatever ran
  // before it (at 10,000 endpoints a cold start would otherwise weigh as much as the picks).
  sink += c.run(Math.max(1, iterations >> 2))
  const start = performance.now()
  sink += c.run(iterations)
  return (performance.now() - start) * 1e6 / iterations
}

const calibrate = (c: Case, ms: number): void => {
  let n = 8
  while (true) {
    c.prepare?.()
    const start = performance.now()
    sink += c.run(n)
    const elapsed = performance.now() - start
    if (elapsed >= ms / 4 || n >= 1 << 26) {
      c.iterations = Math.max(1, Math.round((n * ms) / Math.max(elapsed, 1e-3)))
      return
    }
    n *= 2
  }
}

/** The cases in a fresh (seeded) random order each round, so no case always follows the same one. */
const runInterleaved = (cases: ReadonlyArray<Case>): void => {
  const shuffle = xorshift32(0x0d3e + cases.length)
  const order = cases.map((_, i) => i)
  const reshuffle = () => {
    for (let i = order.length - 1; i > 0; i--) {
      const j = shuffle() % (i + 1)
      const t = order[i]!
      order[i] = order[j]!
      order[j] = t
    }
  }
  for (const c of cases) calibrate(c, SAMPLE_MS)
  for (let r = 0; r < warmupRounds; r++) for (const c of cases) timeOnce(c, c.iterations)
  for (const c of cases) calibrate(c, SAMPLE_MS) // again, now that everything is optimized
  for (let r = 0; r < rounds; r++) {
    reshuffle()
    for (const i of order) cases[i]!.samples.push(timeOnce(cases[i]!, cases[i]!.iterations))
  }
}

const median = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
const quantile = (values: ReadonlyArray<number>, q: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}
/** Median over rounds of a.samples[r] / b.samples[r]. */
const ratio = (a: Case, b: Case): number => median(a.samples.map((x, r) => x / b.samples[r]!))

const fmtNs = (ns: number): string =>
  ns >= 1e6
    ? `${(ns / 1e6).toFixed(2)} ms`
    : ns >= 1e3
    ? `${(ns / 1e3).toFixed(2)} µs`
    : `${ns.toFixed(ns < 10 ? 2 : 1)} ns`
const fmtX = (x: number): string =>
  x >= 100 ? `${x.toFixed(0)}×` : x >= 10 ? `${x.toFixed(1)}×` : x >= 0.01 ? `${x.toFixed(2)}×` : `${x.toPrecision(2)}×`

interface Target {
  readonly what: string
  readonly value: string
  readonly met: boolean
}
const targets: Array<Target> = []
const target = (what: string, value: string, met: boolean): void => {
  if (value.includes("NaN")) return // a case was filtered out with PICK_ONLY
  targets.push({ what, value, met })
  console.log(`  target ${met ? "met   " : "MISSED"}  ${what}: ${value}`)
}

// -----------------------------------------------------------------------------
// 1 + 2: ns/pick per N
// -----------------------------------------------------------------------------

console.log(`runtime: ${runtime()} on ${os.cpus()[0]?.model ?? "unknown cpu"} (${os.cpus().length} cpus)`)
console.log(
  `method: batches of ~${SAMPLE_MS} ms per sample, ${warmupRounds} warm-up + ${rounds} interleaved rounds; ` +
    `medians; a ratio is the median of per-round ratios (ours / other, < 1 = ours faster)`
)
console.log(
  "random: \"Math.random\" rows give our pickers `random: () => Math.random()` (the plain limits call Math.random too); " +
    "\"effect Random\" rows use Random.withSeed(1) (ISAAC) `.nextDoubleUnsafe()`. The Balancer passes " +
    "`() => random.nextDoubleUnsafe()` of the fiber's Random service: Math.random by default, ISAAC under withSeed."
)
for (const note of notes) console.log(`note: ${note}`)

const isaac = (): () => number => {
  const r = Effect.runSync(Random.Random.pipe(Random.withSeed(1)))
  return () => r.nextDoubleUnsafe()
}
const mathRandom = () => Math.random()
const now = () => T

const ringHashOf = RingHash?.hash

// V8 (and JSC) specialize a closure's optimized code on its captured context only while its
// function literal has made a single closure. Make two of each of our pickers and of the plain
// limits up front, so that no case gets that bonus for being the first one made: every case runs as
// in a program with several balancers.
{
  const few = makeSlots(3)
  const extra = [WeightedRoundRobin, WeightedRandom, RingHash, Maglev].flatMap((
    m
  ) => (m === undefined ? [] : [m.make()]))
  for (let i = 0; i < 2; i++) {
    for (const make of [plainRR, plainP2C, plainStride, plainAlias]) make(few)
    plainP2CEwma(few, now)
    plainRing(few, 1024)
    plainMaglev(few, 65_537)
    for (const policy of [RoundRobin.make(), LeastPending.make(), PeakEwma.make(), ...extra]) {
      policy.make({ slots: few, random: mathRandom, now })
    }
    // and two balancers of each policy measured through one: a built-in picker brings its own
    // `pickUnsafe`, a function literal that only balancers instantiate
    for (
      const policy of [
        RoundRobin.make(),
        LeastPending.make(),
        PeakEwma.make(),
        WeightedRoundRobin.make(),
        Maglev.make(),
        ShortestExpectedDelay.make()
      ]
    ) {
      const b = Effect.runSync(Balancer.makeWith({ policy }))
      Effect.runSync(b.apply(Change.diff([], few.map((slot) => slot.endpoint))))
      b.pickUnsafe()
    }
  }
}

for (const n of sizes) {
  const slots = makeSlots(n)
  // Each picker gets its own copies of the slots, fed as the Balancer feeds them: push, `added`,
  // then one `rebalanced`.
  const picker = (policy: Policy.Policy, random: () => number): Policy.Picker => {
    const own: Array<Policy.Slot> = []
    const p = policy.make({ slots: own, random, now })
    for (const slot of slots) {
      const copy = { ...slot, index: own.length }
      own.push(copy)
      p.added(copy)
    }
    p.rebalanced()
    return p
  }

  // plain limits, each on its own copies of the slots (no case warms the cache for another)
  const copy = (): Array<Policy.Slot> => slots.map((slot) => ({ ...slot }))
  const plain = {
    rr: makeCase("plain RR (i = (i+1) % n)", compile("t(-1)", { t: plainRR(copy()) })),
    p2c: makeCase("plain P2C (2 × Math.random)", compile("t(-1)", { t: plainP2C(copy()) })),
    ewma: makeCase("plain P2C peak-EWMA", compile("t(-1)", { t: plainP2CEwma(copy(), now) })),
    stride: makeCase("plain stride scheduler", compile("t(-1)", { t: plainStride(copy()) })),
    alias: makeCase("plain alias table", compile("t(-1)", { t: plainAlias(copy()) })),
    ring: makeCase(
      `plain ring search (${ringSize(n)} pts)`,
      compile("t(hashes[k & 4095])", { t: plainRing(copy(), ringSize(n)) })
    ),
    maglev: makeCase(
      `plain Maglev table (M=${maglevSize(n)})`,
      compile("t(hashes[k & 4095])", { t: plainMaglev(copy(), maglevSize(n)) })
    )
  }

  // peers
  const grpcRR = grpcRoundRobin(n)
  const undiciStart = performance.now()
  const undiciPool = undiciBalancedPool(n, slots.map((s) => s.endpoint.weight))
  const undiciBuild = performance.now() - undiciStart
  const hashRingStart = performance.now()
  const hashRing = effectHashRing(n)
  const hashRingBuild = performance.now() - hashRingStart
  const lbP2c = new P2cBalancer(n)
  const peer = {
    grpc: makeCase("grpc-js round_robin picker", compile("t.pick()", { t: grpcRR })),
    undici: makeCase(
      "undici BalancedPool (idle, as built)",
      compile("t.pick()", { t: undiciPool }),
      undiciPool.uniform
    ),
    undiciW: makeCase(
      "undici BalancedPool (idle, weights 10-100)",
      compile("t.pick()", { t: undiciPool }),
      undiciPool.weighted
    ),
    undiciS: makeCase(
      `undici BalancedPool (saturated: ${n - 1} of ${n} busy)`,
      compile("t.pick()", { t: undiciPool }),
      undiciPool.saturated
    ),
    lb: makeCase("load-balancers P2cBalancer", compile("t.pick()", { t: lbP2c })),
    hashRing: makeCase(
      "effect HashRing.get (hashes key)",
      compile("get(ring, keys[k & 4095])", { get: HashRing.get, ring: hashRing })
    )
  }

  // ours
  const ours: Array<{ readonly c: Case; readonly limit: Case; readonly peers: ReadonlyArray<Case> }> = []
  const add = (name: string, call: string, p: Policy.Picker, limit: Case, peers: ReadonlyArray<Case> = []) => {
    const c = makeCase(name, compile(call, { t: p }))
    ours.push({ c, limit, peers })
    return c
  }
  const rr = add("RoundRobin (Math.random)", "t.pick(-1)", picker(RoundRobin.make(), mathRandom), plain.rr, [peer.grpc])
  add("RoundRobin (effect Random)", "t.pick(-1)", picker(RoundRobin.make(), isaac()), plain.rr, [peer.grpc])
  // what users call: the pick through a real Balancer (its Random is effect's seeded generator)
  const through = (policy: Policy.Policy): Balancer.Balancer => {
    const b = Effect.runSync(Balancer.makeWith({ policy }))
    Effect.runSync(b.apply(Change.diff([], slots.map((s) => s.endpoint))))
    return b
  }
  const via = (name: string, call: string, policy: Policy.Policy, limit: Case, peers: ReadonlyArray<Case> = []) => {
    const c = makeCase(`${name} via Balancer.pickUnsafe`, compile(call, { t: through(policy), hashes }))
    ours.push({ c, limit, peers })
    return c
  }
  const rrVia = via("RoundRobin", "t.pickUnsafe()", RoundRobin.make(), plain.rr, [peer.grpc])
  const lpVia = via("LeastPending", "t.pickUnsafe()", LeastPending.make(), plain.p2c, [peer.lb])
  const ewmaVia = via("PeakEwma", "t.pickUnsafe()", PeakEwma.make(), plain.p2c)
  const wrrVia = via("WeightedRoundRobin", "t.pickUnsafe()", WeightedRoundRobin.make(), plain.stride, [
    peer.undici,
    peer.undiciW
  ])
  const maglevVia = via("Maglev", "t.pickUnsafe(hashes[k & 4095])", Maglev.make(), plain.maglev)
  const sedVia = via("ShortestExpectedDelay", "t.pickUnsafe()", ShortestExpectedDelay.make(), plain.p2c)
  const lp = add("LeastPending (Math.random)", "t.pick(-1)", picker(LeastPending.make(), mathRandom), plain.p2c, [
    peer.lb
  ])
  add("LeastPending (effect Random)", "t.pick(-1)", picker(LeastPending.make(), isaac()), plain.p2c, [peer.lb])
  add("PeakEwma (Math.random)", "t.pick(-1)", picker(PeakEwma.make(), mathRandom), plain.ewma)
  add("PeakEwma (effect Random)", "t.pick(-1)", picker(PeakEwma.make(), isaac()), plain.ewma)
  let wrr: Case | undefined
  if (WeightedRoundRobin !== undefined) {
    wrr = add(
      "WeightedRoundRobin (Math.random)",
      "t.pick(-1)",
      picker(WeightedRoundRobin.make(), mathRandom),
      plain.stride,
      [
        peer.undici,
        peer.undiciW,
        peer.undiciS
      ]
    )
    add("WeightedRoundRobin (effect Random)", "t.pick(-1)", picker(WeightedRoundRobin.make(), isaac()), plain.stride)
  }
  if (WeightedRandom !== undefined) {
    add("WeightedRandom (Math.random)", "t.pick(-1)", picker(WeightedRandom.make(), mathRandom), plain.alias)
    add("WeightedRandom (effect Random)", "t.pick(-1)", picker(WeightedRandom.make(), isaac()), plain.alias)
  }
  let ring: Case | undefined
  let ringHashing: Case | undefined
  if (RingHash !== undefined) {
    const p = picker(RingHash.make(), mathRandom)
    const prehashed = Uint32Array.from(keys, (key) => (ringHashOf !== undefined ? ringHashOf(key) : rand()))
    ring = makeCase("RingHash (hash precomputed)", compile("t.pick(hashes[k & 4095])", { t: p, hashes: prehashed }))
    ours.push({ c: ring, limit: plain.ring, peers: [peer.hashRing] })
    if (ringHashOf !== undefined) {
      ringHashing = makeCase(
        "RingHash (RingHash.hash(key) + pick)",
        compile("t.pick(hash(keys[k & 4095]))", { t: p, hash: ringHashOf })
      )
      ours.push({ c: ringHashing, limit: plain.ring, peers: [peer.hashRing] })
    }
  }
  let maglev: Case | undefined
  if (Maglev !== undefined) {
    maglev = add(
      "Maglev (hash precomputed)",
      "t.pick(hashes[k & 4095])",
      picker(Maglev.make(), mathRandom),
      plain.maglev
    )
  }

  const cases = [...Object.values(plain), ...Object.values(peer), ...ours.map((o) => o.c)]
  runInterleaved(cases.filter((c) => only.test(c.name)))

  console.log()
  console.log(
    `N = ${n}  (setup outside timing: undici BalancedPool ${undiciBuild.toFixed(0)} ms, ` +
      `effect HashRing ${hashRingBuild.toFixed(0)} ms)`
  )
  const width = Math.max(...cases.map((c) => c.name.length))
  const row = (name: string, ns: string, p90: string, vsLimit: string, vsPeer: string) =>
    console.log(`  ${name.padEnd(width)} | ${ns.padStart(9)} | ${p90.padStart(9)} | ${vsLimit.padEnd(34)} | ${vsPeer}`)
  row("name", "ns/pick", "p90", "ratio vs its plain limit", "ratio vs peer")
  row("-".repeat(width), "-".repeat(9), "-".repeat(9), "-".repeat(34), "-".repeat(30))
  for (const c of [...Object.values(plain), ...Object.values(peer)]) {
    if (c.samples.length === 0) continue
    row(
      c.name,
      fmtNs(median(c.samples)),
      fmtNs(quantile(c.samples, 0.9)),
      "(limit)",
      c.name.startsWith("plain") ? "" : "(peer)"
    )
  }
  for (const o of ours) {
    if (o.c.samples.length === 0) continue
    const shortName = (c: Case) => c.name.replace(/ \(.*$/, "").replace(/ picker$/, "")
    row(
      o.c.name,
      fmtNs(median(o.c.samples)),
      fmtNs(quantile(o.c.samples, 0.9)),
      `${fmtX(ratio(o.c, o.limit))} ${shortName(o.limit)}`,
      o.peers.map((p) => `${fmtX(ratio(o.c, p))} ${p.name}`).join("; ")
    )
  }

  target(`N=${n} RoundRobin ≤ 2× plain RR`, fmtX(ratio(rr, plain.rr)), ratio(rr, plain.rr) <= 2)
  target(`N=${n} RoundRobin ≤ grpc-js picker`, fmtX(ratio(rr, peer.grpc)), ratio(rr, peer.grpc) <= 1)
  target(`N=${n} LeastPending ≤ 1.5× plain P2C`, fmtX(ratio(lp, plain.p2c)), ratio(lp, plain.p2c) <= 1.5)
  if (wrr !== undefined) {
    target(
      `N=${n} WeightedRoundRobin ≤ 2× plain stride scheduler`,
      fmtX(ratio(wrr, plain.stride)),
      ratio(wrr, plain.stride) <= 2
    )
    if (n === 10_000) {
      // Only the saturated state can be 500× slower: idle selection is interleaved weighted round
      // robin, O(1) amortized; with all but one upstream busy it walks all N upstreams per pick.
      const saturated = ratio(peer.undiciS, wrr)
      const asBuilt = ratio(peer.undici, wrr)
      const weighted = ratio(peer.undiciW, wrr)
      target(
        "N=10000 WeightedRoundRobin ≥ 500× faster than undici BalancedPool (saturated)",
        `undici / ours = ${fmtX(saturated)} (saturated); for reference, idle: ${fmtX(asBuilt)} (as built), ` +
          `${fmtX(weighted)} (weights 10-100), where < 1 means ours is slower`,
        saturated >= 500
      )
    }
  } else if (n === 10_000) {
    console.log("  target skipped: WeightedRoundRobin (module missing)")
  }
  if (n === 10_000) {
    if (ring !== undefined) {
      const pre = ratio(peer.hashRing, ring)
      const withHash = ringHashing !== undefined ? ratio(peer.hashRing, ringHashing) : Number.NaN
      target(
        "N=10000 RingHash lookup ≥ 20× faster than effect HashRing",
        `HashRing / ours = ${fmtX(pre)} (hash precomputed), ${fmtX(withHash)} (including RingHash.hash)`,
        pre >= 20
      )
    } else {
      console.log("  target skipped: RingHash (module missing)")
    }
  }
  if (maglev !== undefined) {
    target(`N=${n} Maglev ≤ 2× plain table`, fmtX(ratio(maglev, plain.maglev)), ratio(maglev, plain.maglev) <= 2)
  }
  // through the Balancer (issue 8's targets: the path users call)
  const viaTarget = (label: string, c: Case, limit: Case, bound: number) =>
    target(`N=${n} ${label} via Balancer ≤ ${bound}× ${limit.name}`, fmtX(ratio(c, limit)), ratio(c, limit) <= bound)
  viaTarget("RoundRobin", rrVia, plain.rr, 2)
  viaTarget("LeastPending", lpVia, plain.p2c, 1.5)
  viaTarget("PeakEwma", ewmaVia, plain.p2c, 2)
  viaTarget("Maglev", maglevVia, plain.maglev, 2)
  viaTarget("WeightedRoundRobin", wrrVia, plain.stride, 2)
  if (n === 10_000) viaTarget("WeightedRoundRobin", wrrVia, peer.undici, 2)
  // ShortestExpectedDelay examines d = min(n, choices) candidates where P2C examines 2: its bound
  // is the P2C one (2×) scaled by d / 2 (3× at N = 3, 5× from N = 5 on with the default 5 choices)
  const examined = Math.min(n, ShortestExpectedDelay.defaultChoices)
  viaTarget("ShortestExpectedDelay", sedVia, plain.p2c, (examined / 2) * 2)
  await undiciPool.close()
}

// -----------------------------------------------------------------------------
// 3: Effect-level pick in a running fiber
// -----------------------------------------------------------------------------

{
  const n = 100
  const K = 10_000 // iterations per sample
  const endpoints = allEndpoints.slice(0, n)
  const balancer = Effect.runSync(Balancer.makeWith({ policy: RoundRobin.make() }))
  Effect.runSync(balancer.apply(Change.diff([], endpoints)))
  const own = endpoints.map((e, index) => Object.assign(Policy.makeSlot(e), { index }))
  const picker = RoundRobin.make().make({ slots: own, random: mathRandom, now })
  const hoisted = Effect.sync(() => picker.pick(-1))
  const names = [
    "yield* balancer.pick",
    "yield* Effect.sync(() => picker.pick(-1)) (hoisted)",
    "yield* Effect.sync(() => picker.pick(-1)) (inline)",
    "balancer.pickUnsafe() (no yield)"
  ] as const
  const samples: Array<Array<number>> = names.map(() => [])
  // The four loops are written out in the one generator (no nested generator: a delegated
  // `yield*` would add a generator resume to every step of both sides).
  const program = Effect.gen(function*() {
    let s = 0
    for (let r = -warmupRounds * 5; r < rounds; r++) {
      for (let j = 0; j < names.length; j++) {
        const v = (Math.max(r, 0) + j) % names.length
        const start = performance.now()
        if (v === 0) {
          for (let i = 0; i < K; i++) if ((yield* balancer.pick) === undefined) s++
        } else if (v === 1) {
          for (let i = 0; i < K; i++) if ((yield* hoisted) === undefined) s++
        } else if (v === 2) {
          for (let i = 0; i < K; i++) if ((yield* Effect.sync(() => picker.pick(-1))) === undefined) s++
        } else {
          for (let i = 0; i < K; i++) if (balancer.pickUnsafe() === undefined) s++
        }
        const ns = (performance.now() - start) * 1e6 / K
        if (r >= 0) samples[v]!.push(ns)
      }
    }
    return s
  })
  sink += Effect.runSync(program)
  const pairedRatio = (a: number, b: number) => median(samples[a]!.map((x, r) => x / samples[b]![r]!))
  console.log()
  console.log(`Effect-level pick: one Effect.gen loop, ${K} iterations per sample, RoundRobin over ${n} endpoints`)
  const width = Math.max(...names.map((x) => x.length))
  names.forEach((name, v) => {
    const vs = v === 1 ? "" : `  ${fmtX(pairedRatio(v, 1))} hoisted Effect.sync`
    console.log(`  ${name.padEnd(width)} | ${fmtNs(median(samples[v]!)).padStart(9)} / iteration${vs}`)
  })
  const r = pairedRatio(0, 1)
  target(
    "Effect pick ≤ 1.2× one yield* Effect.sync (hoisted)",
    `${fmtX(r)} (vs inline: ${fmtX(pairedRatio(0, 2))})`,
    r <= 1.2
  )
}

// -----------------------------------------------------------------------------
// 3b: the request path users pay: `yield* balancer.use(f)` with metrics on
// -----------------------------------------------------------------------------

{
  const n = 100
  const K = 2_000 // iterations per sample
  const endpoints = allEndpoints.slice(0, n)
  // the runtime's service layer, as a program would provide it (it brings `Balancer.Timer`)
  const layer = typeof (globalThis as { readonly Bun?: unknown }).Bun !== "undefined"
    ? BunServices.layer
    : NodeServices.layer
  const balancer = Effect.runSync(
    Balancer.makeWith({ key: "bench", policy: RoundRobin.make() }).pipe(Effect.provide(layer))
  )
  Effect.runSync(balancer.apply(Change.diff([], endpoints)))
  const f = (_: Endpoint.Endpoint) => Effect.succeed(1)
  const counter = { pending: 0 }
  const names = [
    "yield* balancer.use(f)",
    "yield* Effect.acquireUseRelease(sync, f, sync) (built per call)",
    "yield* f(endpoint)"
  ] as const
  const samples: Array<Array<number>> = names.map(() => [])
  const program = Effect.gen(function*() {
    let s = 0
    for (let r = -warmupRounds * 5; r < rounds; r++) {
      for (let j = 0; j < names.length; j++) {
        const v = (Math.max(r, 0) + j) % names.length
        const start = performance.now()
        if (v === 0) {
          for (let i = 0; i < K; i++) s += yield* balancer.use(f)
        } else if (v === 1) {
          for (let i = 0; i < K; i++) {
            s += yield* Effect.acquireUseRelease(
              Effect.sync(() => {
                counter.pending++
                return endpoints[i % n]!
              }),
              f,
              () =>
                Effect.sync(() => {
                  counter.pending--
                })
            )
          }
        } else {
          for (let i = 0; i < K; i++) s += yield* f(endpoints[i % n]!)
        }
        const ns = (performance.now() - start) * 1e6 / K
        if (r >= 0) samples[v]!.push(ns)
      }
    }
    return s
  })
  sink += Effect.runSync(program)
  const pairedRatio = (a: number, b: number) => median(samples[a]!.map((x, r) => x / samples[b]![r]!))
  console.log()
  console.log(
    `The request path: one Effect.gen loop, ${K} iterations per sample, RoundRobin over ${n} endpoints, metrics on`
  )
  const width = Math.max(...names.map((x) => x.length))
  names.forEach((name, v) => {
    const vs = v === 1 ? "" : `  ${fmtX(pairedRatio(v, 1))} acquireUseRelease`
    console.log(`  ${name.padEnd(width)} | ${fmtNs(median(samples[v]!)).padStart(9)} / request${vs}`)
  })
  const r = pairedRatio(0, 1)
  target("use(f) ≤ 1.5× a bare Effect.acquireUseRelease of the same f", fmtX(r), r <= 1.5)
}

// -----------------------------------------------------------------------------
// 4: rebalance at 10,000 endpoints, 1% churn
// -----------------------------------------------------------------------------

{
  const size = 10_000
  const churn = 50
  const prev = allEndpoints
  const r = xorshift32(0xbeef)
  const removedAt = new Set<number>()
  while (removedAt.size < churn) removedAt.add(r() % size)
  const next = [...prev.filter((_, i) => !removedAt.has(i)), ...Array.from({ length: churn }, freshEndpoint)]
  const forward = Change.diff(prev, next)
  const backward = Change.diff(next, prev)
  const fullPrev = Change.diff([], prev)
  const fullNext = Change.diff([], next)
  if (forward.added.length !== churn || forward.removed.length !== churn || forward.updated.length !== 0) {
    throw new Error("rebalance scenario: the change is not 50 removed + 50 added")
  }

  const policies: Array<{ readonly name: string; readonly policy: () => Policy.Policy; readonly targeted: boolean }> = [
    { name: "RoundRobin", policy: () => RoundRobin.make(), targeted: true },
    { name: "LeastPending", policy: () => LeastPending.make(), targeted: true },
    { name: "PeakEwma", policy: () => PeakEwma.make(), targeted: true }
  ]
  for (
    const [name, module] of [
      ["WeightedRoundRobin", WeightedRoundRobin],
      ["WeightedRandom", WeightedRandom],
      ["RingHash", RingHash],
      ["Maglev", Maglev]
    ] as const
  ) {
    if (module !== undefined) policies.push({ name, policy: () => module.make(), targeted: false })
  }

  const rebalanceRounds = quick ? 8 : 40
  console.log()
  console.log(
    `Rebalance at ${size} endpoints, ${churn} removed + ${churn} added (1%), Change computed beforehand; ` +
      `${rebalanceRounds} interleaved rounds (each: apply forward, apply backward, one full rebuild)`
  )
  const void_ = Effect.void
  const runSyncCost: Array<number> = []
  const rows = policies.map((p) => {
    const balancer = Effect.runSync(Balancer.makeWith({ policy: p.policy() }))
    Effect.runSync(balancer.apply(fullPrev))
    return { ...p, balancer, incremental: [] as Array<number>, full: [] as Array<number> }
  })
  const time = (f: () => void): number => {
    const start = performance.now()
    f()
    return (performance.now() - start) * 1e3 // µs
  }
  for (let round = -3; round < rebalanceRounds; round++) {
    for (let j = 0; j < rows.length; j++) {
      const row = rows[(Math.max(round, 0) + j) % rows.length]!
      const a = time(() => Effect.runSync(row.balancer.apply(forward)))
      const b = time(() => Effect.runSync(row.balancer.apply(backward)))
      const full = round % 2 === 0 ? fullNext : fullPrev
      const policy = row.policy()
      const c = time(() => Effect.runSync(Effect.flatMap(Balancer.makeWith({ policy }), (fresh) => fresh.apply(full))))
      if (round >= 0) {
        row.incremental.push(a, b)
        row.full.push(c)
      }
    }
    if (round >= 0) runSyncCost.push(time(() => Effect.runSync(void_)))
  }
  const check = Effect.runSync(rows[0]!.balancer.endpoints)
  if (!Change.sameSet(check, prev)) {
    throw new Error("rebalance: the balancer does not hold prev after forward + backward")
  }
  const width = Math.max(...rows.map((x) => x.name.length))
  console.log(`  ${"policy".padEnd(width)} | incremental apply | full rebuild | incremental / full`)
  for (const row of rows) {
    const inc = median(row.incremental)
    const full = median(row.full)
    const q = inc / full
    console.log(
      `  ${row.name.padEnd(width)} | ${fmtNs(inc * 1e3).padStart(17)} | ${fmtNs(full * 1e3).padStart(12)} | ` +
        `1/${(1 / q).toFixed(0)}`
    )
    if (row.targeted) target(`rebalance ${row.name} ≤ 1/10 of full rebuild`, `1/${(1 / q).toFixed(0)}`, q <= 0.1)
    else console.log(`  (no target for ${row.name})`)
  }
  console.log(`  (Effect.runSync(Effect.void) alone: ${fmtNs(median(runSyncCost) * 1e3)}; included in every row)`)
}

// -----------------------------------------------------------------------------
// summary
// -----------------------------------------------------------------------------

console.log()
console.log(`targets: ${targets.filter((t) => t.met).length} met, ${targets.filter((t) => !t.met).length} missed`)
for (const t of targets.filter((x) => !x.met)) console.log(`  MISSED ${t.what}: ${t.value}`)
for (const note of notes) console.log(`note: ${note}`)
if (sink === -1) console.log("(unreachable)")
