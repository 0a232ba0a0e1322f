/**
 * FileDiscovery on the real file system (`NodeFileSystem` from @effect/platform-node, which
 * watches with `node:fs.watch`), on Node, Bun and Deno alike: in-place writes, atomic renames, a
 * Kubernetes ConfigMap's symlink swap, partial writes and a deleted file.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { type Discovery, FileDiscovery } from "@switchyard/core"
import { Effect, Metric, Queue, References, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, describe, it } from "vitest"

let dirs: Array<string> = []
afterEach(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
  dirs = []
})
const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-file-"))
  dirs.push(dir)
  return dir
}

const format = (u: Discovery.Update) =>
  u._tag === "Changed"
    ? `changed ${u.change.all.map((e) => e.address).join(",")}`
    : `rejected ${u.error.reason}`

/**
 * Watches `file` and runs `script` with `next(expected)`, which waits (at most 5 s) for an update
 * formatted as `expected`, skipping others (a runtime may report one change as several events).
 */
const watching = (
  file: string,
  script: (next: (expected: string) => Effect.Effect<void, Error>) => Effect.Effect<void, Error>
) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const discovery = yield* FileDiscovery.make({ path: file, debounce: "20 millis" })
      const updates = yield* Queue.unbounded<Discovery.Update>()
      yield* Effect.forkScoped(Stream.runForEach(discovery.updates("svc"), (u) => Queue.offer(updates, u)))
      const seen: Array<string> = []
      const next = (expected: string) =>
        Effect.gen(function*() {
          for (;;) {
            const line = format(yield* Queue.take(updates))
            seen.push(line)
            if (line === expected) return
          }
        }).pipe(
          Effect.timeoutOrElse({
            duration: "5 seconds",
            orElse: () => Effect.fail(new Error(`expected "${expected}", saw ${JSON.stringify(seen)}`))
          })
        )
      yield* script(next)
    }).pipe(
      Effect.scoped,
      Effect.provide(NodeFileSystem.layer),
      Effect.provideService(Metric.MetricRegistry, new Map()),
      Effect.provideService(References.MinimumLogLevel, "None")
    )
  )

const write = (file: string, text: string) => Effect.sync(() => fs.writeFileSync(file, text))
const settle = Effect.sleep("100 millis") // longer than the debounce: the next write is a new burst

describe("FileDiscovery on the real file system", () => {
  it("in-place writes, an atomic rename, a partial write and a deleted file", async () => {
    const dir = tempDir()
    const file = path.join(dir, "endpoints.json")
    fs.writeFileSync(file, `["127.0.0.1:8001"]`)
    await watching(file, (next) =>
      Effect.gen(function*() {
        yield* next("changed 127.0.0.1:8001")
        yield* settle
        yield* write(file, `["127.0.0.1:8001", "127.0.0.1:8002"]`)
        yield* next("changed 127.0.0.1:8001,127.0.0.1:8002")
        yield* settle
        // the tooling's way: write a temporary file, rename it over the watched one
        yield* write(path.join(dir, ".endpoints.json.tmp"), `["127.0.0.1:8003"]`)
        yield* Effect.sync(() => fs.renameSync(path.join(dir, ".endpoints.json.tmp"), file))
        yield* next("changed 127.0.0.1:8003")
        yield* settle
        // a write after the rename is still seen (a watch on the file itself would be silent now)
        yield* write(file, `["127.0.0.1:8003", "127.0.0.1:8004"]`)
        yield* next("changed 127.0.0.1:8003,127.0.0.1:8004")
        yield* settle
        yield* write(file, `["127.0.0.1:8005",`)
        yield* next("rejected Decode")
        yield* settle
        yield* Effect.sync(() => fs.rmSync(file))
        yield* next("rejected Fetch")
        yield* settle
        yield* write(file, `["127.0.0.1:8005"]`)
        yield* next("changed 127.0.0.1:8005")
      }))
  })

  it("a Kubernetes ConfigMap's update: the ..data symlink swapped to a new directory", async () => {
    const dir = tempDir()
    // the kubelet's layout: <dir>/endpoints.json → ..data/endpoints.json, ..data → ..<timestamp>
    const version = (name: string, text: string) => {
      fs.mkdirSync(path.join(dir, name))
      fs.writeFileSync(path.join(dir, name, "endpoints.json"), text)
    }
    version("..v1", `["127.0.0.1:9001"]`)
    fs.symlinkSync("..v1", path.join(dir, "..data"))
    fs.symlinkSync(path.join("..data", "endpoints.json"), path.join(dir, "endpoints.json"))
    await watching(path.join(dir, "endpoints.json"), (next) =>
      Effect.gen(function*() {
        yield* next("changed 127.0.0.1:9001")
        yield* settle
        yield* Effect.sync(() => {
          version("..v2", `["127.0.0.1:9001", "127.0.0.1:9002"]`)
          fs.symlinkSync("..v2", path.join(dir, "..data_tmp"))
          fs.renameSync(path.join(dir, "..data_tmp"), path.join(dir, "..data"))
        })
        yield* next("changed 127.0.0.1:9001,127.0.0.1:9002")
      }))
  })
})
