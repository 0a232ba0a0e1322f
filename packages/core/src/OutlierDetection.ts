/**
 * Outlier detection: a policy wrapper that ejects hosts whose requests fail much
 * more than their peers' and brings them back after an ejection time that grows with each
 * ejection (Envoy's outlier detection, "Outlier detection" in the Envoy architecture overview and
 * `envoy.config.cluster.v3.OutlierDetection`; gRPC's `outlier_detection` policy, gRFC A50). The
 * inner picker never sees an ejected host.
 *
 * **Detectors**
 *
 * - **Consecutive failures** (Envoy `consecutive_5xx`): a host whose requests fail
 *   `consecutiveFailures` times in a row is ejected at once, on the failing outcome (subject to
 *   the cap below); a success resets the count, and so does an attempt the cap refused.
 * - **Success rate** (Envoy, A50 "Success Rate Algorithm"): at each interval, among the hosts that
 *   are not ejected and had at least `requestVolume` requests in it, if there are at least
 *   `minimumHosts`, eject those whose success rate is below `mean − stdevFactor · stdev`
 *   (population standard deviation), worst first.
 * - **Failure percentage** (Envoy, A50 "Failure Percentage Algorithm"): at each interval, if there
 *   are at least `minimumHosts` hosts, eject each non-ejected host with at least `requestVolume`
 *   requests whose failure percentage is at least `threshold` (Envoy's and A50's config text say
 *   "greater than or equal"), worst first.
 *
 * Which failures count is `isFailure(error)` (every failure by default); any other outcome is a
 * success, as a 4xx is for Envoy's 5xx detectors. Enforcement percentages (A50's random
 * `enforcement_percentage` draw) are not offered: a configured detector always enforces.
 *
 * **Ejection** (A50 "Ejection and Un-ejection", Envoy): an ejection increments the host's
 * multiplier and lasts `min(baseEjectionTime × multiplier, max(baseEjectionTime,
 * maxEjectionTime))`. The multiplier stops growing once `multiplier × base ≥ max + base` (Envoy's
 * `ejectTimeBackoff`; A50 lets it grow unbounded, which only lengthens the decay). At each interval
 * the multiplier of every host that is not ejected drops by one. Un-ejection happens at the
 * moment the ejection time has passed (A50 and Envoy wait for the next interval sweep, which
 * rounds the time up to a multiple of the interval).
 *
 * **The cap** follows gRFC A50 exactly: before each ejection, if the ejected share
 * `ejected / hosts` is **greater than** `maxEjectionPercent`, stop. So an ejection is allowed while
 * `100 · ejected ≤ maxEjectionPercent · hosts`, and at most `⌊maxEjectionPercent · hosts / 100⌋ + 1`
 * hosts are ejected at once (never more than all): at least one host can be ejected whatever the
 * percentage, as A50's config text says ("will eject at least one address regardless of the
 * value"). With 10% that is 1 of 1–9 hosts, 2 of 10–19. (Envoy is stricter: `(ejected + 1) / hosts`
 * must stay at or below the percentage, which allows none of 9 hosts.) When removals shrink the
 * set so that the ejected hosts exceed that bound, the ones due back first are un-ejected at once,
 * so the bound holds at all times.
 *
 * **Panic** (Envoy `healthy_panic_threshold`): when the share of hosts that are not ejected falls
 * below `panicThreshold` percent, picks go to all hosts (power of two choices by pending
 * requests), ejected or not, as Envoy's load balancer does in panic mode, and `excluded()` reports
 * 0. `0` turns panic off: then, with every host ejected, picks fail with
 * `Balancer.AllEndpointsExcluded`.
 *
 * **Pure and clock-driven.** No fiber runs: the interval sweeps and un-ejections happen lazily,
 * on the first pick, outcome or rebalance at or after the next deadline (`context.now()` against
 * one cached number), so the wrapper behaves the same in a `Balancer` and in the deterministic
 * simulator. Intervals that passed with no traffic are caught up in one step. Counts are per
 * interval (A50's call counter buckets).
 *
 * **Defaults** (Envoy `OutlierDetection` and A50 `OutlierDetectionLoadBalancingConfig`):
 * `interval` **10 s**, `baseEjectionTime` **30 s**, `maxEjectionTime` **300 s**,
 * `maxEjectionPercent` **10**; `consecutiveFailures` **5** (Envoy `consecutive_5xx`, enforcing
 * 100%); success rate **on** with `stdevFactor` **1.9** (`success_rate_stdev_factor` 1900 / 1000),
 * `minimumHosts` **5**, `requestVolume` **100** (Envoy `enforcing_success_rate` 100%); failure
 * percentage **off** (Envoy `enforcing_failure_percentage` defaults to 0, and A50 runs it only
 * when configured), and when turned on `threshold` **85**, `minimumHosts` **5**, `requestVolume`
 * **50**; `panicThreshold` **50** (Envoy `healthy_panic_threshold`). Invalid options give a policy
 * whose `error` makes `Balancer.make` fail with a typed `OptionError` naming the option and value.
 *
 * **Gotchas**
 *
 * - The detectors see only requests made through the balancer (`Balancer.use`, `useEndpoint`);
 *   interrupted requests are not outcomes.
 * - A wrapped `Health` (or any inner wrapper) sees an ejection as a removal of the host and an
 *   un-ejection as an addition.
 * - Hash-based inner policies lose their affinity in panic mode.
 *
 * @stability experimental
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import { dual } from "effect/Function"
import * as eligible from "./internal/eligible.ts"
import { OptionError } from "./Options.ts"
import * as Policy from "./Policy.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * Options of {@link make}.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Whether a failure counts (default: every failure counts); other outcomes are successes. */
  readonly isFailure?: ((error: unknown) => boolean) | undefined
  /** Time between sweeps of the success-rate and failure-percentage detectors (default 10 s). */
  readonly interval?: Duration.Input | undefined
  /** Ejection time of a first ejection; the n-th lasts n times this (default 30 s). */
  readonly baseEjectionTime?: Duration.Input | undefined
  /** The longest ejection; at least `baseEjectionTime` applies (default 300 s). */
  readonly maxEjectionTime?: Duration.Input | undefined
  /** The cap on the ejected share, an integer percentage from 0 to 100 (default 10; see the module doc). */
  readonly maxEjectionPercent?: number | undefined
  /** Below this percentage of non-ejected hosts, pick among all hosts (default 50; 0 turns panic off). */
  readonly panicThreshold?: number | undefined
  /** Consecutive failures that eject a host at once (default 5), or `false` for none. */
  readonly consecutiveFailures?: number | false | undefined
  /** The success-rate detector: `true` or settings to run it, `false` to not (default on). */
  readonly successRate?: boolean | SuccessRate | undefined
  /** The failure-percentage detector: `true` or settings to run it, `false` to not (default off). */
  readonly failurePercentage?: boolean | FailurePercentage | undefined
}

