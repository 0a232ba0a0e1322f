/**
 * Shortest expected delay over `d` random choices, with each endpoint's service time and
 * concurrency learned from what the client observes: send the request to the candidate with the
 * lowest `service time × (pending + 1) / concurrency`, the time it would take that endpoint to
 * clear the requests already there and this one.
 *
 * **When to use**
 *
 * Endpoints that differ in capacity (instance sizes behind one name, unweighted) or whose latency
 * moves fast (noisy neighbours, GC, batch jobs), where `PeakEwma`'s two random choices and 10 s
 * estimate trail the fleet. In the simulator (`Simulator.hardScenarios`, `docs/testing-kit.md`)
 * it stays within about 5% of an oracle with full information on mixed capacities and within
 * about 1.6× on hard latency swings (medians over five seeds), where peak-EWMA is at 1.7× and 2.6×.
 *
 * **Details**
 *
 * - The rule is shortest expected delay (SED) for parallel queues with several servers each
 *   (Whitt, "Deciding Which Queue to Join", 1986), the rule the simulator's oracle follows with
 *   the true state; here every quantity is an estimate.
 * - Choices: `choices` (d, default **5**) distinct endpoints at random, all of them when there
 *   are at most d (Azar et al., "Balanced Allocations", 1994; Mitzenmacher's power of d choices,
 *   as in Prequal's probing of several replicas, Wydrowski et al., NSDI 2024). Two choices are
 *   too few here: an endpoint that is slow or small is forced whenever both samples are bad.
 * - Per endpoint, on each completed request (latency `L`, `p` requests in flight counting it),
 *   with weight `1 − τ/(τ + Δt)` (an EWMA of time constant `decay`, τ, default **1 s**):
 *   `N̄`, the requests in flight, and `L̄`, the latency; the concurrency
 *   `ĉ = 2 + N̄ · ŝ / L̄`, the servers kept busy by Little's law (`N̄ / L̄` is the throughput) plus a
 *   headroom of 2 so an endpoint that is not yet queueing is offered more; and the service time
 *   at low load, `ŝ`, from `L / max(1, p / ĉ)`, the latency with the queueing the concurrency
 *   explains taken out. C3 (Suresh et al., NSDI 2015) scales its queue estimate by the number of
 *   clients for the same reason: what one client sees is only part of the load.
 * - Failures cost: the endpoint's recent failure rate `f` (each outcome weighs 1/4, so a few
 *   failures in a row make it high) multiplies its delay by `1 + failurePenalty · f` (default
 *   **100**), as gRFC A58's error-utilization penalty does, so an endpoint that fails fast does
 *   not attract the traffic its short latency would. On every completion one other endpoint's `f`
 *   is aged by the time since it was last updated (× τ/(τ + Δt)), so an endpoint that stopped
 *   getting requests because it failed is tried again after a few τ; when that endpoint has had no
 *   completion for over τ, its service time moves by the same weight toward the one just
 *   measured, so one that stopped getting requests because it was slow is tried again too (as
 *   peak-EWMA's decay does, but toward the fleet rather than toward zero, so it is not flooded).
 * - An endpoint with no sample yet has `ŝ = defaultLatency` (**30 ms**, tower's and Linkerd's
 *   `DEFAULT_RTT`) and `ĉ = 2`.
 * - The weights `τ/(τ + Δt)` are exactly rounded arithmetic (no `exp`), so a run is the same on
 *   every runtime. The estimates live in the picker, keyed by slot, and survive rebalances; a pick
 *   reads one stored time per request per candidate and its pending count (`internal/choices.ts`),
 *   allocates nothing and reads no clock.
 * - Invalid options (`choices` not an integer in [2, 1024], `decay` not a finite duration > 0,
 *   `defaultLatency` not a finite duration ≥ 0, `failurePenalty` not a number in [0, 10⁶]) give a
 *   policy that `Balancer.make` refuses with a typed error naming the option.
 *
 * **Gotchas**
 *
 * - It learns from its own traffic only: several clients balancing over the same endpoints each
 *   see part of the load, and their estimates of concurrency are lower than the endpoints' own.
 * - The balancer's `slot.cost` is the pending count (`Load.pending`): that is what the panic mode
 *   of `OutlierDetection` and `Health` falls back to.
 *
 * @stability experimental
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as choices from "./internal/choices.ts"
import * as table from "./internal/table.ts"
import * as Load from "./Load.ts"
import * as Policy from "./Policy.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * The default number of random candidates per pick: 5.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultChoices = 5

/**
 * The default time constant of the estimates: 1 second.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultDecay: Duration.Duration = Duration.seconds(1)

/**
 * The default factor of the failure rate in the cost: 100.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultFailurePenalty = 100

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * The shortest-expected-delay policy.
 *
 * **Example**
 *
 * ```ts
 * import { Balancer, type Discovery, ShortestExpectedDelay } from "@switchyard/core"
 *
 * declare const discovery: Discovery.Discovery
 *
 * const policy = ShortestExpectedDelay.make({ choices: 4, decay: "2 seconds" })
 * const balancer = Balancer.make({ discovery, target: "api", policy })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options?: {
  readonly choices?: number | undefined
  readonly decay?: Duration.Input | undefined
  readonly defaultLatency?: Duration.Input | undefined
  readonly failurePenalty?: number | undefined
}): Policy.Policy => {
  const d = Policy.integerOption(NAME, "choices", options?.choices, defaultChoices, 2, 1024)
  if (typeof d !== "number") return Policy.invalid(d)
  const tau = Policy.durationOption(NAME, "decay", options?.decay, defaultDecay, { millis: 0, inclusive: false })
  if (typeof tau !== "number") return Policy.invalid(tau)
  const start = Policy.durationOption(NAME, "defaultLatency", options?.defaultLatency, Load.defaultLatency, {
    millis: 0,
    inclusive: true
  })
  if (typeof start !== "number") return Policy.invalid(start)
  const penalty = Policy.numberOption(
    NAME,
    "failurePenalty",
    options?.failurePenalty,
    defaultFailurePenalty,
    0,
    1_000_000
  )
  if (typeof penalty !== "number") return Policy.invalid(penalty)
  return { name: NAME, make: (context) => picker(context, { d, tau, start, penalty }) }
}

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

const NAME = "shortest-expected-delay"

/** The concurrency assumed beyond the servers an endpoint is seen to keep busy. */
const HEADROOM = 2

