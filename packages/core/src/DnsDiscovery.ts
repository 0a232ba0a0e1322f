/**
 * DNS discovery: the endpoints of a DNS name, re-resolved on a schedule that honours the answer's
 * TTLs. The target of the discovery is the name.
 *
 * - {@link srv}: every SRV record is an endpoint `target:port`, its weight the SRV weight, its
 *   priority the SRV priority.
 * - {@link addresses}: every A (or AAAA) address of the name is an endpoint on a fixed `port`.
 *
 * **Refresh.** After a good answer the next query waits for the answer's smallest TTL, clamped to
 * `[minTtl, maxTtl]` (default 5 seconds to 5 minutes), then shortened by a random jitter of up
 * to `jitter` (default 10%) of it, so that clients that started together spread out and no
 * refresh comes later than the TTL (Envoy's `respect_dns_ttl`, `dns_min_refresh_rate` 5 s and
 * `dns_jitter`). After a failed query the wait is the failure backoff instead (Envoy's
 * `dns_failure_refresh_rate`; default `Discovery.defaultBackoff`: 1 s growing 1.6× to 30 s,
 * ±20%). Time is Effect's `Clock` and randomness Effect's `Random`, so `TestClock` and
 * `Random.withSeed` drive it.
 *
 * **Failures keep the last good set.** NXDOMAIN, SERVFAIL, a timeout, a refused or malformed
 * answer, a resolver that does not answer within `timeout` — every `Resolver.ResolveError` — is
 * a rejected update (`Discovery`'s rules: reason
 * `"Fetch"`, or `"Decode"` for a malformed or too large answer, with the resolver's reason in
 * the detail), and the set a watcher serves stays as it was. An empty answer is rejected too,
 * unless `empty: "accept"`. An answer with more than `maxEndpoints` endpoints is rejected with
 * reason `"Decode"`.
 *
 * **Options.** Both constructors are Effects that need a `Resolver` (`NodeResolver.layer` from
 * `@switchyard/adapter-node` on Node, Bun and Deno); an invalid option fails them with an
 * `Options.OptionError` of module `"dns-discovery"` naming the option and the value, and nothing is
 * resolved.
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as Discovery from "./Discovery.ts"
import type * as Endpoint from "./Endpoint.ts"
import * as backoff from "./internal/backoff.ts"
import * as option from "./internal/option.ts"
import type { OptionError } from "./Options.ts"
import * as Resolver from "./Resolver.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * The least wait between two good queries by default: 5 seconds (Envoy's `dns_refresh_rate` and
 * `dns_min_refresh_rate`). A TTL of 0 waits this long.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultMinTtl: Duration.Duration = Duration.seconds(5)

/**
 * The longest wait between two good queries by default: 5 minutes (ours), so that a record with a
 * day-long TTL is still looked at again.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultMaxTtl: Duration.Duration = Duration.minutes(5)

/**
 * The default jitter: each wait is shortened by a random fraction of up to 10% of it.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultJitter = 0.1

/**
 * The default greatest number of endpoints one answer may give: 1000 (ours; a 64 KiB DNS message
 * holds at most about 4000 A records).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultMaxEndpoints = 1000

/**
 * Options of both constructors.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options extends Discovery.Options<string> {
  /** The least wait after a good answer (default {@link defaultMinTtl}); must be positive. */
  readonly minTtl?: Duration.Input | undefined
  /** The longest wait after a good answer (default {@link defaultMaxTtl}, raised to `minTtl`). */
  readonly maxTtl?: Duration.Input | undefined
  /** The largest fraction a wait is shortened by, at random: 0 to 0.5 (default {@link defaultJitter}). */
  readonly jitter?: number | undefined
  /** The wait after failed queries (default `Discovery.defaultBackoff`). */
  readonly backoff?: Discovery.Backoff | undefined
  /** The most endpoints one answer may give, 1 to 1,000,000 (default {@link defaultMaxEndpoints}). */
  readonly maxEndpoints?: number | undefined
  /**
   * The longest one resolution may take before it counts as a failed query of reason `"Timeout"`
   * (default `Discovery.defaultPollTimeout`, 10 seconds; may be infinite). The resolver's own
   * per-server timeout is usually shorter; this bounds a resolver that never answers.
   */
  readonly timeout?: Duration.Input | undefined
}

