import { assert, describe, it } from "@effect/vitest"
import { Discovery, FileDiscovery } from "@switchyard/core"
import { ByteSize, Effect, FileSystem, Metric, Queue, References, Stream } from "effect"
import * as fc from "fast-check"
import * as json from "../src/internal/json.ts"
import { params } from "./seed.ts"

/** An in-memory file system: one directory of files, and a queue of the watch's events. */
const memory = () => {
  const files = new Map<string, string>()
  const events = Effect.runSync(Queue.unbounded<FileSystem.WatchEvent>())
  const notFound = (path: string) => Effect.fail({ _tag: "PlatformError", message: `no such file: ${path}` } as never)
  const fs = FileSystem.makeNoop({
    stat: (path) =>
      files.has(path)
        ? Effect.succeed({ type: "File", size: ByteSize.bytes(files.get(path)!.length) } as FileSystem.File.Info)
        : notFound(path),
    readFileString: (path) => files.has(path) ? Effect.succeed(files.get(path)!) : notFound(path),
    watch: (_path, options) => Stream.fromQueue(events).pipe(Stream.onStart(Effect.sync(() => options?.onReady?.())))
  })
  const write = (path: string, text: string | undefined) =>
    Effect.andThen(
      Effect.sync(() => text === undefined ? files.delete(path) : files.set(path, text)),
      Queue.offer(events, { _tag: "Update", path })
    )
  return { fs, write }
}

const run = <A, E>(effect: Effect.Effect<A, E, any>): Promise<A> =>
  Effect.runPromise(
    effect.pipe(
      Effect.scoped,
      Effect.provideService(Metric.MetricRegistry, new Map()),
      Effect.provideService(References.MinimumLogLevel, "None")
    ) as Effect.Effect<A, E>
  )

/** The discovery of `/srv/endpoints.json`, over `fs`, with no debounce. */
const discoveryOver = (
  fs: FileSystem.FileSystem,
  options?: { readonly maxEndpoints?: number; readonly maxBytes?: number }
) =>
  FileDiscovery.make({ path: "/srv/endpoints.json", debounce: 0, ...options }).pipe(
    Effect.provideService(FileSystem.FileSystem, fs)
  )

const format = (u: Discovery.Update) =>
  u._tag === "Changed"
    ? `changed ${u.change.all.map((e) => e.address).join(",")}`
    : `rejected ${u.error.reason}: ${u.error.detail}`

