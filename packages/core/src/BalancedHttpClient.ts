/**
 * effect's `HttpClient`, load-balanced: a request to a logical service (`http://checkout/cart`)
 * goes to an endpoint of `checkout` chosen by the program's `Registry` (its discovery and
 * policy), with load tracking, health, outlier detection and retries.
 *
 * **Details**
 *
 * - `layer` provides `HttpClient` on top of the `HttpClient` below it (`FetchHttpClient.layer` on
 *   every runtime, `NodeHttpClient.layerNodeHttp` on Node): your transport stays yours. It needs a
 *   `Registry`, which holds one balancer per target, made on first use and closed when idle.
 * - The target of a request is its URL's host name (`http://checkout/cart` → `"checkout"`); a URL
 *   whose host is an IP address (`http://127.0.0.1:2379/...`) goes to the client below unchanged.
 *   The `target` option maps a request to its target, or to `undefined` to send it to the client
 *   below unchanged (a real host, an etcd watch). The request's host (and port) is replaced by the chosen
 *   endpoint's address; scheme, path, query and headers are kept. A `unix:` endpoint cannot be
 *   named in a URL: a try on one fails with a `TransportError` saying so (and is retried
 *   elsewhere when `retry` allows).
 * - What a response means for the endpoint's health and latency (`classify`; default
 *   {@link classify}): a 408, 500, 502, 503 or 504 and a transport error or a timeout are
 *   failures (they count for `Health` and `OutlierDetection`), a 429, an interruption and an
 *   encode, decode or URL error say nothing about the host and are ignored, anything else is a
 *   success. The latency is the time to the response's headers, so a streamed body (a download, a
 *   watch) does not stretch it.
 * - With `hedge` (a `Hedge.make` hedger) instead, a try not answered after the hedging delay gets
 *   a backup on another endpoint, as `Hedge.use` does; the first good response wins (a response
 *   in `retryStatuses` is not good: the other tries go on). Give `retry` or `hedge`, not both.
 * - With `retry` (a `Retry.make` policy), a failed try is retried on another endpoint as
 *   `Retry.use` does (one budget, per-try timeout, deadline). A response whose status is in
 *   `retryStatuses` (default 502, 503, 504) counts as a retryable failure; when the tries run out,
 *   the last such response is returned as it was, not turned into an error. A request that is not
 *   idempotent is retried only when it was never sent (a refused connection, recognised on each
 *   runtime's error shape by `Retry.isNotSent`).
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { FetchHttpClient, HttpClient } from "effect/http"
 * import { BalancedHttpClient, Discovery, Endpoint, PeakEwma, Registry, Retry } from "@switchyard/core"
 *
 * const discovery = Discovery.static([Endpoint.makeUnsafe("127.0.0.1:8080"), Endpoint.makeUnsafe("127.0.0.1:8081")])
 * const Http = BalancedHttpClient.layer({ retry: Retry.make({ maxAttempts: 3, idempotent: true }) }).pipe(
 *   Layer.provide(FetchHttpClient.layer),
 *   Layer.provide(Registry.layer({ discovery, policy: PeakEwma.make() }))
 * )
 * const program = Effect.gen(function*() {
 *   const client = yield* HttpClient.HttpClient
 *   const response = yield* client.get("http://checkout/health") // to 127.0.0.1:8080 or :8081
 *   return response.status
 * }).pipe(Effect.provide(Http))
 * ```
 *
 * @stability experimental
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Layer from "effect/Layer"
import * as Balancer from "./Balancer.ts"
import type * as Endpoint from "./Endpoint.ts"
import type * as Hedge from "./Hedge.ts"
import * as option from "./internal/option.ts"
import type * as Options from "./Options.ts"
import * as Registry from "./Registry.ts"
import * as Retry from "./Retry.ts"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * The response of a try whose status is in `retryStatuses`, as the failure `Retry` sees (it is
 * `retryable`). The client returns `response` itself when no further try is made.
 *
 * @category models
 * @since 0.1.0
 */
