/**
 * Discovery as a stream of per-endpoint events (ServiceTalk's `ServiceDiscovererEvent`):
 * `Available(endpoint)`, `Expired(address)` and `Unavailable(address)`, and the snapshots they
 * fold into.
 *
 * **Details**
 *
 * - `Available` adds an endpoint or replaces its fields, and makes it available again if it had
 *   expired.
 * - `Expired` keeps the endpoint in the snapshot with status `"expired"`: connections already open
 *   to it may still be used, but no new ones are opened and busy ones send work elsewhere.
 * - `Unavailable` removes the endpoint; its connections are to be closed at once.
 * - `Expired` and `Unavailable` for an unknown address change nothing.
 *
 * A {@link Snapshot} keeps the status per endpoint. {@link toEvents} turns a snapshot back into
 * events that rebuild it (`fromEvents(toEvents(s))` equals `s`), and {@link diff} turns two
 * snapshots into a `Change` of their available endpoints.
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Change from "./Change.ts"
import * as Endpoint from "./Endpoint.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * The endpoint is up: use it.
 *
 * @category models
 * @since 0.1.0
 */
export const Available = Schema.TaggedStruct("Available", { endpoint: Endpoint.Endpoint })

/**
 * @category models
 * @since 0.1.0
 */
export interface Available extends Schema.Schema.Type<typeof Available> {}

/**
 * The endpoint is going away: finish on open connections, open no new ones.
 *
 * @category models
 * @since 0.1.0
 */
export const Expired = Schema.TaggedStruct("Expired", { address: Endpoint.Address })

/**
 * @category models
 * @since 0.1.0
 */
export interface Expired extends Schema.Schema.Type<typeof Expired> {}

/**
 * The endpoint is gone: close its connections now.
 *
 * @category models
 * @since 0.1.0
 */
export const Unavailable = Schema.TaggedStruct("Unavailable", { address: Endpoint.Address })

/**
 * @category models
 * @since 0.1.0
 */
export interface Unavailable extends Schema.Schema.Type<typeof Unavailable> {}

/**
 * One discovery event.
 *
 * @category models
 * @since 0.1.0
 */
export const DiscoveryEvent = Schema.Union([Available, Expired, Unavailable])

/**
 * @category models
 * @since 0.1.0
 */
export type DiscoveryEvent = Available | Expired | Unavailable

/**
 * The status an endpoint has in a snapshot.
 *
 * @category models
 * @since 0.1.0
 */
export type Status = "available" | "expired"

/**
 * One endpoint of a snapshot with its status.
 *
 * @category models
 * @since 0.1.0
 */
export interface Entry {
  readonly endpoint: Endpoint.Endpoint
  readonly status: Status
}

/**
 * What a sequence of events says about a service: every known endpoint by address, in the order
 * they first became available, with its status. Immutable: {@link fold} returns a new snapshot.
 *
 * @category models
 * @since 0.1.0
 */
export type Snapshot = ReadonlyMap<Endpoint.Address, Entry>

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * @category constructors
 * @since 0.1.0
 */
export const available = (endpoint: Endpoint.Endpoint): Available => ({ _tag: "Available", endpoint })

/**
 * @category constructors
 * @since 0.1.0
 */
export const expired = (address: Endpoint.Address): Expired => ({ _tag: "Expired", address })

/**
 * @category constructors
 * @since 0.1.0
 */
export const unavailable = (address: Endpoint.Address): Unavailable => ({ _tag: "Unavailable", address })

/**
 * The snapshot that knows no endpoint.
 *
 * @category constructors
 * @since 0.1.0
 */
export const emptySnapshot: Snapshot = new Map()

/**
 * Folds events, in order, into a snapshot (starting from `initial`, empty by default).
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromEvents = (events: Iterable<DiscoveryEvent>, initial: Snapshot = emptySnapshot): Snapshot => {
  const next = new Map(initial)
  for (const event of events) step(next, event)
  return next
}

/**
 * A snapshot where every given endpoint is available.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromEndpoints = (endpoints: Iterable<Endpoint.Endpoint>): Snapshot => {
  const next = new Map<Endpoint.Address, Entry>()
  for (const endpoint of endpoints) next.set(endpoint.address, { endpoint, status: "available" })
  return next
}

// -----------------------------------------------------------------------------
// combinators
// -----------------------------------------------------------------------------

/**
 * Applies one event to a snapshot, returning a new snapshot (the old one is unchanged). Returns
 * the same snapshot when the event changes nothing.
 *
 * @category combinators
 * @since 0.1.0
 */