/**
 * Settings of the success-rate detector.
 *
 * @category models
 * @since 0.1.0
 */
export interface SuccessRate {
  /** Eject below `mean − stdevFactor · stdev` (default 1.9). */
  readonly stdevFactor?: number | undefined
  /** Hosts with enough volume needed to run at all (default 5). */
  readonly minimumHosts?: number | undefined
  /** Requests in the interval for a host to count (default 100). */
  readonly requestVolume?: number | undefined
}

/**
 * Settings of the failure-percentage detector.
 *
 * @category models
 * @since 0.1.0
 */
export interface FailurePercentage {
  /** Eject at or above this failure percentage, 0 to 100 (default 85). */
  readonly threshold?: number | undefined
  /** Hosts needed to run at all (default 5). */
  readonly minimumHosts?: number | undefined
  /** Requests in the interval for a host to be judged (default 50). */
  readonly requestVolume?: number | undefined
}

/**
 * Time between detector sweeps: 10 seconds (Envoy `interval`, A50).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultInterval: Duration.Duration = Duration.seconds(10)

/**
 * Ejection time of a first ejection: 30 seconds (Envoy `base_ejection_time`, A50).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultBaseEjectionTime: Duration.Duration = Duration.seconds(30)

/**
 * The longest ejection: 300 seconds (Envoy `max_ejection_time`, A50).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultMaxEjectionTime: Duration.Duration = Duration.seconds(300)

/**
 * The cap on the ejected share: 10 percent (Envoy `max_ejection_percent`, A50).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultMaxEjectionPercent = 10

/**
 * The panic threshold: 50 percent of hosts not ejected (Envoy `healthy_panic_threshold`).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultPanicThreshold = 50

/**
 * Consecutive failures that eject a host: 5 (Envoy `consecutive_5xx`).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultConsecutiveFailures = 5

/**
 * Success-rate defaults: factor 1.9 (Envoy `success_rate_stdev_factor` 1900 / 1000), 5 hosts
 * (`success_rate_minimum_hosts`), 100 requests (`success_rate_request_volume`); also A50's.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultSuccessRate = { stdevFactor: 1.9, minimumHosts: 5, requestVolume: 100 } as const

/**
 * Failure-percentage defaults: 85% (Envoy `failure_percentage_threshold`), 5 hosts
 * (`failure_percentage_minimum_hosts`), 50 requests (`failure_percentage_request_volume`); also
 * A50's.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultFailurePercentage = { threshold: 85, minimumHosts: 5, requestVolume: 50 } as const

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Wraps `policy` with outlier detection: the inner picker only sees hosts that are not ejected.
 *
 * **When to use**
 *
 * When hosts stay reachable but some answer badly (errors, a bad deploy, a sick machine) and
 * discovery does not know. Keep `maxEjectionPercent` low: ejection moves load to the others.
 *
 * **Example**
 *
 * ```ts
 * import { Health, LeastPending, OutlierDetection } from "@switchyard/core"
 * import { Effect } from "effect"
 *
 * const policy = OutlierDetection.make(
 *   Health.make(LeastPending.make(), { probe: () => Effect.void }),
 *   { consecutiveFailures: 3, failurePercentage: { threshold: 50 }, maxEjectionPercent: 20 }
 * )
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: {
  (options?: Options): (policy: Policy.Policy) => Policy.Policy
  (policy: Policy.Policy, options?: Options): Policy.Policy
} = dual((args) => Policy.isPolicy(args[0]), (policy: Policy.Policy, options?: Options): Policy.Policy => {
  if (policy.error !== undefined) return policy
  const settings = parse(options ?? {})
  if (settings instanceof OptionError) return Policy.invalid(settings)
  const name = `outlier-detection(${policy.name})`
  return Policy.wrap(policy, name, (context) => build(name, policy, settings, context))
})

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

interface Settings {
  readonly isFailure: (error: unknown) => boolean
  readonly interval: number
  readonly base: number
  /** `max(base, maxEjectionTime)`. */
  readonly max: number
  readonly maxEjectionPercent: number
  readonly panicThreshold: number
  /** `0` when off. */
  readonly consecutive: number
  readonly successRate:
    | { readonly stdevFactor: number; readonly minimumHosts: number; readonly requestVolume: number }
    | undefined
  readonly failurePercentage:
    | { readonly threshold: number; readonly minimumHosts: number; readonly requestVolume: number }
    | undefined
}

