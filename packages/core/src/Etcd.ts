/**
 * Discovery and registration through etcd v3's JSON gateway (`/v3/kv/range`, `/v3/watch`,
 * `/v3/lease/*`), over effect's `HttpClient`: one code path on Node, Bun and Deno
 * (`FetchHttpClient.layer` from `effect/http/FetchHttpClient` works on all three).
 *
 * **Details**
 *
 * - Each endpoint of a target is one key under the target's prefix (default
 *   `/services/<target>/`) whose value is a JSON endpoint, as `Endpoint.decode` reads it:
 *   `{"address":"10.0.0.1:8080","weight":2,"zone":"a","tags":{"v":"3"}}` or just
 *   `"10.0.0.1:8080"`. {@link register} writes exactly that.
 * - {@link discovery} lists the prefix at a revision, then watches it from the next revision (one
 *   long `POST /v3/watch` streaming newline-delimited JSON), applies each batch of events to the
 *   set and emits the whole set after each batch. After a dropped stream, an unreachable or
 *   restarted etcd (retried with a backoff), or a compacted revision, it lists again and goes on:
 *   `Discovery.make` diffs full sets, so a resync is exactly the difference.
 * - **A malformed value never empties the set.** A value that is not a valid endpoint is skipped
 *   (a key that had a good value keeps it) and reported as a rejected update (reason `"Decode"`).
 *   More than `maxEndpoints` keys, or a gateway message over `maxMessageBytes`, are typed
 *   {@link EtcdError}s reported the same way; the last good set stays in force.
 * - Revisions and lease IDs are int64 strings on the wire and are kept as strings (a lease ID is
 *   larger than `Number.MAX_SAFE_INTEGER`).
 * - Optional `auth` (`username` and a `Redacted` password) takes a token from
 *   `/v3/auth/authenticate` and sends it in `Authorization`; a refused token is dropped and a new
 *   one taken on the next try.
 *
 * **Gotchas**
 *
 * - A target with no keys is an empty update, rejected unless `empty: "accept"` (as for every
 *   `Discovery`): deregistering the last instance keeps it in the set by default.
 * - A watch stream that hangs without closing (etcd stopped, not killed) is not detected; etcd's
 *   own progress notifications are not requested.
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Discovery from "./Discovery.ts"
import * as Endpoint from "./Endpoint.ts"
import * as backoff from "./internal/backoff.ts"
import * as option from "./internal/option.ts"
import * as render from "./internal/render.ts"
import type { OptionError } from "./Options.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * Credentials for an etcd with authentication enabled.
 *
 * @category models
 * @since 0.1.0
 */
export interface Auth {
  readonly username: string
  readonly password: Redacted.Redacted<string>
}

/**
 * Options shared by {@link discovery} and {@link register}.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConnectionOptions {
  /** The etcd client URL(s), such as `"http://127.0.0.1:2379"`; tried in turn after a failure. */
  readonly endpoints: string | ReadonlyArray<string>
  /** Credentials, when etcd has authentication enabled. */
  readonly auth?: Auth | undefined
  /** The longest a single request (not a watch) may take (default {@link defaultRequestTimeout}). */
  readonly requestTimeout?: Duration.Input | undefined
  /** The wait between tries after a failure (default {@link defaultBackoff}). */
  readonly backoff?: Discovery.Backoff | undefined
}

/**
 * The default `requestTimeout`: 5 seconds.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultRequestTimeout: Duration.Duration = Duration.seconds(5)

/**
 * The default backoff between tries after a failure: 200 ms, growing 1.6× up to 5 seconds,
 * jittered by ±20% (shorter than `Discovery.defaultBackoff`: an etcd restart takes well under a
 * second, and a watcher should see it come back quickly).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultBackoff: { readonly initial: Duration.Duration; readonly max: Duration.Duration } = {
  initial: Duration.millis(200),
  max: Duration.seconds(5)
}

/**
 * The default `maxEndpoints` of a target: 10,000 keys.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultMaxEndpoints = 10_000

/**
 * The default `maxMessageBytes`: 4 MiB, etcd's own default request limit (`--max-request-bytes`
 * is 1.5 MiB; a range answer of many keys may be larger).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultMaxMessageBytes = 4 * 1024 * 1024

/**
 * The default lease `ttl` of {@link register}: 10 seconds (keep-alives every third of it).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultTtl: Duration.Duration = Duration.seconds(10)

/**
 * Why an etcd request failed:
 *
 * - `"Unavailable"`: no answer (connection refused or reset, a dropped stream, a timeout);
 * - `"Status"`: the gateway answered with an error (`detail` has its code and message);
 * - `"Unauthenticated"`: the credentials or the token were refused;
 * - `"Protocol"`: the answer is not what the gateway sends (not JSON, a missing field);
 * - `"MessageTooLarge"`: one answer or watch message is over `maxMessageBytes`;
 * - `"TooManyEndpoints"`: a target has more than `maxEndpoints` keys;
 * - `"Malformed"`: a value under the prefix is not a valid endpoint;
 * - `"LeaseLost"`: a registration's lease expired or was revoked by someone else (it is granted
 *   again and the key put again).
 *
 * @category models
 * @since 0.1.0
 */