export const fold = (snapshot: Snapshot, event: DiscoveryEvent): Snapshot => {
  if (event._tag === "Expired" && snapshot.get(event.address)?.status !== "available") return snapshot
  if (event._tag === "Unavailable" && !snapshot.has(event.address)) return snapshot
  const next = new Map(snapshot)
  step(next, event)
  return next
}

/**
 * Events that rebuild a snapshot from empty: `Available` for every endpoint, in order, followed by
 * `Expired` for those that have expired.
 *
 * @category combinators
 * @since 0.1.0
 */
export const toEvents = (snapshot: Snapshot): ReadonlyArray<DiscoveryEvent> => {
  const events: Array<DiscoveryEvent> = []
  for (const entry of snapshot.values()) events.push(available(entry.endpoint))
  for (const entry of snapshot.values()) if (entry.status === "expired") events.push(expired(entry.endpoint.address))
  return events
}

/**
 * The endpoints new work may go to: those with status `"available"`, in snapshot order.
 *
 * @category combinators
 * @since 0.1.0
 */
export const availableEndpoints = (snapshot: Snapshot): ReadonlyArray<Endpoint.Endpoint> => {
  const out: Array<Endpoint.Endpoint> = []
  for (const entry of snapshot.values()) if (entry.status === "available") out.push(entry.endpoint)
  return out
}

/**
 * The change between the available endpoints of two snapshots. An endpoint that expires leaves
 * `all` and shows in `removed`: it takes no new work.
 *
 * @category combinators
 * @since 0.1.0
 */
export const diff = (prev: Snapshot, next: Snapshot, options?: { readonly key?: string | undefined }): Change.Change =>
  Change.diff(availableEndpoints(prev), availableEndpoints(next), options)

/**
 * Events equivalent to a change: `Available` for added and updated endpoints, `Unavailable` for
 * removed ones. `fromEvents(fromChange(diff(a, b)), fromEndpoints(a))` equals `fromEndpoints(b)`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const fromChange = (change: Change.Change): ReadonlyArray<DiscoveryEvent> => [
  ...change.removed.map((endpoint) => unavailable(endpoint.address)),
  ...change.updated.map(available),
  ...change.added.map(available)
]

/**
 * Whether two snapshots hold the same endpoints (equal fields) with the same statuses, ignoring
 * order.
 *
 * @category guards
 * @since 0.1.0
 */
export const equivalent = (a: Snapshot, b: Snapshot): boolean => {
  if (a.size !== b.size) return false
  for (const [address, entry] of a) {
    const other = b.get(address)
    if (other === undefined || other.status !== entry.status || !Endpoint.equals(entry.endpoint, other.endpoint)) {
      return false
    }
  }
  return true
}

/**
 * A short rendering of an event: `+ 10.0.0.1:80 w=1`, `~ 10.0.0.1:80 expired`, `- 10.0.0.1:80`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const format = (event: DiscoveryEvent): string =>
  event._tag === "Available"
    ? `+ ${Endpoint.format(event.endpoint)}`
    : event._tag === "Expired"
    ? `~ ${event.address} expired`
    : `- ${event.address}`

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

const step = (snapshot: Map<Endpoint.Address, Entry>, event: DiscoveryEvent): void => {
  switch (event._tag) {
    case "Available":
      snapshot.set(event.endpoint.address, { endpoint: event.endpoint, status: "available" })
      return
    case "Expired": {
      const entry = snapshot.get(event.address)
      if (entry !== undefined && entry.status !== "expired") {
        snapshot.set(event.address, { ...entry, status: "expired" })
      }
      return
    }
    case "Unavailable":
      snapshot.delete(event.address)
      return
  }
}
