/**
 * End to end over loopback HTTP: three real backends (`examples/backend.ts` child processes, 2 ms
 * of latency each), 64 requests in flight, for
 *
 * - switchyard: `BalancedHttpClient` (PeakEwma) over `NodeHttpClient.layerNodeHttp`, and over
 *   `FetchHttpClient.layer` (Node's fetch is undici, as BalancedPool is);
 * - undici 8's `BalancedPool` (its own weighted round robin over keep-alive pools);
 * - the bare inner client, `NodeHttpClient.layerNodeHttp`, round robin by hand (what the layer
 *   adds to effect's own client);
 * - a plain `node:http` keep-alive `Agent`, round robin by hand (the floor of the transport);
 *
 * side by side in one run (rounds interleaved, medians reported). Then one backend is slowed 10×:
 * the p99 of switchyard (PeakEwma moves traffic away) against BalancedPool. And the per-request
 * overhead of the load-balanced layer over the bare inner client (`NodeHttpClient.layerNodeHttp`
 * sent to the same endpoints round robin), one request at a time, in µs.
 *
 * Run: `sh scripts/node24.sh bench/http.ts` (`HTTP_QUICK=1`: a short smoke run).
 */
import { NodeHttpClient } from "@effect/platform-node"
import { BalancedHttpClient, Discovery, Endpoint, PeakEwma, Registry } from "@switchyard/core"
import { Context, Effect, Exit, Layer, References, Scope } from "effect"
import { FetchHttpClient, HttpClient } from "effect/http"
import * as http from "node:http"
import { createRequire } from "node:module"
import process from "node:process"
import * as backends from "../examples/backends.ts"

const undici = createRequire(import.meta.url)("undici/index.js") as typeof import("undici")
const quick = process.env["HTTP_QUICK"] === "1"
const inFlight = 64
const seconds = quick ? 0.3 : 2
const rounds = quick ? 1 : 3

interface Result {
  readonly rps: number
  readonly p50: number
  readonly p99: number
}
type Send = () => Promise<void>