export type Reason =
  | "Unavailable"
  | "Status"
  | "Unauthenticated"
  | "Protocol"
  | "MessageTooLarge"
  | "TooManyEndpoints"
  | "Malformed"
  | "LeaseLost"

/**
 * An etcd request failed, or an answer was refused.
 *
 * **Details**
 *
 * `reason` says how (see {@link Reason}), `etcd` is the etcd URL asked, `detail` what was wrong,
 * with the offending value.
 *
 * @category errors
 * @since 0.1.0
 */
export class EtcdError extends Schema.TaggedError<EtcdError>()("EtcdError", {
  reason: Schema.Literals([
    "Unavailable",
    "Status",
    "Unauthenticated",
    "Protocol",
    "MessageTooLarge",
    "TooManyEndpoints",
    "Malformed",
    "LeaseLost"
  ]),
  etcd: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `etcd ${this.etcd}: ${this.reason}: ${this.detail}`
  }
}

// -----------------------------------------------------------------------------
// guards
// -----------------------------------------------------------------------------

/**
 * Whether a value is an {@link EtcdError}.
 *
 * @category guards
 * @since 0.1.0
 */
export const isEtcdError = (u: unknown): u is EtcdError => u instanceof EtcdError

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * A discovery that lists and watches a key prefix per target in etcd; see the module's
 * documentation.
 *
 * **Details**
 *
 * It needs an `HttpClient` (captured when the effect runs). Invalid options fail the effect with
 * an `Options.OptionError` naming the value. `prefix` gives each target its key prefix (default
 * `` `/services/${target}/` ``).
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Stream } from "effect"
 * import * as FetchHttpClient from "effect/http/FetchHttpClient"
 * import * as Etcd from "@switchyard/core/Etcd"
 *
 * const program = Effect.gen(function*() {
 *   const discovery = yield* Etcd.discovery({ endpoints: "http://127.0.0.1:2379" })
 *   // the first change carries the whole set under /services/api/
 *   return yield* discovery.watch("api").pipe(Stream.take(1), Stream.runCollect)
 * }).pipe(Effect.provide(FetchHttpClient.layer))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const discovery = <Target = string>(
  options: ConnectionOptions & Discovery.Options<Target> & {
    readonly prefix?: ((target: Target) => string) | undefined
    readonly maxEndpoints?: number | undefined
    readonly maxMessageBytes?: number | undefined
  }
): Effect.Effect<Discovery.Discovery<Target>, OptionError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const connection = readConnection(options)
    if (option.isInvalid(connection)) return yield* Effect.fail(option.error("etcd", connection))
    const limits = readLimits(options)
    if (option.isInvalid(limits)) return yield* Effect.fail(option.error("etcd", limits))
    if (options.prefix !== undefined && typeof options.prefix !== "function") {
      return yield* Effect.fail(
        option.error(
          "etcd",
          option.invalid("prefix", options.prefix, "expected a function from a target to its key prefix")
        )
      )
    }
    const prefixOf = options.prefix ?? ((target: Target) => `/services/${String(target)}/`)
    const client = yield* HttpClient.HttpClient
    const gateway = makeGateway(client, connection, limits.maxMessageBytes)
    const made = Discovery.make<Target, EtcdError, never>({
      ...(options.key === undefined ? {} : { key: options.key }),
      ...(options.empty === undefined ? {} : { empty: options.empty }),
      fetch: (target) =>
        Effect.map(gateway.range(prefixOf(target), limits.maxEndpoints), (listed) =>
          listed.kvs.flatMap((kv) => {
            const decoded = decodeValue(kv.value)
            return Result.isSuccess(decoded) ? [Endpoint.encode(decoded.success)] : []
          })),
      payloads: (target) => watchPrefix(gateway, connection, limits, prefixOf(target))
    })
    if (made.error !== undefined) return yield* Effect.fail(made.error)
    return made
  })

