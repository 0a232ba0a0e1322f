import { assert, describe, it } from "@effect/vitest"
import { BalancedHttpClient, Discovery, Endpoint, Hedge, Registry, Retry, RoundRobin } from "@switchyard/core"
import { Cause, Effect, Exit, Layer, References } from "effect"
import { HttpClient, HttpClientError, HttpClientRequest, HttpClientResponse } from "effect/http"

/** An inner client that answers `status(url)` and records the URLs it was sent. */
const inner = (status: (url: string) => number) => {
  const sent: Array<string> = []
  const client = HttpClient.make((request) =>
    Effect.sync(() => {
      sent.push(request.url)
      return HttpClientResponse.fromWeb(request, new Response(null, { status: status(request.url) }))
    })
  )
  return { sent, layer: Layer.succeed(HttpClient.HttpClient, client) }
}

const run = <A, E>(
  effect: Effect.Effect<A, E, HttpClient.HttpClient>,
  options: Parameters<typeof BalancedHttpClient.layer>[0],
  below: Layer.Layer<HttpClient.HttpClient>
) =>
  Effect.runPromise(
    effect.pipe(
      Effect.provide(
        BalancedHttpClient.layer(options).pipe(
          Layer.provide(
            Registry.layer({
              discovery: Discovery.static([Endpoint.makeUnsafe("10.0.0.1:81"), Endpoint.makeUnsafe("10.0.0.2:82")]),
              policy: RoundRobin.make()
            })
          ),
          Layer.provide(below)
        )
      ),
      Effect.provideService(References.MinimumLogLevel, "None")
    )
  )

const response = (status: number) =>
  Exit.succeed(HttpClientResponse.fromWeb(HttpClientRequest.get("http://x/"), new Response(null, { status })))