/** `inFlight` loops of `send` for `seconds`: requests per second and latency percentiles (ms). */
const drive = async (send: Send, concurrency = inFlight, duration = seconds): Promise<Result> => {
  const latencies: Array<number> = []
  const end = performance.now() + duration * 1000
  const loop = async () => {
    while (performance.now() < end) {
      const start = performance.now()
      await send()
      latencies.push(performance.now() - start)
    }
  }
  const begin = performance.now()
  await Promise.all(Array.from({ length: concurrency }, loop))
  const elapsed = (performance.now() - begin) / 1000
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!
  return { rps: latencies.length / elapsed, p50: at(0.5), p99: at(0.99) }
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const main = async () => {
  const fleet = await Promise.all(["a", "b", "c"].map((name) => backends.start(name, 0, 2)))
  const addresses = fleet.map((b) => b.address)
  try {
    // switchyard (its layers live in `scope`, closed at the end)
    const scope = Effect.runSync(Scope.make())
    // the load-balanced client over `inner`, its layers in `scope`
    const balancedOver = (inner: Layer.Layer<HttpClient.HttpClient>) =>
      Effect.runPromise(
        Layer.buildWithScope(
          BalancedHttpClient.layer().pipe(
            Layer.provide(
              Registry.layer({
                discovery: Discovery.static(addresses.map((a) => Endpoint.makeUnsafe(a))),
                policy: PeakEwma.make()
              })
            ),
            Layer.provide(inner)
          ),
          scope
        )
      ).then((context) => Context.get(context, HttpClient.HttpClient))
    const lb = await balancedOver(NodeHttpClient.layerNodeHttp)
    const lbFetch = await balancedOver(FetchHttpClient.layer)
    const viaLbFetch: Send = () =>
      Effect.runPromise(Effect.flatMap(lbFetch.get("http://svc/"), (r) => r.arrayBuffer)).then(() => {})
    const viaLb: Send = () =>
      Effect.runPromise(Effect.flatMap(lb.get("http://svc/"), (r) => r.arrayBuffer)).then(() => {})
    // the same with effect's tracer off (no span per request)
    const untraced = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.provideService(effect, References.TracerEnabled, false)
    const viaLbUntraced: Send = () =>
      Effect.runPromise(untraced(Effect.flatMap(lb.get("http://svc/"), (r) => r.arrayBuffer))).then(() => {})
    // the bare inner client, round robin by hand
    const bareContext = await Effect.runPromise(Layer.buildWithScope(NodeHttpClient.layerNodeHttp, scope))
    const bare = Context.get(bareContext, HttpClient.HttpClient)
    let k = 0
    const viaBare: Send = () =>
      Effect.runPromise(Effect.flatMap(bare.get(`http://${addresses[k++ % 3]}/`), (r) => r.arrayBuffer)).then(() => {})
    // undici BalancedPool
    const pool = new undici.BalancedPool(addresses.map((a) => `http://${a}`), { connections: 64 })
    const viaPool: Send = async () => {
      const response = await pool.request({ path: "/", method: "GET" })
      await response.body.arrayBuffer()
    }
    // plain node:http, round robin
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
    let j = 0
    const viaAgent: Send = () =>
      new Promise((resolve, reject) => {
        const [host, port] = addresses[j++ % 3]!.split(":")
        http.get({ host, port: Number(port), path: "/", agent }, (response) => {
          response.resume()
          response.on("end", resolve)
        }).on("error", reject)
      })

    const cases: ReadonlyArray<readonly [string, Send]> = [
      ["switchyard BalancedHttpClient (PeakEwma) over NodeHttpClient", viaLb],
      ["the bare inner client (NodeHttpClient), round robin by hand", viaBare],
      ["switchyard over NodeHttpClient, effect's tracer off", viaLbUntraced],
      ["switchyard BalancedHttpClient (PeakEwma) over FetchHttpClient", viaLbFetch],
      ["undici BalancedPool", viaPool],
      ["node:http Agent, round robin by hand", viaAgent]
    ]
    const run = async (label: string) => {
      for (const [, send] of cases) await drive(send, inFlight, quick ? 0.1 : 0.5) // warm-up
      const results = new Map<string, Array<Result>>(cases.map(([name]) => [name, []]))
      for (let r = 0; r < rounds; r++) {
        for (let c = 0; c < cases.length; c++) {
          const [name, send] = cases[(c + r) % cases.length]!
          results.get(name)!.push(await drive(send))
        }
      }
      console.log(`\n${label} (${inFlight} in flight, ${rounds} rounds of ${seconds} s, medians)`)
      const pool = results.get("undici BalancedPool")!
      const poolRps = median(pool.map((x) => x.rps))
      const poolP99 = median(pool.map((x) => x.p99))
      for (const [name, rs] of results) {
        const rps = median(rs.map((x) => x.rps))
        const p50 = median(rs.map((x) => x.p50))
        const p99 = median(rs.map((x) => x.p99))
        console.log(
          `  ${name.padEnd(62)} ${rps.toFixed(0).padStart(7)} req/s  p50 ${p50.toFixed(2).padStart(6)} ms  p99 ${
            p99.toFixed(2).padStart(6)
          } ms  | ${(rps / poolRps).toFixed(2)}× BalancedPool req/s, p99 ${(p99 / poolP99).toFixed(2)}×`
        )
      }
      return { lb: results.get(cases[0]![0])!, pool }
    }

    const healthy = await run("three healthy backends")
    const lbRps = median(healthy.lb.map((x) => x.rps)) / median(healthy.pool.map((x) => x.rps))
    const lbP99 = median(healthy.lb.map((x) => x.p99)) / median(healthy.pool.map((x) => x.p99))
    await backends.slow(fleet[1]!, 10)
    const slowed = await run("backend b 10× slower (20 ms)")
    const slowP99 = median(slowed.lb.map((x) => x.p99)) / median(slowed.pool.map((x) => x.p99))
    await backends.slow(fleet[1]!, 1)

    // per-request overhead of the layer: one request at a time, interleaved
    const n = quick ? 1 : 5
    const lbTimes: Array<number> = []
    const bareTimes: Array<number> = []
    for (let r = 0; r < n; r++) {
      const a = await drive(viaLb, 1, quick ? 0.2 : 1)
      const b = await drive(viaBare, 1, quick ? 0.2 : 1)
      lbTimes.push(1e6 / a.rps)
      bareTimes.push(1e6 / b.rps)
    }
    const overhead = median(lbTimes) - median(bareTimes)
    console.log(
      `\nper request, one at a time: BalancedHttpClient ${median(lbTimes).toFixed(1)} µs, the bare inner client ${
        median(bareTimes).toFixed(1)
      } µs: the layer adds ${overhead.toFixed(1)} µs`
    )
    console.log("\ntargets")
    console.log(`  ${lbRps >= 0.9 ? "met   " : "MISSED"} req/s ≥ 0.9× BalancedPool: ${lbRps.toFixed(2)}×`)
    console.log(`  ${lbP99 <= 1.1 ? "met   " : "MISSED"} p99 ≤ 1.1× BalancedPool: ${lbP99.toFixed(2)}×`)
    console.log(`  (no target) one backend 10× slower: p99 ${slowP99.toFixed(2)}× BalancedPool's`)
    await pool.close()
    agent.destroy()
    await Effect.runPromise(Scope.close(scope, Exit.void))
  } finally {
    await Promise.all(fleet.map(backends.kill))
  }
}

await main()
process.exit(0)