/**
 * Registers an endpoint under `key` with a lease for as long as the current `Scope` lives.
 *
 * **Details**
 *
 * - Grants a lease of `ttl` (default {@link defaultTtl}, whole seconds, at least 1), puts the
 *   endpoint's JSON under `key` with it, and keeps the lease alive every third of the TTL in a
 *   fiber of the scope. The effect succeeds once the key is written; it fails with an
 *   {@link EtcdError} when that first grant or put fails.
 * - If a keep-alive finds the lease gone (it expired while etcd was unreachable, or someone
 *   revoked it), a new lease is granted and the key put again; a failed keep-alive is retried
 *   with the backoff.
 * - When the scope closes, the keep-alive stops and the lease is revoked, which deletes the key.
 *   If etcd cannot be reached then, the key goes away when the lease expires.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as FetchHttpClient from "effect/http/FetchHttpClient"
 * import * as Etcd from "@switchyard/core/Etcd"
 *
 * const serve = Effect.scoped(
 *   Effect.gen(function*() {
 *     yield* Etcd.register({
 *       endpoints: "http://127.0.0.1:2379",
 *       key: "/services/api/10.0.0.1:8080",
 *       endpoint: { address: "10.0.0.1:8080", weight: 2 },
 *       ttl: "5 seconds"
 *     })
 *     yield* Effect.never // registered until interrupted
 *   })
 * ).pipe(Effect.provide(FetchHttpClient.layer))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const register = (
  options: ConnectionOptions & {
    readonly key: string
    readonly endpoint: Endpoint.Input
    readonly ttl?: Duration.Input | undefined
  }
): Effect.Effect<void, EtcdError | OptionError, Scope.Scope | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const connection = readConnection(options)
    if (option.isInvalid(connection)) return yield* Effect.fail(option.error("etcd", connection))
    if (typeof options.key !== "string" || options.key.length === 0) {
      return yield* Effect.fail(option.error("etcd", option.invalid("key", options.key, "expected a non-empty key")))
    }
    const ttlMillis = option.millis("ttl", options.ttl, Duration.toMillis(defaultTtl), { min: 1000 })
    if (option.isInvalid(ttlMillis)) return yield* Effect.fail(option.error("etcd", ttlMillis))
    const endpoint = Endpoint.decodeResult(options.endpoint)
    if (Result.isFailure(endpoint)) {
      return yield* Effect.fail(
        option.error("etcd", option.invalid("endpoint", options.endpoint, endpoint.failure.message))
      )
    }
    const ttl = Math.floor(ttlMillis / 1000)
    const value = JSON.stringify(Endpoint.encode(endpoint.success))
    const client = yield* HttpClient.HttpClient
    const gateway = makeGateway(client, connection, defaultMaxMessageBytes)
    const key = options.key
    let lease = ""
    /** whether the key was put with the current lease */
    let written = false
    const grantAndPut = Effect.gen(function*() {
      if (lease === "") {
        lease = yield* gateway.grant(ttl)
        written = false
      }
      if (!written) {
        yield* gateway.put(key, value, lease)
        written = true
      }
    })
    // the first grant and put; a lease granted for a put that failed is revoked
    yield* grantAndPut.pipe(
      Effect.onError(() => lease === "" ? Effect.void : Effect.ignore(gateway.revoke(lease)))
    )
    let failures = 0
    const beat = Effect.gen(function*() {
      const alive = lease !== "" && (yield* gateway.keepAlive(lease))
      if (!alive && lease !== "") {
        yield* Effect.logWarning(
          new EtcdError({
            reason: "LeaseLost",
            etcd: gateway.current(),
            detail: `lease ${lease} of ${key} is gone; granting a new one and putting the key again`
          }).message
        )
        lease = ""
      }
      // a new lease, or a put that failed after its grant
      yield* grantAndPut
    })
    const keepAlive = Effect.gen(function*() {
      while (true) {
        const wait = failures === 0
          ? ttl * 1000 / 3
          : backoff.delay(connection.backoff, failures, yield* Random.next)
        yield* Effect.sleep(Duration.millis(Math.min(wait, ttl * 1000 / 3)))
        const exit = yield* Effect.exit(beat)
        if (exit._tag === "Success") failures = 0
        else {
          failures++
          if (failures === 1) yield* Effect.logWarning(`etcd keep-alive of ${key} failed: ${describe(exit.cause)}`)
        }
      }
    })
    const fiber = yield* Effect.forkDetach(keepAlive)
    yield* Effect.addFinalizer(() =>
      Fiber.interrupt(fiber).pipe(
        Effect.andThen(Effect.suspend(() => gateway.revoke(lease))),
        Effect.ignore
      )
    )
  })

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

