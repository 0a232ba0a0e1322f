/**
 * An endpoint is one instance of a service: where it listens, how much traffic it should take,
 * and what is known about it (CloudWeGo Volo's `Instance`).
 *
 * Endpoints are decoded with `effect/Schema`; bad input gives an {@link EndpointError} naming the
 * field and the value. An endpoint's identity is its canonical address: two endpoints with the
 * same address are the same instance, and a change in weight, tags, zone or priority is an
 * update of it, not a new instance.
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import * as address from "./internal/address.ts"
import * as render from "./internal/render.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * The type of a canonical address: a string branded `@switchyard/Address`.
 *
 * @category models
 * @since 0.1.0
 */
export type Address = typeof CanonicalAddress.Type

const CanonicalAddress = Schema.String.pipe(Schema.brand("@switchyard/Address"))

/**
 * A canonical address: `host:port`, `[ipv6]:port` or `unix:/path`.
 *
 * **Details**
 *
 * Decoding canonicalises: host names are lower-cased and lose a trailing dot, ports lose leading
 * zeros, IPv6 is written as RFC 5952 recommends (`[2001:DB8:0:0::1]:80` → `[2001:db8::1]:80`), and a
 * bare absolute path `/run/app.sock` becomes `unix:/run/app.sock`. IPv4 parts with leading zeros
 * are rejected because they are ambiguous (octal in some resolvers).
 *
 * @category models
 * @since 0.1.0
 */
export const Address = Schema.String.check(
  Schema.makeFilter((text: string) => {
    const parsed = address.parse(text)
    return typeof parsed === "string" ? parsed : true
  })
).pipe(
  Schema.decodeTo(
    CanonicalAddress,
    SchemaTransformation.transform({
      decode: (text: string): string => (address.parse(text) as address.Parsed).text,
      encode: (canonical: string) => canonical
    })
  )
)

/**
 * The weight an endpoint gets when its source gives none: `1`, as in Envoy's
 * `load_balancing_weight` and gRPC's weighted round robin.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultWeight = 1

/**
 * The largest weight accepted: `2^31 - 1`, so weighted pickers can add weights without losing
 * integer precision.
 *
 * @category models
 * @since 0.1.0
 */
export const maxWeight = 2_147_483_647

/**
 * A positive integer weight, at most {@link maxWeight}.
 *
 * @category models
 * @since 0.1.0
 */
export const Weight = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1), Schema.isLessThanOrEqualTo(maxWeight))

/**
 * A priority: a non-negative integer where `0` is the most preferred (Envoy's convention).
 *
 * @category models
 * @since 0.1.0
 */
export const Priority = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThanOrEqualTo(1_000_000))

/** An optional field whose explicit `undefined` decodes as absent (the key is dropped). */
const absentWhenUndefined = <S extends Schema.Top>(schema: S) =>
  Schema.optional(schema).pipe(
    Schema.decodeTo(
      Schema.optionalKey(Schema.toType(schema)),
      SchemaTransformation.transformOptional<S["Type"], S["Type"] | undefined>({
        decode: (value) => Option.filter(value, (v): v is S["Type"] => v !== undefined),
        encode: (value) => value
      })
    )
  )

const withoutUndefined = (tags: Readonly<Record<string, string | undefined>>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const key in tags) {
    const tag = tags[key]
    if (tag !== undefined) out[key] = tag
  }
  return out
}

/**
 * The schema of an endpoint.
 *
 * **Details**
 *
 * Encoded form (what a discovery source gives):
 * `{ address: string, weight?: number, tags?: Record<string, string>, zone?: string, priority?: number }`.
 * `weight` defaults to {@link defaultWeight}, `tags` to `{}`. `zone` and `priority` stay absent when
 * absent. A field (or a tag) given as `undefined` is treated as absent, as JSON would drop it.
 * Excess keys are dropped.
 *
 * @category models
 * @since 0.1.0
 */
