/**
 * A load-balanced HttpClient in a program of your own: two HTTP servers on 127.0.0.1, their
 * addresses in a JSON file that FileDiscovery watches, and requests to `http://greeter/` spread
 * over them by PeakEwma, retried on another server when one fails. docs/http.md walks through it.
 *
 * Run it: `node examples/http.ts` (Node 24), `bun examples/http.ts`, `deno run -A examples/http.ts`.
 * It exits 0 when both servers answered.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { BalancedHttpClient, FileDiscovery, PeakEwma, Registry, Retry } from "@switchyard/core"
import { Effect, Layer } from "effect"
import { FetchHttpClient, HttpClient } from "effect/http"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"

// two servers that say who they are
const listen = (name: string) =>
  new Promise<http.Server>((resolve) => {
    const server = http.createServer((_, response) => response.end(name))
    server.listen(0, "127.0.0.1", () => resolve(server))
  })
const servers = await Promise.all([listen("one"), listen("two")])
const addresses = servers.map((s) => `127.0.0.1:${(s.address() as { port: number }).port}`)

// what your deployment tooling writes: the endpoints of the service, as JSON
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-http-"))
const file = path.join(dir, "greeter.json")
fs.writeFileSync(file, JSON.stringify(addresses))

// 1. where services are: a watched file (a target's file could also depend on the target)
// 2. how they are balanced: the Registry, one balancer per target
// 3. the HttpClient: effect's fetch client below, the load-balanced one on top
const Http = Layer.unwrap(
  Effect.map(
    FileDiscovery.make({ path: file }),
    (discovery) =>
      BalancedHttpClient.layer({ retry: Retry.make({ maxAttempts: 2 }) }).pipe(
        // defaultLatency 0: a server with no latency sample yet is tried first (with the default,
        // 30 ms, one request at a time keeps going to the first server measured faster than that)
        Layer.provide(Registry.layer({ discovery, policy: PeakEwma.make({ defaultLatency: 0 }) })),
        Layer.provide(FetchHttpClient.layer)
      )
  )
).pipe(Layer.provide(NodeFileSystem.layer))

const program = Effect.gen(function*() {
  const client = yield* HttpClient.HttpClient
  const answers = new Set<string>()
  for (let i = 0; i < 20; i++) {
    const response = yield* client.get("http://greeter/hello")
    answers.add(yield* response.text)
  }
  return [...answers].sort()
})

const answers = await Effect.runPromise(Effect.provide(program, Http))
console.log(`answered by: ${answers.join(", ")}`) // answered by: one, two
for (const server of servers) server.close()
fs.rmSync(dir, { recursive: true, force: true })
if (answers.length !== 2) throw new Error(`expected both servers to answer, got ${answers.join(", ")}`)