interface Connection {
  readonly urls: ReadonlyArray<string>
  readonly auth: Auth | undefined
  readonly timeout: number
  readonly backoff: backoff.Backoff
}

interface Limits {
  readonly maxEndpoints: number
  readonly maxMessageBytes: number
}

const readConnection = (options: ConnectionOptions): Connection | option.Invalid => {
  const given: unknown = options.endpoints
  const list: ReadonlyArray<unknown> = typeof given === "string" ? [given] : Array.isArray(given) ? given : []
  if (list.length === 0) {
    return option.invalid("endpoints", given, "expected an etcd URL or a non-empty array of them")
  }
  const urls: Array<string> = []
  for (const url of list) {
    if (typeof url !== "string" || !/^https?:\/\/[^/]+/.test(url)) {
      return option.invalid("endpoints", url, "expected an http:// or https:// URL such as \"http://127.0.0.1:2379\"")
    }
    urls.push(url.replace(/\/+$/, ""))
  }
  const auth: unknown = options.auth
  if (auth !== undefined) {
    const a = auth as { readonly username?: unknown; readonly password?: unknown }
    if (
      typeof auth !== "object" || auth === null || typeof a.username !== "string" || !Redacted.isRedacted(a.password)
    ) {
      // never render what was given: it may hold a plain password
      return option.invalid(
        "auth",
        typeof auth === "object" && auth !== null ? { username: a.username, password: "(hidden)" } : typeof auth,
        "expected { username: string, password: Redacted<string> }"
      )
    }
  }
  const timeout = option.millis("requestTimeout", options.requestTimeout, Duration.toMillis(defaultRequestTimeout), {
    min: 0,
    minInclusive: false
  })
  if (option.isInvalid(timeout)) return timeout
  const delays = backoff.read(
    options.backoff,
    Duration.toMillis(defaultBackoff.initial),
    Duration.toMillis(defaultBackoff.max)
  )
  if (option.isInvalid(delays)) return delays
  return { urls, auth: auth as Auth | undefined, timeout, backoff: delays }
}

const readLimits = (
  options: { readonly maxEndpoints?: unknown; readonly maxMessageBytes?: unknown }
): Limits | option.Invalid => {
  const maxEndpoints = option.number("maxEndpoints", options.maxEndpoints, defaultMaxEndpoints, {
    min: 1,
    max: 1_000_000,
    integer: true
  })
  if (option.isInvalid(maxEndpoints)) return maxEndpoints
  const maxMessageBytes = option.number("maxMessageBytes", options.maxMessageBytes, defaultMaxMessageBytes, {
    min: 1024,
    max: 1024 * 1024 * 1024,
    integer: true
  })
  if (option.isInvalid(maxMessageBytes)) return maxMessageBytes
  return { maxEndpoints, maxMessageBytes }
}

/** One key-value of a range answer or a watch event, decoded from base64. */
interface KeyValue {
  readonly key: string
  readonly value: string
}

interface Listed {
  readonly revision: string
  readonly kvs: ReadonlyArray<KeyValue>
}

type WatchMessage =
  | { readonly _tag: "Created" }
  | { readonly _tag: "Events"; readonly events: ReadonlyArray<Event> }
  | { readonly _tag: "Compacted"; readonly revision: string }

type Event =
  | { readonly _tag: "Put"; readonly kv: KeyValue }
  | { readonly _tag: "Delete"; readonly key: string }

interface Gateway {
  readonly current: () => string
  readonly range: (prefix: string, maxEndpoints: number) => Effect.Effect<Listed, EtcdError>
  readonly watch: (prefix: string, fromRevision: string) => Stream.Stream<WatchMessage, EtcdError>
  readonly grant: (ttl: number) => Effect.Effect<string, EtcdError>
  readonly put: (key: string, value: string, lease: string) => Effect.Effect<void, EtcdError>
  readonly keepAlive: (lease: string) => Effect.Effect<boolean, EtcdError>
  readonly revoke: (lease: string) => Effect.Effect<void, EtcdError>
}

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()

const toBase64 = (text: string): string => {
  const bytes = textEncoder.encode(text)
  let binary = ""
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]!)
  return btoa(binary)
}

