/**
 * The DNS resolver port: SRV and A/AAAA answers **with their TTLs**, which effect's `Dns` drops
 * ("owner names and TTLs are not included because platform resolvers do not report them
 * consistently"). `DnsDiscovery` re-resolves on the TTLs this port reports.
 *
 * Adapters implement it: `NodeResolver` (Node, Bun and Deno through `node:` compatibility) reads
 * A/AAAA from `node:dns` with `{ ttl: true }` and SRV from a small UDP wire client. For tests,
 * {@link makeMemory} is an in-memory resolver whose answers you change while a watcher runs.
 *
 * Experimental: the record shapes may grow (CNAME chains, negative-caching TTLs).
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * One SRV record (RFC 2782): `target:port`, with its `priority` (lower is preferred), `weight`
 * (relative share among records of the same priority, 0 to 65535) and `ttl` in seconds.
 *
 * A `target` of `"."` means "the service is decidedly not available at this domain" (RFC 2782).
 *
 * @category models
 * @since 0.1.0
 */
export interface SrvRecord {
  readonly target: string
  readonly port: number
  readonly priority: number
  readonly weight: number
  /** Seconds (an RFC 2181 TTL with its top bit set is reported as 0). */
  readonly ttl: number
}

/**
 * One A or AAAA record: the address as text (`"10.0.0.1"`, `"2001:db8::1"`) and its `ttl` in
 * seconds.
 *
 * @category models
 * @since 0.1.0
 */
export interface AddressRecord {
  readonly address: string
  readonly ttl: number
}

/**
 * The address family of an A (`4`) or AAAA (`6`) query.
 *
 * @category models
 * @since 0.1.0
 */
export type Family = 4 | 6

/**
 * Why a query failed:
 *
 * - `"NotFound"`: the name does not exist (NXDOMAIN, rcode 3). A name that exists but has no
 *   record of the asked type is **not** an error: the answer is an empty list;
 * - `"ServerFailure"`: the server could not answer (SERVFAIL, rcode 2, or any other error rcode
 *   but those below);
 * - `"Refused"`: the server refused the query (REFUSED, rcode 5, or NOTIMP, rcode 4);
 * - `"Timeout"`: no answer from any server within the timeout;
 * - `"Malformed"`: an answer arrived but is not a valid DNS message for the question (bad
 *   lengths, compression loops, wrong question, bad record data), or the server answered FORMERR;
 * - `"TooLarge"`: the answer is larger than the resolver's limit, or was truncated by the server
 *   (TC bit) and the resolver does not retry over TCP;
 * - `"InvalidName"`: the name asked for is not a valid DNS name (a label over 63 bytes, a name
 *   over 253);
 * - `"Unavailable"`: no server could be reached (no servers configured, a socket error).
 *
 * @category models
 * @since 0.1.0
 */
export type Reason =
  | "NotFound"
  | "ServerFailure"
  | "Refused"
  | "Timeout"
  | "Malformed"
  | "TooLarge"
  | "InvalidName"
  | "Unavailable"

/**
 * Every {@link Reason}, in a fixed order (for tests and exhaustive handling).
 *
 * @category models
 * @since 0.1.0
 */
export const reasons = [
  "NotFound",
  "ServerFailure",
  "Refused",
  "Timeout",
  "Malformed",
  "TooLarge",
  "InvalidName",
  "Unavailable"
] as const satisfies ReadonlyArray<Reason>

/**
 * A DNS query for `name` failed; `reason` says how (see {@link Reason}) and `detail` what was
 * seen (the rcode, the byte offset of a malformed field, the size of an answer).
 *
 * **Example**
 *
 * ```ts
 * import * as Resolver from "@switchyard/core/Resolver"
 *
 * const error = new Resolver.ResolveError({
 *   name: "_http._tcp.api.internal",
 *   reason: "ServerFailure",
 *   detail: "rcode 2 (SERVFAIL)"
 * })
 * console.log(error.message) // DNS query for "_http._tcp.api.internal" failed (ServerFailure): rcode 2 (SERVFAIL)
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class ResolveError extends Schema.TaggedError<ResolveError>()("ResolveError", {
  name: Schema.String,
  reason: Schema.Literals(reasons),
  detail: Schema.String
}) {
  override get message(): string {
    return `DNS query for ${JSON.stringify(this.name)} failed (${this.reason}): ${this.detail}`
  }
}

/**
 * Whether a value is a {@link ResolveError}.
 *
 * @category guards
 * @since 0.1.0
 */
export const isResolveError = (u: unknown): u is ResolveError =>
  typeof u === "object" && u !== null && (u as { readonly _tag?: unknown })._tag === "ResolveError"

