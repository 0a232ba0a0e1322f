/**
 * The load-balanced HttpClient against real HTTP backends (child processes on 127.0.0.1), over
 * effect's fetch client, on Node, Bun and Deno alike.
 */
import {
  BalancedHttpClient,
  Discovery,
  Endpoint,
  OutlierDetection,
  PeakEwma,
  Registry,
  Retry,
  RoundRobin
} from "@switchyard/core"
import { Effect, Layer, References } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import * as backends from "../examples/backends.ts"

let fleet: Array<backends.Backend> = []

beforeAll(async () => {
  fleet = await Promise.all([backends.start("a"), backends.start("b"), backends.start("c")])
}, 30_000)

afterAll(async () => {
  await Promise.all(fleet.map(backends.kill))
})

/** The client over `FetchHttpClient.layer`, with a registry of the fleet (or `addresses`). */
const client = (options?: {
  readonly addresses?: ReadonlyArray<string>
  readonly retry?: Retry.Retry
  readonly outliers?: boolean
}) => {
  const discovery = Discovery.static(
    (options?.addresses ?? fleet.map((b) => b.address)).map((a) => Endpoint.makeUnsafe(a))
  )
  const policy = options?.outliers === true
    ? OutlierDetection.make(RoundRobin.make(), {
      consecutiveFailures: 3,
      interval: "100 millis",
      baseEjectionTime: "30 seconds"
    })
    : RoundRobin.make()
  return BalancedHttpClient.layer({ retry: options?.retry }).pipe(
    Layer.provideMerge(Registry.layer({ discovery, policy })),
    Layer.provide(FetchHttpClient.layer)
  )
}

const run = <A, E>(
  effect: Effect.Effect<A, E, HttpClient.HttpClient | Registry.Registry>,
  layer: ReturnType<typeof client>
) =>
  Effect.runPromise(
    effect.pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "None")) as Effect.Effect<A, E>
  )

const nameOf = (body: unknown): string => (body as { readonly name: string }).name

describe("BalancedHttpClient over real backends", () => {
  it("a request to http://<target>/ goes to an endpoint of the target; all three serve", async () => {
    const names = await run(
      Effect.gen(function*() {
        const http = yield* HttpClient.HttpClient
        const seen = new Set<string>()
        for (let i = 0; i < 60; i++) {
          const response = yield* http.get("http://checkout/hello?x=1")
          assert.strictEqual(response.status, 200)
          seen.add(nameOf(yield* response.json))
        }
        return [...seen].sort()
      }),
      client()
    )
    assert.deepStrictEqual(names, ["a", "b", "c"])
  })

  it("a refused connection is not sent: a POST is retried on another endpoint and succeeds", async () => {
    // a port nothing listens on, beside a live backend
    const dead = await backends.start("dead")
    await backends.kill(dead)
    const statuses = await run(
      Effect.gen(function*() {
        const http = yield* HttpClient.HttpClient
        const out: Array<number> = []
        for (let i = 0; i < 20; i++) {
          const response = yield* http.execute(HttpClientRequest.post("http://orders/create"))
          out.push(response.status)
        }
        return out
      }),
      client({ addresses: [dead.address, fleet[0]!.address], retry: Retry.make({ maxAttempts: 3 }) })
    )
    assert.deepStrictEqual(statuses, Array.from({ length: 20 }, () => 200))
  })

  it("a 503 is retried up to maxAttempts, then returned as the response; each try is a failure for health", async () => {
    const [status, failures] = await run(
      Effect.gen(function*() {
        const http = yield* HttpClient.HttpClient
        const response = yield* http.get("http://checkout/status/503")
        const registry = yield* Registry.Registry
        const balancer = yield* registry.get("checkout")
        const stats = yield* balancer.snapshot
        return [response.status, stats.reduce((n, s) => n + s.failures, 0)] as const
      }),
      client({ retry: Retry.make({ maxAttempts: 3 }) })
    )
    assert.strictEqual(status, 503)
    assert.strictEqual(failures, 3)
  })

  it("a 429 says nothing about the host: no failure, no success recorded", async () => {
    const [status, counts] = await run(
      Effect.gen(function*() {
        const http = yield* HttpClient.HttpClient
        const response = yield* http.get("http://checkout/status/429")
        const balancer = yield* (yield* Registry.Registry).get("checkout")
        const stats = yield* balancer.snapshot
        return [response.status, stats.map((s) => s.failures + s.successes)] as const
      }),
      client()
    )
    assert.strictEqual(status, 429)
    assert.deepStrictEqual(counts, [0, 0, 0])
  })

  it("an endpoint answering 500 is ejected by OutlierDetection, and traffic goes to the others", async () => {
    const failing = fleet[2]!
    await backends.fail(failing, 500)
    try {
      const [first, second] = await run(
        Effect.gen(function*() {
          const http = yield* HttpClient.HttpClient
          const statuses = (n: number) =>
            Effect.forEach(Array.from({ length: n }), () => Effect.map(http.get("http://checkout/"), (r) => r.status))
          return [yield* statuses(60), yield* statuses(60)] as const
        }),
        client({ outliers: true })
      )
      // round robin sends it every third request: three 500s in a row eject it, then it gets none
      assert.strictEqual(first.filter((s) => s === 500).length, 3)
      assert.deepStrictEqual(second.filter((s) => s !== 200), [])
    } finally {
      await backends.fail(failing, 0)
    }
  })

  it("a streamed body does not stretch the latency estimate: it is the time to the headers", async () => {
    const [elapsed, latencies] = await run(
      Effect.gen(function*() {
        const http = yield* HttpClient.HttpClient
        const start = Date.now()
        const response = yield* http.get("http://checkout/stream?ms=600")
        yield* response.text // the whole body: 600 ms of lines
        const elapsed = Date.now() - start
        const balancer = yield* (yield* Registry.Registry).get("checkout")
        const stats = yield* balancer.snapshot
        return [elapsed, stats.flatMap((s) => s.latency === undefined ? [] : [s.latency])] as const
      }),
      client()
    )
    assert.isAtLeast(elapsed, 550)
    assert.strictEqual(latencies.length, 1, "one endpoint has a latency sample")
    assert.isBelow(latencies[0]!, 300, `the sample (${latencies[0]} ms) is the time to the headers`)
  })

  it("a target that resolves to nothing fails with an HttpClientError whose cause is the typed switchyard error", async () => {
    const layer = BalancedHttpClient.layer().pipe(
      Layer.provideMerge(
        Registry.layer({ discovery: Discovery.static([]), policy: PeakEwma.make(), readyTimeout: "200 millis" })
      ),
      Layer.provide(FetchHttpClient.layer)
    )
    const error = await run(
      Effect.flip(Effect.flatMap(HttpClient.HttpClient, (http) => http.get("http://nowhere/"))),
      layer
    )
    assert.strictEqual(error._tag, "HttpClientError")
    assert.strictEqual(BalancedHttpClient.causeOf(error)?._tag, "NotReady")
  })
})