const fromBase64 = (b64: unknown): string | undefined => {
  if (b64 === undefined) return ""
  if (typeof b64 !== "string") return undefined
  try {
    const binary = atob(b64)
    const bytes = new Uint8Array(binary.length)
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
    return textDecoder.decode(bytes)
  } catch {
    return undefined
  }
}

/** The end of a prefix range: the prefix with its last byte plus one (etcd's `WithPrefix`). */
const rangeEnd = (prefix: string): string => {
  const bytes = textEncoder.encode(prefix)
  let end = bytes.length
  while (end > 0 && bytes[end - 1] === 0xff) end--
  if (end === 0) return "AA==" // "\0": every key
  const out = bytes.slice(0, end)
  out[end - 1] = out[end - 1]! + 1
  let binary = ""
  for (let i = 0; i < out.length; i++) binary += String.fromCharCode(out[i]!)
  return btoa(binary)
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const decodeKv = (u: unknown): KeyValue | undefined => {
  if (!isRecord(u)) return undefined
  const key = fromBase64(u["key"])
  const value = fromBase64(u["value"])
  return key === undefined || value === undefined ? undefined : { key, value }
}

const makeGateway = (client: HttpClient.HttpClient, connection: Connection, maxMessageBytes: number): Gateway => {
  let index = 0
  let token: string | undefined
  const current = () => connection.urls[index % connection.urls.length]!
  const next = () => {
    index = (index + 1) % connection.urls.length
  }
  const fail = (reason: Reason, detail: string) => new EtcdError({ reason, etcd: current(), detail })

  /** A bounded read of a response body. */
  const readBody = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<string, EtcdError> =>
    Effect.suspend(() => {
      let size = 0
      return response.stream.pipe(
        Stream.mapError((error) => fail("Unavailable", render.failure(error))),
        Stream.mapEffect((chunk) => {
          size += chunk.length
          return size > maxMessageBytes
            ? Effect.fail(fail("MessageTooLarge", `an answer of more than ${maxMessageBytes} bytes (maxMessageBytes)`))
            : Effect.succeed(chunk)
        }),
        Stream.runCollect,
        Effect.map((parts) => {
          const all = new Uint8Array(size)
          let at = 0
          for (const part of parts) {
            all.set(part, at)
            at += part.length
          }
          return textDecoder.decode(all)
        })
      )
    })

  const parse = (text: string): Result.Result<Record<string, unknown>, EtcdError> => {
    try {
      const parsed: unknown = JSON.parse(text)
      return isRecord(parsed)
        ? Result.succeed(parsed)
        : Result.fail(fail("Protocol", `not a JSON object: ${render.value(text)}`))
    } catch {
      return Result.fail(fail("Protocol", `not JSON: ${render.value(text)}`))
    }
  }

  const gatewayError = (status: number, body: Record<string, unknown> | undefined, text: string): EtcdError => {
    const inner = body !== undefined && isRecord(body["error"]) ? body["error"] : body
    const message = inner === undefined
      ? text.slice(0, 200)
      : String(inner["message"] ?? inner["error"] ?? text.slice(0, 200))
    const code = inner === undefined ? undefined : inner["code"] ?? inner["grpc_code"]
    const unauthenticated = status === 401 || code === 16 ||
      /auth token|authentication failed|user name is empty/i.test(message)
    if (unauthenticated) token = undefined
    return fail(
      unauthenticated ? "Unauthenticated" : "Status",
      `HTTP ${status}${code === undefined ? "" : ` code ${String(code)}`}: ${message}`
    )
  }

  const send = (path: string, body: unknown, authorized: string | undefined) => {
    let request = HttpClientRequest.post(`${current()}${path}`).pipe(
      HttpClientRequest.bodyText(JSON.stringify(body), "application/json")
    )
    if (authorized !== undefined) request = HttpClientRequest.setHeader(request, "authorization", authorized)
    return client.execute(request).pipe(
      Effect.mapError((error) => {
        const e = fail("Unavailable", render.failure(error))
        next()
        return e
      })
    )
  }

  const authenticate: Effect.Effect<string | undefined, EtcdError> = Effect.suspend(() => {
    const auth = connection.auth
    if (auth === undefined || token !== undefined) return Effect.succeed(token)
    return send("/v3/auth/authenticate", { name: auth.username, password: Redacted.value(auth.password) }, undefined)
      .pipe(
        Effect.flatMap((response) =>
          Effect.flatMap(readBody(response), (text) => {
            const parsed = parse(text)
            if (response.status !== 200) {
              const e = gatewayError(response.status, Result.isSuccess(parsed) ? parsed.success : undefined, text)
              return Effect.fail(new EtcdError({ reason: "Unauthenticated", etcd: e.etcd, detail: e.detail }))
            }
            if (Result.isFailure(parsed)) return Effect.fail(parsed.failure)
            const t = parsed.success["token"]
            if (typeof t !== "string") return Effect.fail(fail("Protocol", "authenticate answered no token"))
            token = t
            return Effect.succeed(t as string | undefined)
          })
        ),
        Effect.timeoutOrElse({
          duration: Duration.millis(connection.timeout),
          orElse: () => Effect.fail(fail("Unavailable", `no answer within ${connection.timeout} ms`))
        })
      )
  })

  /** One unary call: the answer's JSON object, or a typed error. */
  const call = (path: string, body: unknown): Effect.Effect<Record<string, unknown>, EtcdError> =>
    authenticate.pipe(
      Effect.flatMap((authorized) => send(path, body, authorized)),
      Effect.flatMap((response) =>
        Effect.flatMap(readBody(response), (text) => {
          const parsed = parse(text)
          if (response.status !== 200) {
            return Effect.fail(
              gatewayError(response.status, Result.isSuccess(parsed) ? parsed.success : undefined, text)
            )
          }
          return Effect.fromResult(parsed)
        })
      ),
      Effect.timeoutOrElse({
        duration: Duration.millis(connection.timeout),
        orElse: () => {
          const e = fail("Unavailable", `no answer to ${path} within ${connection.timeout} ms`)
          next()
          return Effect.fail(e)
        }
      })
    )

  const revisionOf = (body: Record<string, unknown>): string | undefined => {
    const header = body["header"]
    const revision = isRecord(header) ? header["revision"] : undefined
    return typeof revision === "string" && /^\d+$/.test(revision) ? revision : undefined
  }

  const range = (prefix: string, maxEndpoints: number): Effect.Effect<Listed, EtcdError> =>
    Effect.flatMap(
      call("/v3/kv/range", { key: toBase64(prefix), range_end: rangeEnd(prefix), limit: String(maxEndpoints + 1) }),
      (body) => {
        const revision = revisionOf(body)
        if (revision === undefined) return Effect.fail(fail("Protocol", "a range answer without a header revision"))
        const raw = body["kvs"] ?? []
        if (!Array.isArray(raw)) return Effect.fail(fail("Protocol", `kvs is not an array: ${render.value(raw)}`))
        const count = Number(body["count"] ?? raw.length)
        if (raw.length > maxEndpoints || count > maxEndpoints) {
          return Effect.fail(
            fail(
              "TooManyEndpoints",
              `${count} keys under ${JSON.stringify(prefix)}, over the maxEndpoints of ${maxEndpoints}`
            )
          )
        }
        const kvs: Array<KeyValue> = []
        for (const item of raw) {
          const kv = decodeKv(item)
          if (kv === undefined) {
            return Effect.fail(
              fail("Protocol", `a key-value that is not base64: ${render.value(item)}`)
            )
          }
          kvs.push(kv)
        }
        return Effect.succeed({ revision, kvs })
      }
    )

  const watchMessage = (line: string): Result.Result<WatchMessage, EtcdError> => {
    const parsed = parse(line)
    if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
    const body = parsed.success
    if (body["error"] !== undefined) return Result.fail(gatewayError(503, body, line))
    const result = body["result"]
    if (!isRecord(result)) return Result.fail(fail("Protocol", `a watch message without result: ${render.value(line)}`))
    const compact = result["compact_revision"]
    if (typeof compact === "string" && compact !== "0") return Result.succeed({ _tag: "Compacted", revision: compact })
    if (result["canceled"] === true) {
      const reason = String(result["cancel_reason"] ?? "no reason given")
      // a watch refused for its token (etcd answers "created" and "canceled" at once)
      const unauthenticated = /auth token|Unauthenticated|permission denied|user name is empty/i.test(reason)
      if (unauthenticated) token = undefined
      return Result.fail(fail(unauthenticated ? "Unauthenticated" : "Status", `the watch was canceled: ${reason}`))
    }
    const raw = result["events"]
    if (raw === undefined) return Result.succeed({ _tag: "Created" })
    if (!Array.isArray(raw)) return Result.fail(fail("Protocol", `events is not an array: ${render.value(raw)}`))
    const events: Array<Event> = []
    for (const item of raw) {
      const kv = isRecord(item) ? decodeKv(item["kv"]) : undefined
      if (kv === undefined) return Result.fail(fail("Protocol", `an event that is not base64: ${render.value(item)}`))
      events.push(
        (item as Record<string, unknown>)["type"] === "DELETE" ? { _tag: "Delete", key: kv.key } : { _tag: "Put", kv }
      )
    }
    return Result.succeed({ _tag: "Events", events })
  }

  const watch = (prefix: string, fromRevision: string): Stream.Stream<WatchMessage, EtcdError> =>
    Stream.unwrap(Effect.map(authenticate, (authorized) =>
      Stream.fromEffect(
        send("/v3/watch", {
          create_request: { key: toBase64(prefix), range_end: rangeEnd(prefix), start_revision: fromRevision }
        }, authorized)
      ).pipe(
        Stream.flatMap((response) => {
          if (response.status !== 200) {
            return Stream.fromEffect(
              Effect.flatMap(readBody(response), (text) => {
                const parsed = parse(text)
                return Effect.fail(
                  gatewayError(response.status, Result.isSuccess(parsed) ? parsed.success : undefined, text)
                )
              })
            )
          }
          return response.stream.pipe(
            Stream.mapError((error) => fail("Unavailable", `the watch stream broke: ${render.failure(error)}`)),
            Stream.decodeText(),
            boundedLines(maxMessageBytes, () =>
              fail("MessageTooLarge", `a watch message of more than ${maxMessageBytes} bytes (maxMessageBytes)`)),
            Stream.mapEffect((line) =>
              Effect.fromResult(watchMessage(line))
            )
          )
        })
      )))

  const grant = (ttl: number) =>
    Effect.flatMap(call("/v3/lease/grant", { TTL: String(ttl) }), (body) => {
      const id = body["ID"]
      if (typeof id !== "string" || !/^\d+$/.test(id)) {
        return Effect.fail(fail("Protocol", `a lease grant without an ID: ${render.value(body)}`))
      }
      return body["error"] !== undefined && body["error"] !== ""
        ? Effect.fail(fail("Status", String(body["error"])))
        : Effect.succeed(id)
    })

  const put = (key: string, value: string, lease: string) =>
    Effect.asVoid(call("/v3/kv/put", { key: toBase64(key), value: toBase64(value), lease }))

  const keepAlive = (lease: string) =>
    call("/v3/lease/keepalive", { ID: lease }).pipe(
      Effect.map((body) => {
        const result = isRecord(body["result"]) ? body["result"] : body
        const ttl = result["TTL"]
        return typeof ttl === "string" && ttl !== "0" && Number(ttl) > 0
      }),
      Effect.catchIf(
        (e) => e.reason === "Status" && /lease not found/.test(e.detail),
        () => Effect.succeed(false)
      )
    )

  const revoke = (lease: string) => Effect.asVoid(call("/v3/lease/revoke", { ID: lease }))

  return { current, range, watch, grant, put, keepAlive, revoke }
}

/** Splits text into lines, failing when one line grows over `max` characters. */
const boundedLines = <E>(max: number, tooLarge: () => E) => <E2, R>(self: Stream.Stream<string, E2, R>) =>
  Stream.suspend(() => {
    let buffer = ""
    return self.pipe(
      Stream.mapEffect((text): Effect.Effect<ReadonlyArray<string>, E> => {
        buffer += text
        const lines = buffer.split("\n")
        buffer = lines.pop()!
        if (buffer.length > max) return Effect.fail(tooLarge())
        const out: Array<string> = []
        for (const line of lines) {
          if (line.length > max) return Effect.fail(tooLarge())
          const trimmed = line.trim()
          if (trimmed !== "") out.push(trimmed)
        }
        return Effect.succeed(out)
      }),
      Stream.flattenIterable
    )
  })

const decodeValue = (value: string): Result.Result<Endpoint.Endpoint, string> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(value)
  } catch {
    return Result.fail(`not JSON: ${render.value(value)}`)
  }
  const decoded = Endpoint.decodeResult(parsed)
  return Result.isSuccess(decoded) ? Result.succeed(decoded.success) : Result.fail(decoded.failure.message)
}