export class RetryableStatus {
  readonly _tag = "RetryableStatus"
  readonly retryable = true
  readonly response: HttpClientResponse.HttpClientResponse
  constructor(response: HttpClientResponse.HttpClientResponse) {
    this.response = response
  }
}

/**
 * The statuses retried by default: 502, 503 and 504 (the host or a proxy in front of it is
 * unavailable; the request was not processed).
 *
 * @category models
 * @since 0.1.0
 */
export const defaultRetryStatuses: ReadonlyArray<number> = [502, 503, 504]

/**
 * Statuses that are a failure of the host for {@link classify}.
 *
 * @category models
 * @since 0.1.0
 */
export const failureStatuses: ReadonlyArray<number> = [408, 500, 502, 503, 504]

// -----------------------------------------------------------------------------
// guards
// -----------------------------------------------------------------------------

/**
 * The default classification of a try (the mapping of effect's
 * `HttpClient.circuitBreakerClassifier`): a response with a status in {@link failureStatuses}
 * is a `"failure"`, a 429 is `"ignore"`, any other response a `"success"`; a transport error and
 * a timeout are failures; an interruption and an encode, decode or URL error are ignored.
 *
 * @category guards
 * @since 0.1.0
 */
export const classify = (
  exit: Exit.Exit<HttpClientResponse.HttpClientResponse, unknown>
): Balancer.Classification => {
  if (Exit.isSuccess(exit)) return classifyStatus(exit.value.status)
  if (Cause.hasInterruptsOnly(exit.cause)) return "ignore"
  const error = Cause.findErrorOption(exit.cause)
  if (error._tag === "None") return "failure" // a defect
  const e = error.value
  if (e instanceof RetryableStatus) return classifyStatus(e.response.status)
  if (isHttpClientError(e)) {
    const reason = e.reason._tag
    if (reason === "StatusCodeError") {
      return classifyStatus((e.reason as { response: { status: number } }).response.status)
    }
    return reason === "TransportError" ? "failure" : "ignore"
  }
  return "failure"
}

// -----------------------------------------------------------------------------
// layers
// -----------------------------------------------------------------------------