describe("FileDiscovery", () => {
  it("reads the file, then every change; bad contents keep the last good set and say where", async () => {
    const { fs, write } = memory()
    const lines = await run(Effect.gen(function*() {
      yield* write("/srv/endpoints.json", `["10.0.0.1:80", "10.0.0.2:80"]`)
      const discovery = yield* discoveryOver(fs)
      const seen: Array<string> = []
      const updates = yield* Queue.unbounded<Discovery.Update>()
      yield* Effect.forkScoped(Stream.runForEach(discovery.updates("svc"), (u) => Queue.offer(updates, u)))
      const next = Effect.map(Queue.take(updates), format)
      seen.push(yield* next) // the first read
      yield* write("/srv/endpoints.json", `{"endpoints": ["10.0.0.1:80", {"address": "10.0.0.3:80", "weight": 2}]}`)
      // the read after the watch is installed may come first, and it changes nothing
      let line = yield* next
      if (line === seen[0]) line = yield* next
      seen.push(line)
      yield* write("/srv/endpoints.json", `[\n  "10.0.0.1:80",\n  "10.0.0.4:80"\n`) // a partial write
      seen.push(yield* next)
      yield* write("/srv/endpoints.json", `["10.0.0.1:80", {"address": "10.0.0.5:80", "weight": -1}]`)
      seen.push(yield* next)
      yield* write("/srv/endpoints.json", undefined) // deleted
      seen.push(yield* next)
      yield* write("/srv/endpoints.json", `[]`)
      seen.push(yield* next)
      yield* write("/srv/endpoints.json", `["10.0.0.9:80"]`)
      seen.push(yield* next)
      return seen
    }))
    assert.strictEqual(lines[0], "changed 10.0.0.1:80,10.0.0.2:80")
    assert.strictEqual(lines[1], "changed 10.0.0.1:80,10.0.0.3:80")
    assert.match(lines[2]!, /^rejected Decode: \/srv\/endpoints\.json:4:1: not JSON: /)
    assert.match(lines[3]!, /^rejected Decode: .*weight/)
    assert.match(lines[4]!, /^rejected Fetch: .*no such file/)
    assert.match(lines[5]!, /^rejected Empty/)
    assert.strictEqual(lines[6], "changed 10.0.0.9:80")
  })

  it("a file over maxBytes or with more than maxEndpoints entries is rejected, naming the bound", async () => {
    const { fs, write } = memory()
    const [big, many] = await run(Effect.gen(function*() {
      yield* write("/srv/endpoints.json", JSON.stringify(["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]))
      const small = yield* discoveryOver(fs, { maxBytes: 20 })
      const few = yield* discoveryOver(fs, { maxEndpoints: 2 })
      return [yield* Effect.flip(small.discover("svc")), yield* Effect.flip(few.discover("svc"))]
    }))
    assert.strictEqual(big.reason, "Decode")
    assert.include(big.detail, "over the maxBytes of 20")
    assert.strictEqual(many.reason, "Decode")
    assert.include(many.detail, "3 endpoints, over the maxEndpoints of 2")
  })

  it("invalid options fail with an OptionError naming the value", async () => {
    const { fs } = memory()
    const errors = await run(Effect.gen(function*() {
      const provide = <A, E>(e: Effect.Effect<A, E, FileSystem.FileSystem>) =>
        Effect.provideService(e, FileSystem.FileSystem, fs)
      return [
        yield* Effect.flip(provide(FileDiscovery.make({ path: "" }))),
        yield* Effect.flip(provide(FileDiscovery.make({ path: "/a.json", debounce: Number.NaN }))),
        yield* Effect.flip(provide(FileDiscovery.make({ path: "/a.json", maxEndpoints: 1.5 })))
      ]
    }))
    assert.deepStrictEqual(errors.map((e) => [e.module, e.option, e.value, e.reason]), [
      ["file-discovery", "path", `""`, "WrongType"],
      ["file-discovery", "debounce", "NaN", "NotFinite"],
      ["file-discovery", "maxEndpoints", "1.5", "NotInteger"]
    ])
  })

  it("property: 1000 malformed contents between good ones never crash the watcher and never empty the set", async () => {
    const malformed = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.json().map((text) => text.slice(0, Math.max(0, text.length - 1))),
      fc.anything().map((value) => JSON.stringify(value) ?? "undefined"),
      fc.constantFrom("", "[", "{\"endpoints\": 3}", "[null]", "[\"not an address\"]", "[{\"address\": 5}]")
    )
    let inputs = 0
    await fc.assert(
      fc.asyncProperty(fc.array(malformed, { minLength: 5, maxLength: 10 }), async (bad) => {
        const { fs, write } = memory()
        await run(Effect.gen(function*() {
          yield* write("/srv/endpoints.json", `["10.0.0.1:80"]`)
          const discovery = yield* discoveryOver(fs)
          const seen: Array<Discovery.Update> = []
          yield* Effect.forkScoped(Stream.runForEach(discovery.updates("svc"), (u) => Effect.sync(() => seen.push(u))))
          for (const text of bad) {
            inputs++
            yield* write("/srv/endpoints.json", text)
            const result = yield* Effect.result(discovery.discover("svc"))
            // a malformed file is a typed rejection, or (rarely) a valid non-empty list
            if (result._tag === "Success") assert.isAbove(result.success.length, 0)
            else assert.include(["Decode", "Fetch", "Empty"], result.failure.reason)
          }
          yield* write("/srv/endpoints.json", `["10.0.0.7:80"]`)
          const last = () => {
            const changed = seen.findLast((u) => u._tag === "Changed")
            return changed === undefined ? "none" : format(changed)
          }
          for (let k = 0; k < 1000 && last() !== "changed 10.0.0.7:80"; k++) {
            yield* Effect.sleep("1 millis")
          }
          // the watcher is alive (it read the last good file) and never served an empty set
          assert.strictEqual(last(), "changed 10.0.0.7:80")
          for (const u of seen) if (u._tag === "Changed") assert.isAbove(u.change.all.length, 0)
        }))
      }),
      params(150)
    )
    assert.isAtLeast(inputs, 1000)
  })
})

describe("internal/json.locate", () => {
  it("names the line and column of the first character that is not JSON", () => {
    assert.deepStrictEqual(json.locate(`[\n  "a",\n  "b"\n`), {
      line: 4,
      column: 1,
      problem: `expected "," or "]" in an array, found the end of the text`
    })
    assert.deepStrictEqual(json.locate(`{"a": 1,}`), {
      line: 1,
      column: 9,
      problem: `expected a property name in double quotes, found "}"`
    })
    assert.deepStrictEqual(json.locate(`[1, tru]`), { line: 1, column: 5, problem: `unexpected "t"` })
  })

  it("property: agrees with JSON.parse on what is JSON", () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string({ maxLength: 30 })), (text) => {
        let valid = true
        try {
          JSON.parse(text)
        } catch {
          valid = false
        }
        assert.strictEqual(json.parse(text)._tag === "Success", valid)
        if (!valid) {
          const at = json.locate(text)
          assert.isAtLeast(at.line, 1)
          assert.isAtLeast(at.column, 1)
        }
      }),
      params(1000)
    )
  })
})
