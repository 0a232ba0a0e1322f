/**
 * switchyard demo: real HTTP backends, found in a watched file, load-balanced by effect's
 * HttpClient.
 *
 * It starts three HTTP backends as child processes on 127.0.0.1, writes their addresses to a JSON
 * file that `FileDiscovery` watches, and drives traffic at a fixed concurrency through
 * `BalancedHttpClient` (PeakEwma under OutlierDetection, with retries). Then a script plays an
 * operator's afternoon: a fourth backend is added to the file, one backend turns 10× slower
 * (traffic moves away), one is killed (ejected, requests retried elsewhere) and restarted (probed
 * again, back in rotation). On a terminal it draws a live view; otherwise it prints plain lines.
 * It exits 0 only if every expectation of the script held, and names the ones that did not.
 *
 * With `--discovery etcd` (when etcd is installed: `sh scripts/etcd.sh install` as root) it starts
 * a real etcd on 127.0.0.1, registers each backend under `/services/checkout/` with
 * `Etcd.register` and discovers them with `Etcd.discovery` instead of the file.
 *
 * Run it with `npm run demo` (from a fresh clone it installs what it needs first), or
 * `npm run demo -- --discovery etcd`.
 */
import { NodeFileSystem, NodeHttpClient } from "@effect/platform-node"
import { NodeServices } from "@switchyard/adapter-node"
import {
  BalancedHttpClient,
  type Balancer,
  type Discovery,
  Etcd,
  FileDiscovery,
  OutlierDetection,
  PeakEwma,
  Registry,
  Retry
} from "@switchyard/core"
import { Clock, Context, Effect, Layer, References } from "effect"
import { FetchHttpClient, HttpClient } from "effect/http"
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import process from "node:process"
import { fileURLToPath } from "node:url"
import * as backends from "./backends.ts"

const concurrency = 16
const latencyMs = 4 // each backend's own latency; "slow" is 10× that
const tty = process.stdout.isTTY === true && process.env["NO_TTY"] === undefined
const flag = process.argv.indexOf("--discovery")
const source = flag < 0 ? "file" : process.argv[flag + 1]
if (source !== "file" && source !== "etcd") {
  console.error(`--discovery takes "file" or "etcd", not ${JSON.stringify(source)}`)
  process.exit(2)
}

// -----------------------------------------------------------------------------
// what the traffic saw, per window
// -----------------------------------------------------------------------------

interface Window {
  readonly byBackend: Map<string, number>
  readonly latencies: Array<number>
  errors: number
}
const freshWindow = (): Window => ({ byBackend: new Map(), latencies: [], errors: 0 })
let window = freshWindow()
let total = 0

