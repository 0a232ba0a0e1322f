/**
 * Discovery from a JSON file that your deployment tooling writes: the endpoints of a target are
 * the file's contents, re-read whenever the file's directory changes.
 *
 * **Details**
 *
 * - The file holds a JSON array of endpoints (`"10.0.0.1:8080"` or `{ "address": "10.0.0.1:8080",
 *   "weight": 2 }`, as `Endpoint.decodeAll` reads them), or an object with such an array in
 *   `endpoints`. `path` is one file for every target, or a function giving each target its file.
 * - It watches the file's **parent directory**, not the file (a watch on the file goes silent
 *   after an atomic rename on Node, Bun and Deno), waits `debounce` (default 50 ms) after the last
 *   event and re-reads: contents are compared, not event names, so a write, a rename over the
 *   file, duplicate events (Deno) and a Kubernetes ConfigMap's `..data` symlink swap all work.
 * - **The last good set is kept** (as for every `Discovery`): a partial write, a file that is not
 *   JSON (the rejection names the line and column), an invalid entry (it names the entry and the
 *   field), a file over `maxBytes` (default 4 MiB) or with more than `maxEndpoints` (default
 *   10,000) entries is rejected with reason `"Decode"`; a deleted or unreadable file is rejected
 *   with reason `"Fetch"`, never read as an empty set. An empty list is rejected unless
 *   `empty: "accept"`.
 * - It needs a `FileSystem` (`NodeFileSystem.layer` from `@effect/platform-node` on Node, Bun and
 *   Deno). Invalid options fail the effect with an `Options.OptionError` naming the value.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { FileDiscovery, PeakEwma, Registry } from "@switchyard/core"
 *
 * // endpoints.json: ["127.0.0.1:8080", { "address": "127.0.0.1:8081", "weight": 2 }]
 * const registry = Effect.map(
 *   FileDiscovery.make({ path: "/etc/switchyard/endpoints.json" }),
 *   (discovery) => Registry.layer({ discovery, policy: PeakEwma.make() })
 * )
 * ```
 *
 * @stability experimental
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as Discovery from "./Discovery.ts"
import * as json from "./internal/json.ts"
import * as option from "./internal/option.ts"
import type * as Options from "./Options.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * The default `debounce`: 50 ms after the last event in the directory.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultDebounce: Duration.Duration = Duration.millis(50)

/**
 * The default `maxBytes`: 4 MiB.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultMaxBytes = 4 * 1024 * 1024

/**
 * The default `maxEndpoints`: 10,000.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultMaxEndpoints = 10_000

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * A discovery that reads and watches a JSON file: see the module's documentation.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <Target = string>(
  options: Discovery.Options<Target> & {
    readonly path: string | ((target: Target) => string)
    readonly debounce?: Duration.Input | undefined
    readonly maxBytes?: number | undefined
    readonly maxEndpoints?: number | undefined
  }
): Effect.Effect<Discovery.Discovery<Target>, Options.OptionError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const settings = readOptions(options)
    if (option.isInvalid(settings)) return yield* Effect.fail(option.error("file-discovery", settings))
    const fs = yield* FileSystem.FileSystem
    const { debounce, maxBytes, maxEndpoints, pathOf } = settings
    const read = (path: string): Effect.Effect<unknown, unknown> =>
      Effect.gen(function*() {
        const info = yield* fs.stat(path)
        if (info.type !== "File") {
          return yield* Effect.fail(new Discovery.Invalid(`${path} is not a file (${info.type})`))
        }
        if (Number(info.size) > maxBytes) {
          return yield* Effect.fail(
            new Discovery.Invalid(`${path} is ${info.size} bytes, over the maxBytes of ${maxBytes}`)
          )
        }
        const text = yield* fs.readFileString(path)
        // the file may have grown between the stat and the read
        if (text.length > maxBytes) {
          return yield* Effect.fail(new Discovery.Invalid(`${path} is over the maxBytes of ${maxBytes}`))
        }
        const parsed = json.parse(text)
        if (Result.isFailure(parsed)) {
          const { column, line, problem } = parsed.failure
          return yield* Effect.fail(new Discovery.Invalid(`${path}:${line}:${column}: not JSON: ${problem}`))
        }
        const value = parsed.success
        const list = typeof value === "object" && value !== null && !Array.isArray(value) && "endpoints" in value
          ? value.endpoints
          : value
        if (Array.isArray(list) && list.length > maxEndpoints) {
          return yield* Effect.fail(
            new Discovery.Invalid(`${path} lists ${list.length} endpoints, over the maxEndpoints of ${maxEndpoints}`)
          )
        }
        return list
      })
    const payload = (path: string): Effect.Effect<Discovery.Payload> =>
      Effect.map(
        Effect.exit(read(path)),
        (exit) => exit._tag === "Success" ? Result.succeed(exit.value) : Result.fail(exit.cause)
      )
    return Discovery.make({
      key: options.key,
      empty: options.empty,
      fetch: (target: Target) => read(pathOf(target)),
      payloads: (target: Target) => {
        const path = pathOf(target)
        // read once, then after every burst of events in the directory (and once the watch is
        // installed, for a change made while it was being installed)
        return Stream.unwrap(Effect.sync(() => {
          let installed: (() => void) | undefined
          const ready = Effect.callback<void>((resume) => {
            installed = () => resume(Effect.void)
          })
          const events = fs.watch(directoryOf(path), { onReady: () => installed?.() }).pipe(
            Stream.debounce(debounce),
            Stream.mapEffect(() => payload(path))
          )
          return Stream.fromEffect(payload(path)).pipe(
            Stream.concat(Stream.merge(events, Stream.fromEffect(Effect.andThen(ready, payload(path)))))
          )
        }))
      }
    })
  })

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

interface Settings<Target> {
  readonly pathOf: (target: Target) => string
  readonly debounce: Duration.Duration
  readonly maxBytes: number
  readonly maxEndpoints: number
}

const readOptions = <Target>(options: {
  readonly path: unknown
  readonly debounce?: unknown
  readonly maxBytes?: unknown
  readonly maxEndpoints?: unknown
}): Settings<Target> | option.Invalid => {
  const path = options.path
  const pathOf = typeof path === "function"
    ? path as (target: Target) => string
    : typeof path === "string" && path.length > 0
    ? () => path
    : undefined
  if (pathOf === undefined) {
    return option.invalid("path", path, "expected a file path, or a function from a target to its file path")
  }
  const debounce = option.millis("debounce", options.debounce, Duration.toMillis(defaultDebounce))
  if (option.isInvalid(debounce)) return debounce
  const maxBytes = option.number("maxBytes", options.maxBytes, defaultMaxBytes, {
    min: 1,
    max: 2 ** 30,
    integer: true
  })
  if (option.isInvalid(maxBytes)) return maxBytes
  const maxEndpoints = option.number("maxEndpoints", options.maxEndpoints, defaultMaxEndpoints, {
    min: 1,
    max: 10_000_000,
    integer: true
  })
  if (option.isInvalid(maxEndpoints)) return maxEndpoints
  return { pathOf, debounce: Duration.millis(debounce), maxBytes, maxEndpoints }
}

/** The directory of `path` (`"."` for a bare file name), on POSIX and Windows separators. */
const directoryOf = (path: string): string => {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"))
  return cut < 0 ? "." : cut === 0 ? path.slice(0, 1) : path.slice(0, cut)
}