/**
 * Provides a load-balanced `HttpClient` over the `HttpClient` below it, with the `Registry`'s
 * balancers: see the module's documentation. Invalid options fail the layer with an
 * `Options.OptionError` naming the option and the value.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options?: {
  readonly target?: ((request: HttpClientRequest.HttpClientRequest) => string | undefined) | undefined
  readonly classify?:
    | ((exit: Exit.Exit<HttpClientResponse.HttpClientResponse, unknown>) => Balancer.Classification)
    | undefined
  readonly retry?: Retry.Retry | undefined
  readonly hedge?: Hedge.Hedger | undefined
  readonly retryStatuses?: ReadonlyArray<number> | undefined
}): Layer.Layer<HttpClient.HttpClient, Options.OptionError, HttpClient.HttpClient | Registry.Registry> =>
  Layer.effect(
    HttpClient.HttpClient,
    Effect.gen(function*() {
      const settings = readOptions(options)
      if (option.isInvalid(settings)) return yield* Effect.fail(option.error("http", settings))
      if (options?.retry?.error !== undefined) return yield* Effect.fail(options.retry.error)
      const inner = yield* HttpClient.HttpClient
      const registry = yield* Registry.Registry
      const { classifyTry, hedge, retry, retryStatuses, targetOf } = settings
      // one try: the response, or (with a retry policy or a hedger) a retryable status as a failure
      const send = (request: HttpClientRequest.HttpClientRequest, endpoint: Endpoint.Endpoint) => {
        // a URL cannot name a Unix socket: say so, rather than send the request to the logical host
        if (endpoint.address.startsWith("unix:")) {
          return Effect.fail(
            new HttpClientError.HttpClientError({
              reason: new HttpClientError.TransportError({
                request,
                description:
                  `switchyard: endpoint ${endpoint.address} is a Unix socket, which an HTTP URL cannot address`
              })
            })
          )
        }
        const sent = inner.execute(withEndpoint(request, endpoint))
        if (retry === undefined && hedge === undefined) return sent
        return Effect.flatMap(
          sent,
          (response) =>
            retryStatuses.has(response.status) ? Effect.fail(new RetryableStatus(response)) : Effect.succeed(response)
        )
      }
      const execute = (
        request: HttpClientRequest.HttpClientRequest
      ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> => {
        const target = targetOf(request)
        if (target === undefined) return inner.execute(request)
        return Effect.gen(function*() {
          const balancer = yield* registry.get(target)
          yield* balancer.ready
          if (hedge !== undefined) return yield* hedge.use(balancer, (e) => send(request, e), { classify: classifyTry })
          if (retry === undefined) return yield* balancer.use((e) => send(request, e), { classify: classifyTry })
          // a request of a safe method (GET, HEAD, OPTIONS, TRACE) may be sent twice
          const policy = retry.idempotent || !safeMethods.has(request.method) ? retry : { ...retry, idempotent: true }
          return yield* Retry.use(balancer, (e) => send(request, e), policy, { classify: classifyTry })
        }).pipe(
          Effect.catch((error: unknown) =>
            error instanceof RetryableStatus
              ? Effect.succeed(error.response)
              : Effect.fail(isHttpClientError(error) ? error : transportError(request, error))
          )
        )
      }
      return HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
        (request) => Effect.flatMap(request, execute),
        Effect.succeed
      )
    })
  )

/**
 * The switchyard error behind a failure of the load-balanced client, if it is one: the client
 * fails only with `HttpClientError`, as every `HttpClient` does, and wraps its own errors (no
 * endpoint to pick, a target that never resolved, `Retry`'s per-try timeout, deadline and budget,
 * a target's invalid policy) in a `TransportError` whose `cause` is the typed error. Returns that
 * error (`_tag` `"NoEndpointAvailable"`, `"NotReady"`, `"AttemptTimedOut"`, `"DeadlineExceeded"`,
 * `"BudgetExhausted"`, `"OptionError"`, ...), or `undefined` for an error of the client below.
 *
 * @category guards
 * @since 0.1.0
 */
export const causeOf = (error: HttpClientError.HttpClientError): { readonly _tag: string } | undefined => {
  if (error.reason._tag !== "TransportError") return undefined
  const cause = error.reason.cause
  return cause instanceof Switchyard ? cause.error : undefined
}

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

interface Settings {
  readonly targetOf: (request: HttpClientRequest.HttpClientRequest) => string | undefined
  readonly classifyTry: (exit: Exit.Exit<unknown, unknown>) => Balancer.Classification
  readonly retry: Retry.Retry | undefined
  readonly hedge: Hedge.Hedger | undefined
  readonly retryStatuses: ReadonlySet<number>
}