const percentile = (sorted: ReadonlyArray<number>, q: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

// -----------------------------------------------------------------------------
// the program
// -----------------------------------------------------------------------------

const program = Effect.gen(function*() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-demo-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
  const file = path.join(dir, "checkout.json")
  const fleet = new Map<string, backends.Backend>()
  yield* Effect.addFinalizer(() => Effect.promise(() => Promise.all([...fleet.values()].map(backends.kill))))
  const startBackend = (name: string, port = 0) =>
    Effect.promise(async () => {
      const backend = await backends.start(name, port, latencyMs)
      fleet.set(name, backend)
      return backend
    })
  // with a file: the deployment tooling's way to write it, a temporary file renamed over it;
  // with etcd: each backend registers itself under /services/checkout/ for as long as the demo runs
  const etcdUrl = source === "etcd" ? yield* startEtcd(dir) : ""
  const registered = new Set<string>()
  const publish = () =>
    source === "file"
      ? Effect.sync(() => {
        const list = [...fleet.values()].map((b) => ({ address: b.address, tags: { name: b.name } }))
        fs.writeFileSync(`${file}.tmp`, JSON.stringify(list, null, 2))
        fs.renameSync(`${file}.tmp`, file)
      })
      : Effect.forEach([...fleet.values()].filter((b) => !registered.has(b.name)), (b) => {
        registered.add(b.name)
        return Effect.forkScoped(
          Etcd.register({
            endpoints: etcdUrl,
            key: `/services/checkout/${b.name}`,
            endpoint: { address: b.address, tags: { name: b.name } },
            ttl: "2 seconds"
          }).pipe(Effect.andThen(Effect.never), Effect.provide(FetchHttpClient.layer))
        )
      }, { discard: true })
  for (const name of ["a", "b", "c"]) yield* startBackend(name)
  yield* publish()
  const nameOf = new Map<string, string>() // address → backend name, kept after a kill
  const remember = () => {
    for (const b of fleet.values()) nameOf.set(b.address, b.name)
  }
  remember()

  const discovery: Discovery.Discovery<string> = source === "file"
    ? yield* FileDiscovery.make({ path: file })
    : yield* Etcd.discovery({ endpoints: etcdUrl }).pipe(Effect.provide(FetchHttpClient.layer))
  const policy = OutlierDetection.make(PeakEwma.make({ decay: "2 seconds" }), {
    consecutiveFailures: 3,
    interval: "250 millis",
    baseEjectionTime: "1500 millis"
  })
  const http = yield* Layer.build(
    BalancedHttpClient.layer({ retry: Retry.make({ maxAttempts: 3, idempotent: true }) }).pipe(
      Layer.provideMerge(Registry.layer({ discovery, policy })),
      Layer.provide(NodeHttpClient.layerNodeHttp)
    )
  )
  const client = Context.get(http, HttpClient.HttpClient)
  const balancer: Balancer.Balancer = yield* Context.get(http, Registry.Registry).get("checkout")
  yield* balancer.ready

  // the traffic: `concurrency` workers, each one request after the other
  const worker = Effect.forever(
    Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      const result = yield* Effect.result(
        Effect.flatMap(client.get("http://checkout/"), (r) => r.status === 200 ? r.json : Effect.succeed(undefined))
      )
      const elapsed = (yield* Clock.currentTimeMillis) - start
      total++
      const body = result._tag === "Success" ? result.success as { readonly name?: string } | undefined : undefined
      if (body?.name === undefined) window.errors++
      else {
        window.byBackend.set(body.name, (window.byBackend.get(body.name) ?? 0) + 1)
        window.latencies.push(elapsed)
      }
    })
  )
  for (let i = 0; i < concurrency; i++) yield* Effect.forkScoped(worker)

  // -------------------------------------------------------------------------
  // the view: the last window's share, and the balancer's own view of each endpoint
  // -------------------------------------------------------------------------
  const failed: Array<string> = []
  const passed: Array<string> = []
  let step = "starting"
  let stepIndex = 0
  const steps = 5
  const began = yield* Clock.currentTimeMillis
  const show = (seen: Window, seconds: number) =>
    Effect.gen(function*() {
      const stats = yield* balancer.snapshot
      const note = (yield* balancer.explain()).note
      const count = [...seen.byBackend.values()].reduce((a, b) => a + b, 0)
      const sorted = [...seen.latencies].sort((a, b) => a - b)
      const elapsed = ((yield* Clock.currentTimeMillis) - began) / 1000
      const lines: Array<string> = []
      const bar = (fraction: number, width: number) => "█".repeat(Math.round(fraction * width)).padEnd(width, "·")
      lines.push(
        `switchyard demo  ${elapsed.toFixed(1).padStart(5)} s  [${
          bar(stepIndex / steps, 20)
        }] ${stepIndex}/${steps}  ${step}`
      )
      lines.push(
        `  ${(count / seconds).toFixed(0).padStart(6)} req/s   p50 ${
          percentile(sorted, 0.5).toFixed(0).padStart(3)
        } ms   p99 ${percentile(sorted, 0.99).toFixed(0).padStart(3)} ms   errors ${seen.errors}   total ${total}`
      )
      for (const s of stats) {
        const name = nameOf.get(s.endpoint.address) ?? "?"
        const share = count === 0 ? 0 : (seen.byBackend.get(name) ?? 0) / count
        const ejected = note.includes(`ejected ${s.endpoint.address}`)
        lines.push(
          `  ${name} ${s.endpoint.address.padEnd(16)} ${bar(share, 25)} ${
            (100 * share).toFixed(0).padStart(3)
          }%  pending ${String(s.pending).padStart(2)}  latency ${(s.latency ?? 0).toFixed(1).padStart(6)} ms  ${
            ejected ? "EJECTED" : "ok"
          }`
        )
      }
      if (tty) process.stdout.write(`\x1b[H\x1b[J${lines.join("\n")}\n`)
      else console.log(lines.join("\n"))
    })

  /** Runs the traffic for `seconds` in windows of 0.5 s (drawn live on a terminal), returning the last window. */
  const observe = (seconds: number) =>
    Effect.gen(function*() {
      let last = freshWindow()
      for (let k = 0; k < seconds * 2; k++) {
        window = freshWindow()
        yield* Effect.sleep("500 millis")
        last = window
        if (tty) yield* show(last, 0.5)
      }
      if (!tty) yield* show(last, 0.5)
      return last
    })
  const shareOf = (seen: Window, name: string) => {
    const count = [...seen.byBackend.values()].reduce((a, b) => a + b, 0)
    return count === 0 ? 0 : (seen.byBackend.get(name) ?? 0) / count
  }
  const expect = (what: string, held: boolean, detail: string) =>
    Effect.sync(() => {
      ;(held ? passed : failed).push(`${what} (${detail})`)
      if (!tty) console.log(`${held ? "  ✓" : "  ✗"} ${what} (${detail})`)
    })
  const next = (what: string) =>
    Effect.sync(() => {
      stepIndex++
      step = what
      if (!tty) console.log(`\n== ${stepIndex}/${steps} ${what}`)
    })

  if (tty) process.stdout.write("\x1b[2J")
  yield* next("three backends, found in the file")
  let seen = yield* observe(2)
  yield* expect(
    "all three backends get traffic",
    ["a", "b", "c"].every((n) => shareOf(seen, n) > 0.1),
    ["a", "b", "c"].map((n) => `${n} ${(100 * shareOf(seen, n)).toFixed(0)}%`).join(", ")
  )

  yield* next("backend d is added to the file")
  yield* startBackend("d")
  remember()
  yield* publish()
  seen = yield* observe(2)
  yield* expect("d gets traffic", shareOf(seen, "d") > 0.1, `d ${(100 * shareOf(seen, "d")).toFixed(0)}%`)

  yield* next("backend b turns 10× slower")
  yield* Effect.promise(() => backends.slow(fleet.get("b")!, 10))
  seen = yield* observe(3)
  yield* expect(
    "traffic moves away from b",
    shareOf(seen, "b") < 0.1,
    `b ${(100 * shareOf(seen, "b")).toFixed(0)}% of requests, a fair share is 25%`
  )

  yield* next("backend c is killed")
  const c = fleet.get("c")!
  yield* Effect.promise(() => backends.kill(c))
  const killedAt = total
  seen = yield* observe(2)
  const note = (yield* balancer.explain()).note
  yield* expect(
    "c is ejected and gets no traffic",
    shareOf(seen, "c") === 0 && note.includes(`ejected ${c.address}`),
    note.includes(`ejected ${c.address}`) ? "ejected" : "not ejected"
  )
  yield* expect(
    "requests keep succeeding (retried on another backend)",
    seen.errors === 0,
    `${seen.errors} errors in the last window, ${total - killedAt} requests since the kill`
  )

  yield* next("backend c is restarted on its port")
  yield* Effect.promise(() => backends.slow(fleet.get("b")!, 1))
  yield* startBackend("c", c.port)
  seen = yield* observe(4)
  yield* expect(
    "c is probed again and back in rotation",
    shareOf(seen, "c") > 0.05,
    `c ${(100 * shareOf(seen, "c")).toFixed(0)}%`
  )

  stepIndex = steps
  step = failed.length === 0 ? "done: every expectation held" : `done: ${failed.length} expectation(s) failed`
  if (tty) yield* show(seen, 0.5)
  console.log()
  for (const line of passed) console.log(`  ✓ ${line}`)
  for (const line of failed) console.log(`  ✗ ${line}`)
  console.log(
    failed.length === 0
      ? `\nevery expectation held (${total} requests)`
      : `\n${failed.length} expectation(s) did not hold`
  )
  return failed.length
})

