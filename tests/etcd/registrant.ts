/**
 * A registrant child process for tests/etcd.test.ts: registers one endpoint in etcd and keeps it
 * registered until it reads "stop" on stdin (then the lease is revoked) or is killed. Prints
 * "registered" once the key is written. Exits by itself after 120 s.
 *
 * Usage: <runtime> tests/etcd/registrant.ts <etcdUrl> <key> <address> <ttlSeconds>
 */
import { Effect, Fiber } from "effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import process from "node:process"
import * as Etcd from "../../packages/core/src/Etcd.ts"

const [url, key, address, ttl] = process.argv.slice(process.argv.length - 4)

const main = Effect.scoped(Effect.gen(function*() {
  yield* Etcd.register({ endpoints: url!, key: key!, endpoint: address!, ttl: Number(ttl) * 1000 })
  yield* Effect.sync(() => process.stdout.write("registered\n"))
  yield* Effect.never
})).pipe(Effect.provide(FetchHttpClient.layer))

const fiber = Effect.runFork(main)
fiber.addObserver((exit) => {
  if (exit._tag === "Failure") {
    process.stderr.write(`registrant failed: ${String(exit.cause)}\n`)
    process.exit(1)
  }
})
const stop = () => Effect.runPromise(Fiber.interrupt(fiber)).then(() => process.exit(0))
let input = ""
process.stdin.setEncoding("utf8")
process.stdin.on("data", (chunk: string) => {
  input += chunk
  if (input.includes("stop")) void stop()
})
process.stdin.on("end", () => void stop())
setTimeout(() => process.exit(2), 120_000)
