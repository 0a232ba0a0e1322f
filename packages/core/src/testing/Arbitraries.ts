/**
 * fast-check arbitraries for switchyard's models: addresses in every accepted spelling,
 * endpoints, endpoint sets with duplicates, sequences of sets that overlap (so diffs have
 * additions, updates and removals), discovery event scripts, and malformed payloads that must be
 * rejected.
 *
 * **Example**
 *
 * ```ts
 * import * as fc from "fast-check"
 * import { Change } from "@switchyard/core"
 * import { Arbitraries } from "@switchyard/core/testing"
 *
 * fc.assert(
 *   fc.property(Arbitraries.endpointSet(), Arbitraries.endpointSet(), (prev, next) =>
 *     Change.sameSet(Change.apply(prev, Change.diff(prev, next)), next)),
 *   { seed: 42, numRuns: 1000 }
 * )
 * ```
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as fc from "fast-check"
import * as DiscoveryEvent from "../DiscoveryEvent.ts"
import * as Endpoint from "../Endpoint.ts"

// -----------------------------------------------------------------------------
// addresses
// -----------------------------------------------------------------------------

/**
 * A port, 1-65535, sometimes written with leading zeros (which canonicalise away).
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const port: fc.Arbitrary<string> = fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.nat({ max: 2 })).map((
  [n, zeros]
) => "0".repeat(zeros) + String(n))

/**
 * `a.b.c.d:port`.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const ipv4Address: fc.Arbitrary<string> = fc.tuple(fc.ipV4(), port).map(([ip, p]) => `${ip}:${p}`)

/**
 * `[ipv6]:port`, in the many spellings of RFC 4291 (upper case, leading zeros, `::` anywhere,
 * embedded IPv4), all canonicalised by decoding.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const ipv6Address: fc.Arbitrary<string> = fc.tuple(fc.ipV6(), fc.boolean(), port).map(([ip, upper, p]) =>
  `[${upper ? ip.toUpperCase() : ip}]:${p}`
)

/**
 * `name.example:port`, with mixed case and sometimes a trailing dot.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const hostnameAddress: fc.Arbitrary<string> = fc.tuple(fc.domain(), fc.boolean(), fc.boolean(), port).map((
  [name, upper, dot, p]
) => `${upper ? name.toUpperCase() : name}${dot ? "." : ""}:${p}`)

/**
 * A unix socket path, as `unix:/path` or a bare `/path`.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const unixAddress: fc.Arbitrary<string> = fc.tuple(
  fc.array(fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/), { minLength: 1, maxLength: 4 }),
  fc.boolean()
).map(([parts, prefixed]) => `${prefixed ? "unix:" : ""}/${parts.join("/")}`)

/**
 * Any accepted address spelling.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const address: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: ipv4Address },
  { weight: 2, arbitrary: ipv6Address },
  { weight: 2, arbitrary: hostnameAddress },
  { weight: 1, arbitrary: unixAddress }
)

// -----------------------------------------------------------------------------
// endpoints
// -----------------------------------------------------------------------------

/**
 * Tags with unicode keys and values (including keys such as `__proto__` and `constructor`).
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const tags: fc.Arbitrary<Record<string, string>> = fc.dictionary(
  fc.oneof(
    fc.string({ unit: "grapheme", maxLength: 8 }),
    fc.constantFrom("zone", "version", "__proto__", "constructor", "toString")
  ),
  fc.string({ unit: "grapheme", maxLength: 12 }),
  { maxKeys: 4, noNullPrototype: true }
)

/**
 * A valid endpoint input: an address string alone, or an object with optional weight, tags,
 * zone and priority.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const endpointInput: fc.Arbitrary<Endpoint.Input> = fc.oneof(
  { weight: 1, arbitrary: address },
  {
    weight: 4,
    arbitrary: fc.record(
      {
        address,
        weight: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: Endpoint.maxWeight })),
        tags,
        zone: fc.constantFrom("eu-1a", "eu-1b", "us-2a", "区域"),
        priority: fc.integer({ min: 0, max: 5 })
      },
      { requiredKeys: ["address"] }
    )
  }
)

/**
 * A decoded endpoint.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const endpoint: fc.Arbitrary<Endpoint.Endpoint> = endpointInput.map(Endpoint.makeUnsafe)

/**
 * A list of endpoints; with `duplicates` (the default) some addresses repeat with other fields.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const endpointSet = (options?: {
  readonly minLength?: number | undefined
  readonly maxLength?: number | undefined
  readonly duplicates?: boolean | undefined
}): fc.Arbitrary<ReadonlyArray<Endpoint.Endpoint>> => {
  const list = fc.array(endpoint, { minLength: options?.minLength ?? 0, maxLength: options?.maxLength ?? 20 })
  if (options?.duplicates === false) return list.map(Endpoint.dedupe)
  return fc.tuple(list, fc.array(fc.tuple(fc.nat(), attributes), { maxLength: 3 })).map(([endpoints, copies]) => {
    if (endpoints.length === 0) return endpoints
    const out = [...endpoints]
    for (const [i, attrs] of copies) {
      out.splice(i % (out.length + 1), 0, { ...endpoints[i % endpoints.length]!, ...attrs })
    }
    return out
  })
}

/**
 * A sequence of endpoint sets drawn from one small pool of addresses and attributes, so that
 * consecutive sets overlap: their diffs have additions, updates and removals.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const setSequence = (options?: {
  readonly minLength?: number | undefined
  readonly maxLength?: number | undefined
}): fc.Arbitrary<ReadonlyArray<ReadonlyArray<Endpoint.Endpoint>>> =>
  fc.uniqueArray(address.map((a) => Endpoint.makeUnsafe(a).address), { minLength: 1, maxLength: 12 }).chain((pool) =>
    fc.array(
      fc.array(fc.tuple(fc.constantFrom(...pool), attributes), { maxLength: pool.length + 2 }).map((picks) =>
        picks.map(([addr, attrs]) => ({ address: addr, ...attrs }))
      ),
      { minLength: options?.minLength ?? 1, maxLength: options?.maxLength ?? 8 }
    )
  )

/**
 * A discovery event over a given pool of endpoints.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const discoveryEvent = (
  pool: ReadonlyArray<Endpoint.Endpoint>
): fc.Arbitrary<DiscoveryEvent.DiscoveryEvent> =>
  fc.tuple(fc.constantFrom(...pool), fc.constantFrom("Available", "Expired", "Unavailable"), attributes).map((
    [endpoint, tag, attrs]
  ) =>
    tag === "Available"
      ? DiscoveryEvent.available({ ...endpoint, ...attrs })
      : tag === "Expired"
      ? DiscoveryEvent.expired(endpoint.address)
      : DiscoveryEvent.unavailable(endpoint.address)
  )

/**
 * A script of discovery events with delays (milliseconds) between them, drawn from a small pool
 * so addresses come and go, expire and return.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const eventScript = (options?: {
  readonly maxLength?: number | undefined
}): fc.Arbitrary<ReadonlyArray<{ readonly delay: number; readonly event: DiscoveryEvent.DiscoveryEvent }>> =>
  fc.uniqueArray(endpoint, { minLength: 1, maxLength: 8, selector: (e) => e.address }).chain((pool) =>
    fc.array(fc.record({ delay: fc.integer({ min: 0, max: 5_000 }), event: discoveryEvent(pool) }), {
      maxLength: options?.maxLength ?? 30
    })
  )

// -----------------------------------------------------------------------------
// building blocks
// -----------------------------------------------------------------------------

const attributes = fc.record(
  {
    weight: fc.integer({ min: 1, max: 4 }),
    tags: fc.constantFrom({}, { v: "1" }, { v: "2" }, { v: "1", az: "a" }),
    zone: fc.constantFrom("a", "b")
  },
  { requiredKeys: ["weight", "tags"] }
)

const endpointObject = fc.record({ address, weight: fc.integer({ min: 1, max: 100 }), tags })

const badAddress: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    "",
    "10.0.0.1",
    "10.0.0.1:0",
    "10.0.0.1:65536",
    "10.0.0.1:http",
    "10.0.0.256:80",
    "10.0.0.01:80",
    "::1:80",
    "[::1]",
    "[::1:80",
    "[:::1]:80",
    "[1:2:3:4:5:6:7:8:9]:80",
    "-bad-.example:80",
    "unix:relative/path",
    "unix:",
    `/${"x".repeat(200)}`,
    `/${"é".repeat(60)}`, // 61 UTF-16 units, 121 bytes
    "host name:80",
    "0x7f.0.0.1:80", // resolvers read it as 127.0.0.1
    "127.1:80",
    "db.123:80"
  ),
  fc.constantFrom(null, 80, true, {}, ["10.0.0.1:80"])
)

const badWeight: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Endpoint.maxWeight + 1, "3", null, true),
  fc.integer({ min: -1_000_000, max: 0 })
)

const badTags: fc.Arbitrary<readonly [unknown, string]> = fc.oneof(
  fc.constantFrom<unknown>("az=a", 7, null, true).map((bad) => [bad, "tags"] as const),
  fc.tuple(fc.stringMatching(/^[a-z]{1,6}$/), fc.constantFrom<unknown>(1, null, true, {}, [])).map((
    [key, value]
  ) => [{ [key]: value }, `tags.${key}`] as const)
)

const badZone: fc.Arbitrary<unknown> = fc.constantFrom("", 1, null, true, {})

const badPriority: fc.Arbitrary<unknown> = fc.constantFrom(-1, 0.5, "0", null, 2_000_000, Number.NaN)

// -----------------------------------------------------------------------------
// malformed input
// -----------------------------------------------------------------------------

/**
 * An endpoint input that must fail to decode, with the field that is wrong.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const malformedEndpoint: fc.Arbitrary<{ readonly input: unknown; readonly field: string }> = fc.oneof(
  fc.tuple(endpointObject, badAddress).map(([input, bad]) => ({ input: { ...input, address: bad }, field: "address" })),
  fc.tuple(endpointObject, badWeight).map(([input, bad]) => ({ input: { ...input, weight: bad }, field: "weight" })),
  fc.tuple(endpointObject, badTags).map(([input, [bad, field]]) => ({ input: { ...input, tags: bad }, field })),
  fc.tuple(endpointObject, badZone).map(([input, bad]) => ({ input: { ...input, zone: bad }, field: "zone" })),
  fc.tuple(endpointObject, badPriority).map(([input, bad]) => ({
    input: { ...input, priority: bad },
    field: "priority"
  })),
  endpointObject.map(({ address: _, ...rest }) => ({ input: rest, field: "address" })),
  fc.constantFrom<unknown>(null, 42, true, [], 3.5).map((input) => ({ input, field: "(endpoint)" }))
)

/**
 * A discovery payload that must be rejected whole: a list holding at least one malformed
 * endpoint among good ones, or something that is not a list at all. `field` is the expected
 * `EndpointError.field`.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const malformedPayload: fc.Arbitrary<{ readonly payload: unknown; readonly field: string }> = fc.oneof(
  {
    weight: 9,
    arbitrary: fc.tuple(fc.array(endpointInput, { maxLength: 6 }), malformedEndpoint, fc.nat()).map((
      [good, bad, at]
    ) => {
      const i = at % (good.length + 1)
      const payload: Array<unknown> = [...good.slice(0, i), bad.input, ...good.slice(i)]
      return { payload, field: bad.field === "(endpoint)" ? `[${i}]` : `[${i}].${bad.field}` }
    })
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(null, undefined, "10.0.0.1:80", 7, { endpoints: [] }).map((payload) => ({
      payload,
      field: "(list)"
    }))
  }
)