/**
 * The resolver service: `srv(name)` and `addresses(name, family)`, each one query, answering the
 * records with their TTLs or failing with a {@link ResolveError}.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Resolver } from "@switchyard/core/Resolver"
 *
 * const program = Effect.gen(function*() {
 *   const resolver = yield* Resolver
 *   const records = yield* resolver.srv("_http._tcp.api.internal")
 *   return records.map((r) => `${r.target}:${r.port} ttl=${r.ttl}`)
 * })
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class Resolver extends Context.Service<Resolver, {
  readonly srv: (name: string) => Effect.Effect<ReadonlyArray<SrvRecord>, ResolveError>
  readonly addresses: (name: string, family: Family) => Effect.Effect<ReadonlyArray<AddressRecord>, ResolveError>
}>()("@switchyard/core/Resolver") {}

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * What an in-memory resolver answers for one name: records, or a failure reason.
 *
 * @category models
 * @since 0.1.0
 */
export type MemoryAnswer<A> = ReadonlyArray<A> | Reason

/**
 * An in-memory resolver and the controls to change its answers.
 *
 * @category models
 * @since 0.1.0
 */
export interface MemoryResolver {
  /** The resolver, to provide as the {@link Resolver} service. */
  readonly resolver: typeof Resolver.Service
  /** Sets what `srv(name)` answers (records, or a failure reason); `undefined` is NXDOMAIN. */
  readonly setSrv: (name: string, answer: MemoryAnswer<SrvRecord> | undefined) => Effect.Effect<void>
  /** Sets what `addresses(name, family)` answers; `undefined` is NXDOMAIN. */
  readonly setAddresses: (
    name: string,
    family: Family,
    answer: MemoryAnswer<AddressRecord> | undefined
  ) => Effect.Effect<void>
  /** How many queries were answered (or failed) so far. */
  readonly queries: Effect.Effect<number>
}

/**
 * Makes an in-memory resolver for tests. Unknown names are NXDOMAIN (`"NotFound"`); a name set to
 * a {@link Reason} fails with that reason.
 *
 * **When to use**
 *
 * Unit tests of DNS discovery under `TestClock`: change the answers between `TestClock.adjust`
 * steps, and count the queries to check the refresh schedule.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Resolver from "@switchyard/core/Resolver"
 *
 * const program = Effect.gen(function*() {
 *   const memory = yield* Resolver.makeMemory()
 *   yield* memory.setSrv("_http._tcp.api", [{ target: "a.api", port: 80, priority: 0, weight: 5, ttl: 30 }])
 *   const records = yield* memory.resolver.srv("_http._tcp.api")
 *   yield* memory.setSrv("_http._tcp.api", "ServerFailure")
 *   return records
 * })
 * ```
 *
 * @category testing
 * @since 0.1.0
 */
export const makeMemory = (): Effect.Effect<MemoryResolver> =>
  Effect.gen(function*() {
    const srvTable = yield* Ref.make(new Map<string, MemoryAnswer<SrvRecord>>())
    const addressTable = yield* Ref.make(new Map<string, MemoryAnswer<AddressRecord>>())
    const count = yield* Ref.make(0)
    const answer = <A>(
      table: Ref.Ref<Map<string, MemoryAnswer<A>>>,
      key: string,
      name: string
    ): Effect.Effect<ReadonlyArray<A>, ResolveError> =>
      Ref.update(count, (n) => n + 1).pipe(
        Effect.andThen(Ref.get(table)),
        Effect.flatMap((map) => {
          const found = map.get(key)
          if (found === undefined) {
            return Effect.fail(new ResolveError({ name, reason: "NotFound", detail: "NXDOMAIN (in-memory resolver)" }))
          }
          if (typeof found === "string") {
            return Effect.fail(new ResolveError({ name, reason: found, detail: `${found} (in-memory resolver)` }))
          }
          return Effect.succeed(found as ReadonlyArray<A>)
        })
      )
    const set = <A>(table: Ref.Ref<Map<string, MemoryAnswer<A>>>, key: string, value: MemoryAnswer<A> | undefined) =>
      Ref.update(table, (map) => {
        const next = new Map(map)
        if (value === undefined) next.delete(key)
        else next.set(key, value)
        return next
      })
    return {
      resolver: Resolver.of({
        srv: (name) => answer(srvTable, name.toLowerCase(), name),
        addresses: (name, family) => answer(addressTable, `${family} ${name.toLowerCase()}`, name)
      }),
      setSrv: (name, value) => set(srvTable, name.toLowerCase(), value),
      setAddresses: (name, family, value) => set(addressTable, `${family} ${name.toLowerCase()}`, value),
      queries: Ref.get(count)
    }
  })

// -----------------------------------------------------------------------------
// layers
// -----------------------------------------------------------------------------

/**
 * A layer providing the {@link Resolver} of a {@link MemoryResolver}.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as Resolver from "@switchyard/core/Resolver"
 *
 * const program = Effect.gen(function*() {
 *   const memory = yield* Resolver.makeMemory()
 *   yield* memory.setAddresses("api.internal", 4, [{ address: "10.0.0.1", ttl: 5 }])
 *   return yield* Resolver.Resolver.use((r) => r.addresses("api.internal", 4)).pipe(
 *     Effect.provide(Resolver.layerMemory(memory))
 *   )
 * })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory = (memory: MemoryResolver): Layer.Layer<Resolver> => Layer.succeed(Resolver, memory.resolver)