const NAME = "outlier-detection"

const everyFailure = (): boolean => true

/** A number option within `[min, max]` (an integer when `integer`); the default when absent. */
const numberOption = (
  option: string,
  input: number | undefined,
  fallback: number,
  min: number,
  max: number,
  integer: boolean
): number | OptionError =>
  integer
    ? Policy.integerOption(NAME, option, input, fallback, min, max)
    : Policy.numberOption(NAME, option, input, fallback, min, max)

/** A detector's `minimumHosts` and `requestVolume`, read under `detector.` option names. */
const volumeOptions = (
  detector: string,
  given: { readonly minimumHosts?: number | undefined; readonly requestVolume?: number | undefined },
  defaults: { readonly minimumHosts: number; readonly requestVolume: number }
): { readonly minimumHosts: number; readonly requestVolume: number } | OptionError => {
  const minimumHosts = numberOption(
    `${detector}.minimumHosts`,
    given.minimumHosts,
    defaults.minimumHosts,
    1,
    MAX_COUNT,
    true
  )
  if (typeof minimumHosts !== "number") return minimumHosts
  const requestVolume = numberOption(
    `${detector}.requestVolume`,
    given.requestVolume,
    defaults.requestVolume,
    1,
    MAX_COUNT,
    true
  )
  if (typeof requestVolume !== "number") return requestVolume
  return { minimumHosts, requestVolume }
}