export const Endpoint = Schema.Struct({
  address: Address,
  weight: Weight.pipe(Schema.withDecodingDefault(Effect.succeed(defaultWeight))),
  tags: Schema.Record(Schema.String, Schema.UndefinedOr(Schema.String)).pipe(
    Schema.decodeTo(
      Schema.Record(Schema.String, Schema.String),
      SchemaTransformation.transform({
        decode: (tags): Record<string, string> => {
          for (const key in tags) if (tags[key] === undefined) return withoutUndefined(tags)
          return tags as Record<string, string>
        },
        encode: (tags) => tags
      })
    ),
    Schema.withDecodingDefault(Effect.succeed({}))
  ),
  zone: absentWhenUndefined(Schema.NonEmptyString),
  priority: absentWhenUndefined(Priority)
})

/**
 * A decoded endpoint. Plain and immutable; compare with {@link equals}, identify by `address`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Endpoint extends Schema.Schema.Type<typeof Endpoint> {}

/**
 * What a source may give for one endpoint: the encoded object, or just its address string.
 *
 * @category models
 * @since 0.1.0
 */
export type Input = string | Schema.Codec.Encoded<typeof Endpoint>

/**
 * An endpoint failed to decode. `field` is the path of the bad field (`weight`, `tags.zone`, or
 * `[3].address` inside a list), `value` shows what was there.
 *
 * @category errors
 * @since 0.1.0
 */
export class EndpointError extends Schema.TaggedError<EndpointError>()("EndpointError", {
  field: Schema.String,
  value: Schema.String,
  problem: Schema.String
}) {
  override get message(): string {
    return `invalid endpoint ${this.field}: ${this.value} (${this.problem})`
  }
}

// -----------------------------------------------------------------------------
// guards
// -----------------------------------------------------------------------------

/**
 * Whether two endpoints are the same instance (same canonical address).
 *
 * @category guards
 * @since 0.1.0
 */
export const sameIdentity = (a: Endpoint, b: Endpoint): boolean => a.address === b.address

/**
 * Whether two endpoints are equal in every field: address, weight, tags, zone and priority.
 *
 * @category guards
 * @since 0.1.0
 */
export const equals = (a: Endpoint, b: Endpoint): boolean => a.address === b.address && sameAttributes(a, b)

/**
 * Whether two endpoints agree on weight, tags, zone and priority (the fields whose change makes
 * an endpoint `updated`).
 *
 * @category guards
 * @since 0.1.0
 */
export const sameAttributes = (a: Endpoint, b: Endpoint): boolean => {
  if (a === b) return true
  if (a.weight !== b.weight || a.zone !== b.zone || a.priority !== b.priority) return false
  if (a.tags === b.tags) return true
  let count = 0
  for (const key in a.tags) {
    if (a.tags[key] !== b.tags[key] || !Object.hasOwn(b.tags, key)) return false
    count++
  }
  for (const _ in b.tags) count--
  return count === 0
}

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Decodes one endpoint from unknown input: an {@link Input} object or an address string.
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Endpoint } from "@switchyard/core"
 *
 * const ep = Effect.runSync(Endpoint.decode({ address: "API.internal:0443", tags: { az: "a" } }))
 * // { address: "api.internal:443", weight: 1, tags: { az: "a" } }
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const decode = (input: unknown): Effect.Effect<Endpoint, EndpointError> => Effect.fromResult(decodeResult(input))

/**
 * Decodes one endpoint without entering an Effect.
 *
 * @category constructors
 * @since 0.1.0
 */
export const decodeResult = (input: unknown): Result.Result<Endpoint, EndpointError> => {
  const value = typeof input === "string" ? { address: input } : input
  const result = decodeEndpoint(value)
  return Result.isSuccess(result)
    ? Result.succeed(result.success)
    : Result.fail(toEndpointError(result.failure, value, ""))
}

/**
 * Decodes a list of endpoints as one update: all of them or a typed error for the first bad one,
 * whose `field` starts with its index (`[2].weight`). Duplicate addresses are merged, the last
 * occurrence winning (see {@link dedupe}).
 *
 * @category constructors
 * @since 0.1.0
 */