/**
 * The payloads of one target: list, then watch from the next revision; list again after every
 * stop of the watch (a compaction at once, a failure after the backoff).
 */
const watchPrefix = (
  gateway: Gateway,
  connection: Connection,
  limits: Limits,
  prefix: string
): Stream.Stream<Discovery.Payload> =>
  Stream.suspend(() => {
    /** the last good endpoint of each key */
    let entries = new Map<string, Endpoint.Endpoint>()
    let failures = 0
    let compacted = false

    const snapshot = (malformed: ReadonlyArray<string>): ReadonlyArray<Discovery.Payload> => {
      const out: Array<Discovery.Payload> = []
      if (malformed.length > 0) {
        const shown = malformed.slice(0, 3).join("; ")
        const error = new EtcdError({
          reason: "Malformed",
          etcd: gateway.current(),
          detail: `${malformed.length} value${malformed.length === 1 ? "" : "s"} under ${
            JSON.stringify(prefix)
          } skipped (${shown}${malformed.length > 3 ? "; …" : ""}); a key keeps its last good value`
        })
        out.push(Result.fail(new Discovery.Invalid(error.message)))
      }
      if (entries.size > limits.maxEndpoints) {
        const error = new EtcdError({
          reason: "TooManyEndpoints",
          etcd: gateway.current(),
          detail: `${entries.size} keys under ${
            JSON.stringify(prefix)
          }, over the maxEndpoints of ${limits.maxEndpoints}`
        })
        out.push(Result.fail(new Discovery.Invalid(error.message)))
        return out
      }
      const keys = Array.from(entries.keys()).sort()
      out.push(Result.succeed(keys.map((k) => Endpoint.encode(entries.get(k)!))))
      return out
    }

    const put = (kv: KeyValue, malformed: Array<string>) => {
      const decoded = decodeValue(kv.value)
      if (Result.isSuccess(decoded)) entries.set(kv.key, decoded.success)
      else malformed.push(`${JSON.stringify(kv.key)}: ${decoded.failure}`)
    }

    const failed = (error: EtcdError): ReadonlyArray<Discovery.Payload> => {
      failures++
      return [Result.fail(
        error.reason === "MessageTooLarge" || error.reason === "TooManyEndpoints"
          ? new Discovery.Invalid(error.message)
          : error
      )]
    }

    const cycle: Stream.Stream<Discovery.Payload> = Stream.unwrap(Effect.gen(function*() {
      if (failures > 0) {
        const u = yield* Random.next
        yield* Effect.sleep(Duration.millis(backoff.delay(connection.backoff, failures, u)))
      }
      const listed = yield* Effect.result(gateway.range(prefix, limits.maxEndpoints))
      if (Result.isFailure(listed)) return Stream.fromIterable(failed(listed.failure))
      const previous = entries
      entries = new Map()
      const malformed: Array<string> = []
      for (const kv of listed.success.kvs) {
        put(kv, malformed)
        // a key whose value is malformed keeps its last good value
        if (!entries.has(kv.key)) {
          const kept = previous.get(kv.key)
          if (kept !== undefined) entries.set(kv.key, kept)
        }
      }
      const first = snapshot(malformed)
      const from = (BigInt(listed.success.revision) + 1n).toString()
      const watched = gateway.watch(prefix, from).pipe(
        Stream.takeUntil((message) => message._tag === "Compacted"),
        Stream.mapEffect((message): Effect.Effect<ReadonlyArray<Discovery.Payload>, EtcdError> => {
          switch (message._tag) {
            case "Created":
              failures = 0
              return Effect.succeed([])
            case "Compacted":
              failures = 0
              compacted = true
              return Effect.succeed([])
            case "Events": {
              const malformed: Array<string> = []
              for (const event of message.events) {
                if (event._tag === "Delete") entries.delete(event.key)
                else put(event.kv, malformed)
              }
              return Effect.succeed(snapshot(malformed))
            }
          }
        }),
        Stream.flattenIterable,
        // a watch that ends without a compaction is a dropped stream: list again after the backoff
        Stream.concat(Stream.suspend(() => {
          if (!compacted) failures = Math.max(failures, 1)
          compacted = false
          return Stream.empty
        })),
        Stream.catch((error: EtcdError) => Stream.fromIterable(failed(error)))
      )
      return Stream.concat(Stream.fromIterable(first), watched)
    }))
    return cycle.pipe(Stream.repeat(Schedule.forever))
  })

/** A one-line description of a failure cause. */
const describe = (cause: Cause.Cause<unknown>): string => {
  const first = cause.reasons[0]
  if (first === undefined) return "(an empty cause)"
  if (Cause.isFailReason(first)) return render.failure(first.error)
  if (Cause.isDieReason(first)) return `defect: ${render.failure(first.defect)}`
  return "interrupted"
}