const MAX_COUNT = 2_147_483_647

const parse = (options: Options): Settings | OptionError => {
  const isFailure = Policy.functionOption(NAME, "isFailure", options.isFailure)
  if (isFailure instanceof OptionError) return isFailure
  const interval = Policy.durationOption(NAME, "interval", options.interval, defaultInterval, {
    millis: 0,
    inclusive: false
  })
  if (typeof interval !== "number") return interval
  const base = Policy.durationOption(NAME, "baseEjectionTime", options.baseEjectionTime, defaultBaseEjectionTime, {
    millis: 0,
    inclusive: false
  })
  if (typeof base !== "number") return base
  const max = Policy.durationOption(NAME, "maxEjectionTime", options.maxEjectionTime, defaultMaxEjectionTime, {
    millis: 0,
    inclusive: true
  })
  if (typeof max !== "number") return max
  const percent = numberOption(
    "maxEjectionPercent",
    options.maxEjectionPercent,
    defaultMaxEjectionPercent,
    0,
    100,
    true
  )
  if (typeof percent !== "number") return percent
  const panic = numberOption("panicThreshold", options.panicThreshold, defaultPanicThreshold, 0, 100, false)
  if (typeof panic !== "number") return panic
  const consecutive = options.consecutiveFailures === false
    ? 0
    : numberOption("consecutiveFailures", options.consecutiveFailures, defaultConsecutiveFailures, 1, MAX_COUNT, true)
  if (typeof consecutive !== "number") return consecutive
  let successRate: Settings["successRate"]
  if (options.successRate !== false) {
    const given = typeof options.successRate === "object" ? options.successRate : {}
    const stdevFactor = numberOption(
      "successRate.stdevFactor",
      given.stdevFactor,
      defaultSuccessRate.stdevFactor,
      0,
      1e6,
      false
    )
    if (typeof stdevFactor !== "number") return stdevFactor
    const volume = volumeOptions("successRate", given, defaultSuccessRate)
    if (volume instanceof OptionError) return volume
    successRate = { stdevFactor, ...volume }
  }
  let failurePercentage: Settings["failurePercentage"]
  if (options.failurePercentage !== undefined && options.failurePercentage !== false) {
    const given = typeof options.failurePercentage === "object" ? options.failurePercentage : {}
    const threshold = numberOption(
      "failurePercentage.threshold",
      given.threshold,
      defaultFailurePercentage.threshold,
      0,
      100,
      false
    )
    if (typeof threshold !== "number") return threshold
    const volume = volumeOptions("failurePercentage", given, defaultFailurePercentage)
    if (volume instanceof OptionError) return volume
    failurePercentage = { threshold, ...volume }
  }
  return {
    isFailure: isFailure ?? everyFailure,
    interval,
    base,
    max: Math.max(base, max),
    maxEjectionPercent: percent,
    panicThreshold: panic,
    consecutive,
    successRate,
    failurePercentage
  }
}