export const decodeAll = (input: unknown): Effect.Effect<ReadonlyArray<Endpoint>, EndpointError> =>
  Effect.fromResult(decodeAllResult(input))

/**
 * {@link decodeAll} without entering an Effect.
 *
 * @category constructors
 * @since 0.1.0
 */
export const decodeAllResult = (input: unknown): Result.Result<ReadonlyArray<Endpoint>, EndpointError> => {
  if (!Array.isArray(input)) {
    return Result.fail(
      new EndpointError({ field: "(list)", value: render.value(input), problem: "expected an array of endpoints" })
    )
  }
  const out: Array<Endpoint> = new Array(input.length)
  for (let i = 0; i < input.length; i++) {
    const item: unknown = input[i]
    const value = typeof item === "string" ? { address: item } : item
    const result = decodeEndpoint(value)
    if (Result.isFailure(result)) return Result.fail(toEndpointError(result.failure, value, `[${i}]`))
    out[i] = result.success
  }
  return Result.succeed(dedupe(out))
}

/**
 * Builds an endpoint from an input known to be valid, throwing the {@link EndpointError} if not.
 * For literals in tests and examples.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeUnsafe = (input: Input): Endpoint => {
  const result = decodeResult(input)
  if (Result.isFailure(result)) throw result.failure
  return result.success
}

/**
 * Merges endpoints that share an address: the last occurrence's fields win, kept at the position
 * of the first occurrence. Returns the input array itself when there are no duplicates.
 *
 * @category combinators
 * @since 0.1.0
 */
export const dedupe = (endpoints: ReadonlyArray<Endpoint>): ReadonlyArray<Endpoint> => {
  const byAddress = new Map<string, Endpoint>()
  for (const endpoint of endpoints) byAddress.set(endpoint.address, endpoint)
  return byAddress.size === endpoints.length ? endpoints : Array.from(byAddress.values())
}

/**
 * Encodes an endpoint back to its plain input form (for JSON, logs and transcripts).
 *
 * @category combinators
 * @since 0.1.0
 */
export const encode = (endpoint: Endpoint): Schema.Codec.Encoded<typeof Endpoint> => encodeEndpoint(endpoint)

/**
 * A short human-readable rendering: `10.0.0.1:80 w=3 zone=a prio=1 {az=a}`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const format = (endpoint: Endpoint): string => {
  let text = `${endpoint.address} w=${endpoint.weight}`
  if (endpoint.zone !== undefined) text += ` zone=${endpoint.zone}`
  if (endpoint.priority !== undefined) text += ` prio=${endpoint.priority}`
  const tags = Object.keys(endpoint.tags).sort()
  if (tags.length > 0) text += ` {${tags.map((k) => `${k}=${endpoint.tags[k]}`).join(",")}}`
  return text
}

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

const decodeEndpoint = Schema.decodeUnknownResult(Endpoint)
const encodeEndpoint = Schema.encodeSync(Endpoint)
const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

const toEndpointError = (error: Schema.SchemaError, input: unknown, prefix: string): EndpointError => {
  const first = formatIssue(error.issue).issues[0]
  const path: ReadonlyArray<PropertyKey> = (first?.path ?? []).map((p) =>
    typeof p === "object" && p !== null && "key" in p ? (p as { key: PropertyKey }).key : (p as PropertyKey)
  )
  let value: unknown = input
  for (const key of path) {
    value = typeof value === "object" && value !== null ? (value as Record<PropertyKey, unknown>)[key] : undefined
  }
  const field = path.length === 0 ? (prefix === "" ? "(endpoint)" : prefix) : joinPath(prefix, path)
  const missing = path.length > 0 && value === undefined
  return new EndpointError({
    field,
    value: missing ? "(missing)" : render.value(value),
    problem: missing ? "required field is missing" : first?.message ?? "invalid value"
  })
}

const joinPath = (prefix: string, path: ReadonlyArray<PropertyKey>): string => {
  let text = prefix
  for (const key of path) {
    const name = String(key)
    text += /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? (text === "" ? name : `.${name}`) : `[${JSON.stringify(name)}]`
  }
  return text
}
