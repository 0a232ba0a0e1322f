/**
 * A watcher child process for tests/etcd.test.ts: watches a target through etcd and prints each
 * new set as one line of JSON, `{"set":["127.0.0.1:9001",...]}` (addresses sorted). Exits when
 * its stdin closes or reads "stop", and by itself after 120 s.
 *
 * Usage: <runtime> tests/etcd/watcher.ts <etcdUrl> <target>
 */
import { Effect, References, Stream } from "effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import process from "node:process"
import * as Etcd from "../../packages/core/src/Etcd.ts"

const [url, target] = process.argv.slice(process.argv.length - 2)

const main = Effect.gen(function*() {
  const discovery = yield* Etcd.discovery({ endpoints: url!, empty: "accept" })
  yield* discovery.watch(target!).pipe(
    Stream.runForEach((change) =>
      Effect.sync(() => {
        const set = change.all.map((e) => e.address).sort()
        process.stdout.write(JSON.stringify({ set }) + "\n")
      })
    )
  )
}).pipe(Effect.provide(FetchHttpClient.layer), Effect.provideService(References.MinimumLogLevel, "None"))

const fiber = Effect.runFork(main)
fiber.addObserver((exit) => {
  process.stderr.write(`watcher ended: ${String(exit._tag === "Failure" ? exit.cause : "done")}\n`)
  process.exit(1)
})
process.stdin.setEncoding("utf8")
process.stdin.on("data", (chunk: string) => {
  if (chunk.includes("stop")) process.exit(0)
})
process.stdin.on("end", () => process.exit(0))
setTimeout(() => process.exit(2), 120_000)