/** What the wrapper knows about one slot. */
interface Host {
  readonly slot: Policy.Slot
  /** Outcomes in the current interval. */
  successes: number
  failures: number
  /** Consecutive counted failures. */
  consecutive: number
  /** The ejection multiplier (A50), starting at 0. */
  multiplier: number
  /** When the current ejection ends; `Infinity` when not ejected. */
  until: number
}

/** The most hosts that can be ejected at once out of `n` under A50's rule. */
const bound = (n: number, percent: number): number => Math.min(n, Math.floor(percent * n / 100) + 1)

const build = (name: string, policy: Policy.Policy, s: Settings, context: Policy.Host): Policy.Picker => {
  const subset = eligible.make(policy, context)
  const inner = subset.inner
  const everyone = eligible.all(context, policy.load)
  const hosts = new Map<Policy.Slot, Host>()
  let ejected = 0
  let nextSweep = context.now() + s.interval
  let earliestEnd = Infinity
  let deadline = nextSweep
  let panic = false

  /** A50: "if the percentage of ejected addresses is greater than max_ejection_percent, stop". */
  const mayEject = (): boolean => 100 * ejected <= s.maxEjectionPercent * hosts.size

  const eject = (host: Host, at: number): boolean => {
    if (host.until !== Infinity || !mayEject()) return false
    if (host.multiplier * s.base < s.max + s.base) host.multiplier++
    host.until = at + Math.min(s.base * host.multiplier, s.max)
    host.consecutive = 0
    ejected++
    if (host.until < earliestEnd) earliestEnd = host.until
    subset.exclude(host.slot)
    return true
  }

  const uneject = (host: Host): void => {
    host.until = Infinity
    host.consecutive = 0
    ejected--
    subset.include(host.slot)
  }

  /** Recomputes the cached deadline and panic flag after ejections changed. */
  const refresh = (): void => {
    let end = Infinity
    if (ejected > 0) { for (const host of hosts.values()) if (host.until < end) end = host.until }
    earliestEnd = end
    deadline = nextSweep < end ? nextSweep : end
    const n = hosts.size
    panic = 100 * (n - ejected) < s.panicThreshold * n
  }

  const unejectDue = (now: number): void => {
    if (ejected === 0 || now < earliestEnd) return
    for (const host of hosts.values()) if (host.until <= now) uneject(host)
  }

  /** Candidates of a detector, worst (lowest success rate) first. */
  const candidates = (volume: number): Array<Host> => {
    const found: Array<Host> = []
    for (const host of hosts.values()) {
      if (host.until === Infinity && host.successes + host.failures >= volume) found.push(host)
    }
    return found.sort((a, b) => rate(a) - rate(b))
  }

  /** One A50 sweep at time `at`, over the counts of the interval that ends there. */
  const sweep = (at: number): void => {
    unejectDue(at)
    const sr = s.successRate
    if (sr !== undefined) {
      const found = candidates(sr.requestVolume)
      if (found.length >= sr.minimumHosts) {
        let sum = 0
        for (const host of found) sum += rate(host)
        const mean = sum / found.length
        let squares = 0
        for (const host of found) squares += (rate(host) - mean) ** 2
        const limit = mean - sr.stdevFactor * Math.sqrt(squares / found.length)
        for (const host of found) {
          if (rate(host) >= limit || !mayEject()) break
          eject(host, at)
        }
      }
    }
    const fp = s.failurePercentage
    if (fp !== undefined && hosts.size >= fp.minimumHosts) {
      for (const host of candidates(fp.requestVolume)) {
        if (100 * host.failures / (host.successes + host.failures) < fp.threshold || !mayEject()) break
        eject(host, at)
      }
    }
    for (const host of hosts.values()) {
      host.successes = 0
      host.failures = 0
      if (host.until === Infinity && host.multiplier > 0) host.multiplier--
    }
  }

  /** `count` sweeps with no traffic, the first at `first`, the last at or before `now`. */
  const idle = (first: number, count: number, now: number): void => {
    for (const host of hosts.values()) {
      let clean = count
      if (host.until !== Infinity) {
        if (host.until > now) continue
        // un-ejected when its time passed: only the sweeps from then on find it clean
        const before = Math.ceil((host.until - first) / s.interval)
        clean = count - Math.min(Math.max(before, 0), count)
        uneject(host)
      }
      host.multiplier = Math.max(0, host.multiplier - clean)
    }
  }

  const advance = (now: number): void => {
    if (now < deadline) return
    if (now >= nextSweep) {
      sweep(nextSweep)
      nextSweep += s.interval
      if (now >= nextSweep) {
        const count = Math.floor((now - nextSweep) / s.interval) + 1
        idle(nextSweep, count, now)
        nextSweep += count * s.interval
      }
    }
    unejectDue(now)
    refresh()
  }

  /** Keeps A50's bound when removals shrank the set: the hosts due back first return now. */
  const enforceBound = (): void => {
    for (let extra = ejected - bound(hosts.size, s.maxEjectionPercent); extra > 0; extra--) {
      let first: Host | undefined
      for (const host of hosts.values()) {
        if (host.until !== Infinity && (first === undefined || host.until < first.until)) first = host
      }
      uneject(first!)
    }
  }

  const ejectedNote = (now: number): string => {
    if (ejected === 0) return "outlier detection: no endpoint ejected"
    const parts: Array<string> = []
    for (const host of hosts.values()) {
      if (host.until === Infinity) continue
      parts.push(
        `${host.slot.endpoint.address} (ejection ${host.multiplier}, ${Math.max(0, host.until - now)} ms left)`
      )
    }
    return `outlier detection ejected ${parts.join(", ")}${
      panic ? `; panic: under ${s.panicThreshold}% of hosts remain, picking among all` : ""
    }`
  }

  return {
    pick: (hash) => {
      const now = context.now()
      if (now >= deadline) advance(now)
      return panic ? everyone.pick() : inner.pick(hash)
    },
    explain: (hash) => {
      const now = context.now()
      advance(now)
      if (panic) return everyone.explain(name, ejectedNote(now))
      const explanation = inner.explain(hash)
      return { ...explanation, policy: name, note: `${explanation.note}; ${ejectedNote(now)}` }
    },
    added: (slot) => {
      hosts.set(slot, { slot, successes: 0, failures: 0, consecutive: 0, multiplier: 0, until: Infinity })
      subset.added(slot, true)
    },
    removed: (slot) => {
      const host = hosts.get(slot)
      if (host === undefined) return
      hosts.delete(slot)
      if (host.until !== Infinity) ejected--
      subset.removed(slot)
    },
    updated: subset.updated,
    rebalanced: () => {
      subset.rebalanced()
      enforceBound()
      advance(context.now())
      refresh()
    },
    observe: (slot, outcome) => {
      const host = hosts.get(slot)
      if (host === undefined) return
      advance(outcome.now)
      if (subset.has(slot)) inner.observe?.(slot, outcome)
      if (outcome.success || !s.isFailure(outcome.error)) {
        host.successes++
        host.consecutive = 0
        return
      }
      host.failures++
      if (s.consecutive > 0 && host.until === Infinity && ++host.consecutive >= s.consecutive) {
        host.consecutive = 0
        if (eject(host, outcome.now)) refresh()
      }
    },
    excluded: () => panic ? 0 : ejected + (inner.excluded?.() ?? 0),
    accepts: (slot) => panic || (subset.has(slot) && (inner.accepts?.(slot) ?? true))
  }
}

const rate = (host: Host): number => {
  const total = host.successes + host.failures
  return total === 0 ? 1 : host.successes / total
}