/**
 * The address families {@link addresses} asks for: `4` (A records, the default), `6` (AAAA) or
 * `"both"` (A and AAAA; both queries must succeed, an empty answer counting as a success).
 *
 * @category models
 * @since 0.1.0
 */
export type Families = Resolver.Family | "both"

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Discovers the SRV records of a name (`_http._tcp.api.internal`): one endpoint `target:port` per
 * record.
 *
 * **Details**
 *
 * - The endpoint's `weight` is the SRV weight, except that an SRV weight of 0 becomes 1 (the
 *   least weight an endpoint can have): RFC 2782 gives weight-0 records "a very small chance" of
 *   being picked when others have a weight, so such a record gets about a 1/(sum of weights)
 *   share rather than none; records that are all weight 0 get equal shares, as the RFC says.
 * - The endpoint's `priority` is the SRV priority (0 to 65535; lower is preferred).
 * - A record whose target is `"."` ("decidedly not available", RFC 2782) gives no endpoint.
 * - Two records for the same `target:port` give one endpoint: the one with the lower priority
 *   (then the higher weight).
 * - The target is the name as the record gives it (lower-cased, no trailing dot): resolving it to
 *   addresses is the connector's job.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Stream } from "effect"
 * import * as DnsDiscovery from "@switchyard/core/DnsDiscovery"
 * import * as Resolver from "@switchyard/core/Resolver"
 *
 * const program = Effect.gen(function*() {
 *   const discovery = yield* DnsDiscovery.srv({ minTtl: "1 second", maxTtl: "1 minute" })
 *   return yield* discovery.watch("_http._tcp.api.internal").pipe(Stream.take(1), Stream.runCollect)
 * })
 * // provide a Resolver: NodeResolver.layer() from @switchyard/adapter-node, or in tests:
 * const test = Effect.gen(function*() {
 *   const memory = yield* Resolver.makeMemory()
 *   yield* memory.setSrv("_http._tcp.api.internal", [
 *     { target: "a.api.internal", port: 8080, priority: 0, weight: 10, ttl: 30 }
 *   ])
 *   return yield* Effect.provide(program, Resolver.layerMemory(memory))
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const srv = (options?: Options): Effect.Effect<Discovery.Discovery<string>, OptionError, Resolver.Resolver> =>
  Effect.flatMap(Resolver.Resolver, (resolver) => {
    const settings = readOptions(options)
    if (option.isInvalid(settings)) return Effect.fail(option.error("dns-discovery", settings))
    return Effect.succeed(build(settings, options, (name) =>
      Effect.map(resolver.srv(name), (records) => {
        const kept = new Map<string, Resolver.SrvRecord>()
        for (const record of records) {
          const target = canonicalName(record.target)
          if (target === "") continue
          const address = `${target}:${record.port}`
          const seen = kept.get(address)
          if (
            seen === undefined || record.priority < seen.priority ||
            (record.priority === seen.priority && record.weight > seen.weight)
          ) kept.set(address, record)
        }
        const endpoints: Array<Endpoint.Input> = []
        for (const [address, record] of kept) {
          endpoints.push({ address, weight: Math.max(1, record.weight), priority: record.priority })
        }
        return { endpoints, ttl: minTtlOf(records) }
      })))
  })

/**
 * Discovers the A (or AAAA) addresses of a name: one endpoint `address:port` per address
 * (`[address]:port` for IPv6), each of weight 1.
 *
 * **Details**
 *
 * `port` is required (an integer from 1 to 65535). `family` is `4` by default; with `"both"`, the
 * A and AAAA queries must both succeed (a name with only A records answers AAAA with an empty
 * list, which is a success), and the wait is the least TTL of both.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as DnsDiscovery from "@switchyard/core/DnsDiscovery"
 *
 * const program = Effect.gen(function*() {
 *   const discovery = yield* DnsDiscovery.addresses({ port: 8080, family: "both" })
 *   return yield* discovery.discover("api.internal")
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const addresses = (
  options: Options & { readonly port: number; readonly family?: Families | undefined }
): Effect.Effect<Discovery.Discovery<string>, OptionError, Resolver.Resolver> =>
  Effect.flatMap(Resolver.Resolver, (resolver) => {
    const settings = readOptions(options)
    const port = readPort(options?.port)
    const family = readFamily(options?.family)
    const invalid = option.isInvalid(settings)
      ? settings
      : option.isInvalid(port)
      ? port
      : option.isInvalid(family)
      ? family
      : undefined
    if (invalid !== undefined) return Effect.fail(option.error("dns-discovery", invalid))
    const families: ReadonlyArray<Resolver.Family> = family === "both" ? [4, 6] : [family as Resolver.Family]
    return Effect.succeed(build(settings as Settings, options, (name) =>
      Effect.map(
        Effect.forEach(families, (f) => resolver.addresses(name, f), { concurrency: "unbounded" }),
        (answers) => {
          const records = answers.flat()
          const endpoints: Array<Endpoint.Input> = records.map((r) =>
            r.address.includes(":") ? `[${r.address}]:${port}` : `${r.address}:${port}`
          )
          return { endpoints, ttl: minTtlOf(records) }
        }
      )))
  })

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

interface Settings {
  readonly minTtl: number
  readonly maxTtl: number
  readonly jitter: number
  readonly backoff: backoff.Backoff
  readonly maxEndpoints: number
  readonly timeout: number
}

/** One resolution: the endpoints, and the least TTL of the records in seconds (`undefined`: none). */
interface Answer {
  readonly endpoints: ReadonlyArray<Endpoint.Input>
  readonly ttl: number | undefined
}

const readOptions = (options: Options | undefined): Settings | option.Invalid => {
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    return option.invalid("options", options, "expected an object of options")
  }
  if (options?.key !== undefined && typeof options.key !== "function") {
    return option.invalid("key", options.key, "expected a function from a target to its key")
  }
  const empty: unknown = options?.empty
  if (empty !== undefined && empty !== "reject" && empty !== "accept") {
    return option.invalid(
      "empty",
      empty,
      `expected "reject" or "accept"`,
      typeof empty === "string" ? "UnknownChoice" : "WrongType"
    )
  }
  const minTtl = option.millis("minTtl", options?.minTtl, Duration.toMillis(defaultMinTtl), {
    min: 0,
    minInclusive: false
  })
  if (option.isInvalid(minTtl)) return minTtl
  const maxTtl = option.millis("maxTtl", options?.maxTtl, Math.max(Duration.toMillis(defaultMaxTtl), minTtl), {
    min: minTtl
  })
  if (option.isInvalid(maxTtl)) return maxTtl
  const jitter = option.number("jitter", options?.jitter, defaultJitter, { min: 0, max: 0.5 })
  if (option.isInvalid(jitter)) return jitter
  const delays = backoff.read(
    options?.backoff,
    Duration.toMillis(Discovery.defaultBackoff.initial),
    Duration.toMillis(Discovery.defaultBackoff.max)
  )
  if (option.isInvalid(delays)) return delays
  const maxEndpoints = option.number("maxEndpoints", options?.maxEndpoints, defaultMaxEndpoints, {
    min: 1,
    max: 1_000_000,
    integer: true
  })
  if (option.isInvalid(maxEndpoints)) return maxEndpoints
  const timeout = option.millis("timeout", options?.timeout, Duration.toMillis(Discovery.defaultPollTimeout), {
    min: 0,
    minInclusive: false,
    infinite: true
  })
  if (option.isInvalid(timeout)) return timeout
  return { minTtl, maxTtl, jitter, backoff: delays, maxEndpoints, timeout }
}

const readPort = (input: unknown): number | option.Invalid =>
  input === undefined
    ? option.invalid("port", input, "expected the port of every address, an integer from 1 to 65535")
    : option.number("port", input, 0, { min: 1, max: 65535, integer: true })

const readFamily = (input: unknown): Families | option.Invalid => {
  if (input === undefined) return 4
  if (input === 4 || input === 6 || input === "both") return input
  return option.invalid(
    "family",
    input,
    `expected 4, 6 or "both"`,
    typeof input === "string" || typeof input === "number" ? "UnknownChoice" : "WrongType"
  )
}

/** The wait in ms after a good answer whose least TTL is `ttl` seconds, given a uniform draw `u`. */
const refreshDelay = (
  settings: { readonly minTtl: number; readonly maxTtl: number; readonly jitter: number },
  ttl: number | undefined,
  u: number
): number => {
  const base = Math.min(settings.maxTtl, Math.max(settings.minTtl, (ttl ?? 0) * 1000))
  return base * (1 - settings.jitter * u)
}

const minTtlOf = (records: ReadonlyArray<{ readonly ttl: number }>): number | undefined => {
  let least: number | undefined
  for (const record of records) {
    const ttl = Number.isFinite(record.ttl) && record.ttl > 0 ? record.ttl : 0
    if (least === undefined || ttl < least) least = ttl
  }
  return least
}

/** A name as an endpoint host: lower-cased, without the trailing dot; `""` for the root ("."). */
const canonicalName = (name: string): string => {
  const lower = name.toLowerCase()
  return lower.endsWith(".") ? lower.slice(0, -1) : lower
}

/** The failure a resolver error becomes: a malformed or too large answer is an answer that does not decode. */
const payloadFailure = (error: Resolver.ResolveError): unknown =>
  error.reason === "Malformed" || error.reason === "TooLarge" ? new Discovery.Invalid(error.message) : error

const build = (
  settings: Settings,
  options: Discovery.Options<string> | undefined,
  resolve: (name: string) => Effect.Effect<Answer, Resolver.ResolveError>
): Discovery.Discovery<string> => {
  const bounded = (name: string): Effect.Effect<Answer, Resolver.ResolveError> =>
    settings.timeout === Infinity ? resolve(name) : Effect.timeoutOrElse(resolve(name), {
      duration: Duration.millis(settings.timeout),
      orElse: () =>
        Effect.fail(
          new Resolver.ResolveError({
            name,
            reason: "Timeout",
            detail: `the resolver did not answer within ${settings.timeout} ms`
          })
        )
    })
  /** One query as a payload, whether the query failed, and how long to wait before the next one. */
  const once = (name: string, failures: number) =>
    Effect.exit(bounded(name)).pipe(
      Effect.flatMap((exit) =>
        Effect.map(Random.next, (u): readonly [Discovery.Payload, boolean, number] => {
          if (exit._tag === "Failure") {
            const error = exit.cause.reasons.find((r) => r._tag === "Fail")
            const failure = error !== undefined && Resolver.isResolveError(error.error)
              ? payloadFailure(error.error)
              : exit.cause
            return [Result.fail(failure), true, backoff.delay(settings.backoff, failures + 1, u)]
          }
          const answer = exit.value
          const wait = refreshDelay(settings, answer.ttl, u)
          if (answer.endpoints.length > settings.maxEndpoints) {
            const detail = `the answer for ${
              JSON.stringify(name)
            } has ${answer.endpoints.length} endpoints, more than maxEndpoints ${settings.maxEndpoints}`
            return [Result.fail(new Discovery.Invalid(detail)), false, wait]
          }
          return [Result.succeed(answer.endpoints), false, wait]
        })
      )
    )
  return Discovery.make<string, unknown, never>({
    ...(options?.key === undefined ? {} : { key: options.key }),
    ...(options?.empty === undefined ? {} : { empty: options.empty }),
    fetch: (name) =>
      Effect.flatMap(
        once(name, 0),
        ([payload]) => Result.isSuccess(payload) ? Effect.succeed(payload.success) : Effect.fail(payload.failure)
      ),
    payloads: (name) =>
      Stream.suspend(() => {
        let failures = 0
        let wait = 0
        const step = Effect.gen(function*() {
          if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
          const [payload, failed, next] = yield* once(name, failures)
          failures = failed ? failures + 1 : 0
          wait = next
          return payload
        })
        return Stream.fromEffectRepeat(step)
      })
  })
}
