/**
 * What a program provides once: where its services are found, how they are balanced, and the
 * balancers themselves, one per target, made on first use and closed when idle. `Registry` is the
 * service, `layer` builds it; what reaches services through switchyard (a load-balanced
 * `HttpClient`, a connection pool) asks the `Registry` for the target's balancer.
 *
 * **Details**
 *
 * - `get(target)` returns the target's balancer, making it on the first call (watching
 *   `discovery` for `target`, with `policy`, `readyTimeout` and `backoff` as `Balancer.make`
 *   takes them). Callers asking at the same time get the same balancer. It does not wait for
 *   the first set of endpoints: `use` does (`balancer.ready`, so a target that never resolves
 *   fails with `Balancer.NotReady` after `readyTimeout`).
 * - A balancer not asked for in `idleTimeout` (default 10 minutes; `Duration.infinity` keeps every
 *   balancer) and with no request in flight is closed: its discovery watch and background work
 *   stop. The next `get` makes a fresh one. Every balancer is closed when the layer's scope
 *   closes.
 * - `policy` is one `Policy` for every target, or a function giving each target its own. Each
 *   balancer builds its own picker from it, so no state is shared between targets.
 * - Invalid options (an `idleTimeout` that is not a duration, a policy or a discovery carrying an
 *   `OptionError`) fail the layer with an `Options.OptionError`; a per-target policy that
 *   carries one fails that target's `get` with it.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Result, Stream } from "effect"
 * import { Discovery, type Endpoint, PeakEwma, Registry } from "@switchyard/core"
 *
 * const fleet: Record<string, ReadonlyArray<string>> = {
 *   checkout: ["10.0.0.1:8080", "10.0.0.2:8080"],
 *   search: ["10.0.1.1:9000"]
 * }
 * // each target's list, once (a finite source); a real program watches DNS, a file or etcd
 * const discovery = Discovery.make({
 *   fetch: (target: string) => Effect.succeed(fleet[target] ?? []),
 *   payloads: (target: string) => Stream.make(Result.succeed(fleet[target] ?? [])),
 *   finite: true
 * })
 *
 * const program = Effect.gen(function*() {
 *   const address = yield* Registry.use("checkout", (endpoint: Endpoint.Endpoint) => Effect.succeed(endpoint.address))
 *   console.log(address) // 10.0.0.1:8080 or 10.0.0.2:8080
 * })
 *
 * Effect.runPromise(Effect.provide(program, Registry.layer({ discovery, policy: PeakEwma.make() })))
 * ```
 *
 * @stability experimental
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Balancer from "./Balancer.ts"
import type * as Discovery from "./Discovery.ts"
import type * as Endpoint from "./Endpoint.ts"
import * as option from "./internal/option.ts"
import type * as Options from "./Options.ts"
import type * as Policy from "./Policy.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * The balancers of a program, by target.
 *
 * @category models
 * @since 0.1.0
 */
export class Registry extends Context.Service<Registry, {
  /** The balancer of `target`, made on first use (again after it was closed as idle). */
  readonly get: (target: string) => Effect.Effect<Balancer.Balancer, Options.OptionError>
  /** The targets that have an open balancer, in the order they were made. */
  readonly targets: Effect.Effect<ReadonlyArray<string>>
}>()("@switchyard/core/Registry") {}

/**
 * The default `idleTimeout`: 10 minutes.
 *
 * @category models
 * @since 0.1.0
 */
export const defaultIdleTimeout: Duration.Duration = Duration.minutes(10)

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * The `Registry` of a program: see the module's documentation.
 *
 * @category constructors
 * @since 0.1.0
 */