/** The weight of one outcome in the failure rate: a few failures in a row make it high. */
const FAILURE_WEIGHT = 0.25

interface Settings {
  readonly d: number
  readonly tau: number
  readonly start: number
  readonly penalty: number
}

/** What the picker knows of one endpoint. */
interface Estimate {
  readonly slot: Policy.Slot
  /** Its position in the picker's arrays. */
  at: number
  /** When `inFlight`, `latency` and `service` were last updated (ms). */
  stamp: number
  /** Requests in flight, as seen at completions (N̄). */
  inFlight: number
  /** Latency (L̄), ms; `-1` before the first sample. */
  latency: number
  /** Service time at low load (ŝ), ms. */
  service: number
  /** Recent failure rate (f), and when it was last updated or aged. */
  failures: number
  aged: number
}

const picker = (context: Policy.Host, settings: Settings): Policy.Picker => {
  const { d, penalty, start, tau } = settings
  // the picker's own order of the slots, and per position the expected time per request (ms)
  const own: Array<Policy.Slot> = []
  const estimates: Array<Estimate> = []
  const bySlot = new Map<Policy.Slot, Estimate>()
  let unit = new Float64Array(16)
  let order = new Int32Array(16)
  let shuffled = true
  let cursor = 0
  const random = context.random

  const concurrency = (e: Estimate): number =>
    HEADROOM + (e.latency > 0 ? e.inFlight * e.service / e.latency : e.latency < 0 ? 0 : e.inFlight)
  const refresh = (e: Estimate): void => {
    unit[e.at] = e.service / concurrency(e) * (1 + penalty * e.failures)
  }
  /** The weight an EWMA of time constant τ keeps after `elapsed` ms: 1 / (1 + elapsed/τ). */
  const keep = (elapsed: number): number => tau / (tau + (elapsed > 0 ? elapsed : 0))
  const reorder = (): void => {
    shuffled = false
    for (let i = 0; i < own.length; i++) order[i] = i
  }
  const pick = (): Policy.Slot | undefined => {
    if (shuffled) reorder()
    const i = choices.best(own, unit, d, order, random)
    return i < 0 ? undefined : own[i]
  }
  const note = `${d} random candidates (every endpoint when there are at most ${d}); the lowest expected delay ` +
    `(ms) = service time × (pending + 1) / concurrency × (1 + ${penalty} × failure rate) wins`

  const self: Policy.Picker = {
    pick,
    explain: () => {
      const chosen = pick()
      const n = own.length
      const candidates = choices.examined(n, d, order).map((i): Policy.Candidate => ({
        address: own[i]!.endpoint.address,
        score: choices.score(own, unit, i)
      }))
      return {
        policy: NAME,
        chosen: chosen?.endpoint.address,
        candidates,
        note: n === 0 ? `${note}; no endpoints` : n === 1 ? `${note}; one endpoint` : note
      }
    },
    added: (slot) => {
      if (bySlot.has(slot)) return
      const at = own.length
      if (at === unit.length) {
        const grown = new Float64Array(at * 2)
        grown.set(unit)
        unit = grown
        order = new Int32Array(at * 2)
        shuffled = true
      }
      const now = context.now()
      const e: Estimate = {
        slot,
        at,
        stamp: now,
        inFlight: 0,
        latency: -1,
        service: start,
        failures: 0,
        aged: now
      }
      own.push(slot)
      estimates.push(e)
      bySlot.set(slot, e)
      order[at] = at
      refresh(e)
    },
    removed: (slot) => {
      const e = bySlot.get(slot)
      if (e === undefined) return
      bySlot.delete(slot)
      const last = estimates.pop()!
      own.pop()
      if (last !== e) {
        last.at = e.at
        estimates[e.at] = last
        own[e.at] = last.slot
        unit[e.at] = unit[own.length]!
      }
      shuffled = true
    },
    updated: () => {},
    rebalanced: () => {
      if (shuffled) reorder()
    },
    observe: (slot, outcome) => {
      const e = bySlot.get(slot)
      if (e === undefined) return
      const now = outcome.now
      const latency = outcome.latency
      const p = slot.pending + 1
      if (e.latency < 0) {
        e.inFlight = p
        e.latency = latency
        e.service = latency
      } else {
        const w = keep(now - e.stamp)
        e.inFlight = e.inFlight * w + p * (1 - w)
        e.latency = e.latency * w + latency * (1 - w)
        const queued = p / concurrency(e)
        e.service = e.service * w + (queued > 1 ? latency / queued : latency) * (1 - w)
      }
      e.stamp = now
      e.failures = e.failures * (1 - FAILURE_WEIGHT) + (outcome.success ? 0 : FAILURE_WEIGHT)
      e.aged = now
      refresh(e)
      // age one other endpoint's failure rate, so one that gets no requests is tried again
      const n = estimates.length
      if (n > 1) {
        cursor = cursor + 1 < n ? cursor + 1 : 0
        const other = estimates[cursor]!
        const silent = other.latency >= 0 && now - other.stamp > tau
        if (other !== e && (other.failures > 0 || silent)) {
          const k = keep(now - other.aged)
          other.failures *= k
          // a service time not measured for over τ moves toward one just measured
          if (silent) other.service = other.service * k + e.service * (1 - k)
          other.aged = now
          refresh(other)
        }
      }
    }
  }
  // this module's own `Balancer.pickUnsafe` (see `table.PickUnsafe`)
  table.fast(self, (invalid) => (hash) => {
    if (hash !== undefined && !table.isHash(hash)) invalid(hash)
    const slot = pick()
    return slot === undefined ? undefined : slot.endpoint
  })
  return self
}