const readOptions = (options: Parameters<typeof layer>[0]): Settings | option.Invalid => {
  const target = options?.target
  if (target !== undefined && typeof target !== "function") {
    return option.invalid("target", target, "expected a function from a request to its target (or undefined)")
  }
  const classifyOption = options?.classify
  if (classifyOption !== undefined && typeof classifyOption !== "function") {
    return option.invalid(
      "classify",
      classifyOption,
      "expected a function from an Exit to \"success\", \"failure\" or \"ignore\""
    )
  }
  const retry = options?.retry
  if (retry !== undefined && !isRetry(retry)) {
    return option.invalid("retry", retry, "expected a retry policy made by Retry.make")
  }
  const hedge = options?.hedge
  if (hedge !== undefined && !isHedger(hedge)) {
    return option.invalid("hedge", hedge, "expected a hedger made by Hedge.make")
  }
  if (hedge !== undefined && retry !== undefined) {
    return option.invalid(
      "hedge",
      "a hedger",
      "give retry or hedge, not both: a call either retries after a failure or hedges on time"
    )
  }
  const statuses = options?.retryStatuses ?? defaultRetryStatuses
  if (!Array.isArray(statuses)) {
    return option.invalid("retryStatuses", statuses, "expected an array of HTTP statuses from 100 to 599")
  }
  for (const status of statuses) {
    const read = option.number("retryStatuses", status, 0, { min: 100, max: 599, integer: true })
    if (option.isInvalid(read)) return read
  }
  const chosen = classifyOption ?? classify
  return {
    targetOf: target ?? hostOf,
    // a response turned into RetryableStatus is classified as the response it carries
    classifyTry: (exit) => {
      if (Exit.isFailure(exit)) {
        const error = Cause.findErrorOption(exit.cause)
        if (error._tag === "Some" && error.value instanceof RetryableStatus) {
          return chosen(Exit.succeed(error.value.response))
        }
      }
      return chosen(exit as Exit.Exit<HttpClientResponse.HttpClientResponse, unknown>)
    },
    retry,
    hedge,
    retryStatuses: new Set(statuses)
  }
}

const safeMethods: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE"])

const isHedger = (u: unknown): u is Hedge.Hedger =>
  typeof u === "object" && u !== null && typeof (u as Hedge.Hedger).use === "function" &&
  typeof (u as Hedge.Hedger).maxHedges === "number"

const isRetry = (u: unknown): u is Retry.Retry =>
  typeof u === "object" && u !== null && typeof (u as Retry.Retry).maxAttempts === "number" &&
  typeof (u as Retry.Retry).retryOn === "function"

/** A switchyard error, as the `cause` of the `TransportError` the client fails with. */
class Switchyard {
  readonly error: { readonly _tag: string; readonly message?: string | undefined }
  constructor(error: { readonly _tag: string; readonly message?: string | undefined }) {
    this.error = error
  }
}

const transportError = (
  request: HttpClientRequest.HttpClientRequest,
  error: unknown
): HttpClientError.HttpClientError => {
  const typed = typeof error === "object" && error !== null && typeof (error as { _tag?: unknown })._tag === "string"
    ? error as { readonly _tag: string; readonly message?: string }
    : { _tag: "Unknown", message: String(error) }
  return new HttpClientError.HttpClientError({
    reason: new HttpClientError.TransportError({
      request,
      cause: new Switchyard(typed),
      description: `switchyard: ${typed.message ?? typed._tag}`
    })
  })
}

const classifyStatus = (status: number): Balancer.Classification =>
  status === 429 ? "ignore" : failureStatuses.includes(status) ? "failure" : "success"

const isHttpClientError = (u: unknown): u is HttpClientError.HttpClientError =>
  typeof u === "object" && u !== null && (u as { readonly _tag?: unknown })._tag === "HttpClientError"

/**
 * The host name of a request's URL (`http://checkout:80/x` → `"checkout"`); `undefined` for a
 * relative URL and for an IP address (`http://127.0.0.1:2379/...` is a host, not a service).
 */
const hostOf = (request: HttpClientRequest.HttpClientRequest): string | undefined => {
  const url = URL.parse(request.url)
  if (url === null || url.hostname === "") return undefined
  const host = url.hostname
  return host.startsWith("[") || /^\d{1,3}(\.\d{1,3}){3}$/.test(host) ? undefined : host
}

/** `request` sent to `endpoint`: its URL's host and port replaced by the endpoint's address. */
const withEndpoint = (
  request: HttpClientRequest.HttpClientRequest,
  endpoint: Endpoint.Endpoint
): HttpClientRequest.HttpClientRequest =>
  HttpClientRequest.updateUrl(request, (url) => {
    const parsed = new URL(url)
    parsed.host = endpoint.address
    return parsed.toString()
  })
