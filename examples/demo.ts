/**
 * switchyard demo: watch a discovery source change over time.
 *
 * The source is a real JSON file of endpoints, polled every 100 ms. An "operator" fiber rewrites
 * the file the way a deploy would: instances come up, one is re-weighted, a canary joins, someone
 * writes a bad weight, the file briefly disappears, then an instance is drained. Every update is
 * printed: changes as diffs, bad updates as typed errors with the last good set kept.
 *
 * Run it with `npm run demo` (from a fresh clone it installs what it needs first).
 */
import { NodeServices } from "@switchyard/adapter-node"
import { Change, Discovery, type Endpoint } from "@switchyard/core"
import { Clock, Console, Duration, Effect, Fiber, References, Schedule, Stream } from "effect"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"

const pollEvery = Duration.millis(100)

/** The deploy the operator plays, one step every 400 ms. */
const steps: ReadonlyArray<{ readonly say: string; readonly write: ReadonlyArray<unknown> | "delete" }> = [
  {
    say: "three instances of checkout come up",
    write: [
      { address: "10.0.0.1:8080", zone: "eu-1a" },
      { address: "10.0.0.2:8080", zone: "eu-1b" },
      { address: "10.0.0.3:8080", zone: "eu-1c" }
    ]
  },
  {
    say: "10.0.0.3 is a bigger machine: weight 3",
    write: [
      { address: "10.0.0.1:8080", zone: "eu-1a" },
      { address: "10.0.0.2:8080", zone: "eu-1b" },
      { address: "10.0.0.3:8080", zone: "eu-1c", weight: 3 }
    ]
  },
  {
    say: "a canary joins on IPv6, tagged version=2",
    write: [
      { address: "10.0.0.1:8080", zone: "eu-1a" },
      { address: "10.0.0.2:8080", zone: "eu-1b" },
      { address: "10.0.0.3:8080", zone: "eu-1c", weight: 3 },
      { address: "[2001:DB8::0:7]:8080", zone: "eu-1a", tags: { version: "2" } }
    ]
  },
  {
    say: "someone writes a negative weight (the update must be rejected, nothing lost)",
    write: [
      { address: "10.0.0.1:8080", zone: "eu-1a", weight: -1 },
      { address: "10.0.0.2:8080", zone: "eu-1b" }
    ]
  },
  { say: "the file disappears for a moment", write: "delete" },
  {
    say: "the file is back, and 10.0.0.1 is drained",
    write: [
      { address: "10.0.0.2:8080", zone: "eu-1b" },
      { address: "10.0.0.3:8080", zone: "eu-1c", weight: 3 },
      { address: "[2001:db8::7]:8080", zone: "eu-1a", tags: { version: "2" } }
    ]
  }
]

const program = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "switchyard-demo-"))),
    (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
  )
  const file = join(dir, "checkout.json")
  const start = yield* Clock.currentTimeMillis
  const stamp = Clock.currentTimeMillis.pipe(Effect.map((t) => `[${((t - start) / 1000).toFixed(2).padStart(5)}s]`))
  const say = (who: string, text: string) =>
    stamp.pipe(
      Effect.flatMap((t) => Console.log(`${t} ${who.padEnd(8)} ${text.split("\n").join(`\n${" ".repeat(17)}`)}`))
    )

  const readEndpoints = Effect.tryPromise({
    try: () => readFile(file, "utf8").then((text): unknown => JSON.parse(text)),
    catch: (cause) => new Error(`cannot read ${file}: ${(cause as Error).message}`)
  })
  // polls that keep failing back off: 200 ms, then 320 ms … up to 1 s (the default starts at 1 s)
  const discovery = Discovery.polling(readEndpoints, Schedule.spaced(pollEvery), {
    backoff: { initial: "200 millis", max: "1 second" }
  })

  yield* Console.log(`switchyard demo: watching ${file}, polled every ${Duration.format(pollEvery)}\n`)
  yield* Effect.promise(() => writeFile(file, "[]"))

  let current: ReadonlyArray<Endpoint.Endpoint> = []
  const watcher = yield* discovery.updates("checkout").pipe(
    Stream.runForEach((update) => {
      if (update._tag === "Rejected") return say("rejected", update.error.message)
      current = update.change.all
      return say("change", Change.format(update.change))
    }),
    Effect.forkChild
  )

  yield* Effect.sleep("250 millis")
  for (const step of steps) {
    yield* say("operator", step.say)
    yield* Effect.promise(() =>
      step.write === "delete" ? rm(file, { force: true }) : writeFile(file, JSON.stringify(step.write, null, 2))
    )
    yield* Effect.sleep("400 millis")
  }
  yield* Effect.sleep("1 second") // long enough for a backed-off poll to see the last step
  yield* Fiber.interrupt(watcher)
  yield* Console.log(`\nfinal set: ${current.map((e) => e.address).join(", ")}`)
  if (current.length !== 3) {
    return yield* Effect.die(new Error(`expected 3 endpoints at the end, got ${current.length}`))
  }
}).pipe(
  Effect.scoped,
  Effect.provide(NodeServices.layer),
  // the watcher also logs each rejection as a warning; this demo prints them itself
  Effect.provideService(References.MinimumLogLevel, "Error")
)

Effect.runPromise(program).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