/** Starts etcd on 127.0.0.1 with its data in `dir` (stopped with the demo); its client URL. */
const startEtcd = (dir: string) =>
  Effect.gen(function*() {
    if (spawnSync("sh", ["-c", "command -v etcd"]).status !== 0) {
      console.error("--discovery etcd: etcd is not installed (as root: sh scripts/etcd.sh install)")
      process.exit(2)
    }
    const port = 20_000 + Math.floor(Math.random() * 20_000)
    const pid = Number(
      execFileSync("sh", [
        fileURLToPath(new URL("../scripts/etcd.sh", import.meta.url)),
        "start",
        path.join(dir, "etcd"),
        String(port),
        String(port + 1),
        "300"
      ])
        .toString().trim()
    )
    yield* Effect.addFinalizer(() => Effect.sync(() => process.kill(pid, "SIGKILL")))
    const url = `http://127.0.0.1:${port}`
    for (let i = 0; i < 100; i++) {
      const healthy = yield* Effect.promise(() => fetch(`${url}/health`).then((r) => r.ok, () => false))
      if (healthy) return url
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.die(new Error(`etcd did not become healthy on ${url}`))
  })

Effect.runPromise(
  program.pipe(
    Effect.scoped,
    Effect.provide(Layer.merge(NodeServices.layer, NodeFileSystem.layer)),
    // the watcher logs each rejection as a warning; the view shows what matters
    Effect.provideService(References.MinimumLogLevel, "Error")
  )
).then(
  (failures) => process.exit(failures === 0 ? 0 : 1),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