describe("BalancedHttpClient", () => {
  it("classify: 408/500/502/503/504 and transport errors fail, 429 and interruptions are ignored", () => {
    const statuses = [200, 201, 301, 404, 408, 429, 500, 501, 502, 503, 504]
    assert.deepStrictEqual(statuses.map((s) => BalancedHttpClient.classify(response(s))), [
      "success",
      "success",
      "success",
      "success",
      "failure",
      "ignore",
      "failure",
      "success",
      "failure",
      "failure",
      "failure"
    ])
    const transport = new HttpClientError.HttpClientError({
      reason: new HttpClientError.TransportError({ request: HttpClientRequest.get("http://x/") })
    })
    assert.strictEqual(BalancedHttpClient.classify(Exit.fail(transport)), "failure")
    assert.strictEqual(BalancedHttpClient.classify(Exit.failCause(Cause.interrupt())), "ignore")
    assert.isUndefined(BalancedHttpClient.causeOf(transport))
  })

  it("rewrites the host and port to the endpoint's, keeping scheme, path and query", async () => {
    const { layer, sent } = inner(() => 200)
    await run(
      Effect.flatMap(
        HttpClient.HttpClient,
        (http) => Effect.andThen(http.get("http://checkout:9999/a/b?q=1#h"), http.get("https://checkout/c"))
      ),
      undefined,
      layer
    )
    // round robin starts at a random endpoint, then takes the other
    const [first, second] = sent[0]!.includes("10.0.0.1:81")
      ? ["10.0.0.1:81", "10.0.0.2:82"]
      : ["10.0.0.2:82", "10.0.0.1:81"]
    assert.deepStrictEqual(sent, [`http://${first}/a/b?q=1#h`, `https://${second}/c`])
  })

  it("a request whose target is undefined goes to the client below unchanged", async () => {
    const { layer, sent } = inner(() => 200)
    await run(
      Effect.flatMap(HttpClient.HttpClient, (http) => http.get("http://real.example:8080/x")),
      { target: (request) => request.url.includes("example") ? undefined : "checkout" },
      layer
    )
    assert.deepStrictEqual(sent, ["http://real.example:8080/x"])
  })

  it("by default, a URL whose host is an IP address goes to the client below unchanged", async () => {
    const { layer, sent } = inner(() => 200)
    await run(
      Effect.flatMap(
        HttpClient.HttpClient,
        (http) => Effect.andThen(http.get("http://127.0.0.1:2379/v3/kv/range"), http.get("http://[::1]:8080/x"))
      ),
      undefined,
      layer
    )
    assert.deepStrictEqual(sent, ["http://127.0.0.1:2379/v3/kv/range", "http://[::1]:8080/x"])
  })

  it("a 503 is retried on the other endpoint; a 404 is not retried", async () => {
    const { layer, sent } = inner((url) => url.includes("/gone") ? 404 : url.includes(":81") ? 503 : 200)
    const statuses = await run(
      Effect.flatMap(HttpClient.HttpClient, (http) =>
        Effect.all([
          Effect.map(http.get("http://checkout/ok"), (r) => r.status),
          Effect.map(http.get("http://checkout/gone"), (r) => r.status)
        ])),
      { retry: Retry.make({ maxAttempts: 3 }) },
      layer
    )
    assert.deepStrictEqual(statuses, [200, 404])
    // /ok: one try if round robin started at :82, else :81 (503) and then :82; /gone: one try
    const ok = sent.filter((url) => url.endsWith("/ok"))
    assert.strictEqual(ok.at(-1), "http://10.0.0.2:82/ok")
    assert.deepStrictEqual(ok.length === 2 ? ok[0] : undefined, ok.length === 2 ? "http://10.0.0.1:81/ok" : undefined)
    assert.strictEqual(sent.filter((url) => url.endsWith("/gone")).length, 1)
  })

  it("a unix: endpoint fails the try with a TransportError saying why, and nothing is sent", async () => {
    const { layer, sent } = inner(() => 200)
    const error = await Effect.runPromise(
      Effect.flip(Effect.flatMap(HttpClient.HttpClient, (http) => http.get("http://local/x"))).pipe(
        Effect.provide(
          BalancedHttpClient.layer().pipe(
            Layer.provide(
              Registry.layer({
                discovery: Discovery.static([Endpoint.makeUnsafe("unix:/run/app.sock")]),
                policy: RoundRobin.make()
              })
            ),
            Layer.provide(layer)
          )
        ),
        Effect.provideService(References.MinimumLogLevel, "None")
      )
    )
    assert.strictEqual(error.reason._tag, "TransportError")
    assert.include(error.message, "unix:/run/app.sock is a Unix socket")
    assert.deepStrictEqual(sent, [])
  })

  it("with a hedger, a slow try gets a backup on the other endpoint and the first answer wins", async () => {
    const sent: Array<string> = []
    const slowFirst = Layer.succeed(
      HttpClient.HttpClient,
      HttpClient.make((request) =>
        Effect.suspend(() => {
          sent.push(request.url)
          const slow = sent.length === 1 // whichever endpoint is tried first answers in 5 s
          return Effect.as(
            Effect.sleep(slow ? "5 seconds" : "1 millis"),
            HttpClientResponse.fromWeb(request, new Response(slow ? "slow" : "fast", { status: 200 }))
          )
        })
      )
    )
    const body = await Effect.runPromise(
      Effect.gen(function*() {
        const hedge = yield* Hedge.make({ delay: "20 millis" })
        return yield* Effect.flatMap(
          HttpClient.HttpClient,
          (http) => Effect.flatMap(http.get("http://checkout/"), (r) => r.text)
        ).pipe(
          Effect.provide(
            BalancedHttpClient.layer({ hedge }).pipe(
              Layer.provide(
                Registry.layer({
                  discovery: Discovery.static([Endpoint.makeUnsafe("10.0.0.1:81"), Endpoint.makeUnsafe("10.0.0.2:82")]),
                  policy: RoundRobin.make()
                })
              ),
              Layer.provide(slowFirst)
            )
          )
        )
      }).pipe(Effect.provideService(References.MinimumLogLevel, "None"))
    )
    assert.strictEqual(body, "fast")
    assert.strictEqual(sent.length, 2)
    assert.notStrictEqual(new URL(sent[0]!).host, new URL(sent[1]!).host)
  })

  it("invalid options fail the layer with an OptionError naming the value", async () => {
    const { layer } = inner(() => 200)
    const attempt = (options: Parameters<typeof BalancedHttpClient.layer>[0]) =>
      run(Effect.flip(Effect.flatMap(HttpClient.HttpClient, (http) => http.get("http://x/"))), options, layer)
        .then(
          () => "built",
          (error: { readonly option?: string; readonly value?: string }) => `${error.option}=${error.value}`
        )
    assert.deepStrictEqual(
      await Promise.all([
        attempt({ retryStatuses: [503, 99] }),
        attempt({ retryStatuses: "503" as never }),
        attempt({ target: "checkout" as never }),
        attempt({ retry: { maxAttempts: 3 } as never }),
        attempt({ hedge: 20 as never })
      ]),
      ["retryStatuses=99", `retryStatuses="503"`, `target="checkout"`, "retry={ maxAttempts: 3 }", "hedge=20"]
    )
  })
})