export const layer = (options: {
  readonly discovery: Discovery.Discovery<string>
  readonly policy: Policy.Policy | ((target: string) => Policy.Policy)
  readonly readyTimeout?: Duration.Input | undefined
  readonly backoff?: Discovery.Backoff | undefined
  readonly idleTimeout?: Duration.Input | undefined
}): Layer.Layer<Registry, Options.OptionError> =>
  Layer.effect(
    Registry,
    Effect.gen(function*() {
      const idleMillis = option.millis(
        "idleTimeout",
        options.idleTimeout,
        Duration.toMillis(defaultIdleTimeout),
        { min: 0, minInclusive: false, infinite: true }
      )
      if (option.isInvalid(idleMillis)) return yield* Effect.fail(option.error("registry", idleMillis))
      if (options.discovery.error !== undefined) return yield* Effect.fail(options.discovery.error)
      const shared = typeof options.policy === "function" ? undefined : options.policy
      if (shared?.error !== undefined) return yield* Effect.fail(shared.error)
      const scope = yield* Effect.scope
      const lock = yield* Semaphore.make(1)
      const open = new Map<string, Entry>()

      const make = (target: string): Effect.Effect<Entry, Options.OptionError> =>
        Effect.gen(function*() {
          const policy = shared ?? (options.policy as (target: string) => Policy.Policy)(target)
          const child = yield* Scope.fork(scope)
          const balancer = yield* Balancer.make({
            discovery: options.discovery,
            target,
            policy,
            readyTimeout: options.readyTimeout,
            backoff: options.backoff
          }).pipe(
            Scope.provide(child),
            Effect.onError(() => Scope.close(child, Exit.void))
          )
          return { balancer, scope: child, used: 0 }
        })

      const get = (target: string): Effect.Effect<Balancer.Balancer, Options.OptionError> =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const known = open.get(target)
          const entry = known ?? (yield* lock.withPermit(Effect.suspend(() => {
            const made = open.get(target)
            if (made !== undefined) return Effect.succeed(made)
            return Effect.map(make(target), (fresh) => {
              open.set(target, fresh)
              return fresh
            })
          })))
          entry.used = now
          return entry.balancer
        })

      // close balancers nobody asked for in idleTimeout and that have nothing in flight
      const sweep = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        for (const [target, entry] of open) {
          if (now - entry.used < idleMillis) continue
          const stats = yield* entry.balancer.snapshot
          // asked for again while its load was read, or busy: kept
          if (now - entry.used < idleMillis || stats.some((s) => s.pending > 0)) continue
          open.delete(target)
          yield* Scope.close(entry.scope, Exit.void)
        }
      })
      if (idleMillis < Infinity) {
        yield* Effect.forkIn(
          Effect.forever(
            Effect.andThen(Effect.sleep(Duration.millis(Math.max(idleMillis / 2, 1))), lock.withPermit(sweep))
          ),
          scope
        )
      }
      return Registry.of({ get, targets: Effect.sync(() => Array.from(open.keys())) })
    })
  )

// -----------------------------------------------------------------------------
// combinators
// -----------------------------------------------------------------------------

/**
 * Runs `f` on an endpoint of `target` chosen by its balancer, as `Balancer.use` does (load
 * tracking, outcome classification), once the balancer has its first set of endpoints.
 *
 * @category combinators
 * @since 0.1.0
 */
export const use = <A, E, R>(
  target: string,
  f: (endpoint: Endpoint.Endpoint) => Effect.Effect<A, E, R>,
  options?: {
    readonly hash?: number | undefined
    readonly classify?: ((exit: Exit.Exit<A, E>) => Balancer.Classification) | undefined
  }
): Effect.Effect<A, E | Balancer.PickError | Balancer.NotReady | Options.OptionError, R | Registry> =>
  Effect.gen(function*() {
    const registry = yield* Registry
    const balancer = yield* registry.get(target)
    yield* balancer.ready
    return yield* balancer.use(f, options)
  })

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

interface Entry {
  readonly balancer: Balancer.Balancer
  readonly scope: Scope.Closeable
  /** When `get` last returned it (ms of `Clock`). */
  used: number
}
