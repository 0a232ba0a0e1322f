/**
 * effect's RPC over HTTP on top of the load-balanced HttpClient: `RpcClient.layerProtocolHttp`
 * takes the `HttpClient` from its context, so every call is one pick. Two real RPC servers on
 * 127.0.0.1, on Node, Bun and Deno alike.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { BalancedHttpClient, Discovery, Endpoint, Registry, RoundRobin } from "@switchyard/core"
import { Effect, Layer, References, Schema } from "effect"
import { FetchHttpClient, HttpServer } from "effect/http"
import { Rpc, RpcClient, RpcGroup, RpcSerialization, RpcServer } from "effect/rpc"
import * as http from "node:http"
import * as net from "node:net"
import { assert, describe, it } from "vitest"

class Api extends RpcGroup.make(Rpc.make("Where", { success: Schema.String })) {}

/** A port nothing listens on now. */
const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

const serverLayer = (port: number) =>
  Layer.unwrap(Effect.map(RpcServer.toHttpEffect(Api), (app) => HttpServer.serve(app))).pipe(
    Layer.provide(Api.toLayer({ Where: () => Effect.succeed(`served by ${port}`) })),
    Layer.provide(RpcSerialization.layerJson),
    Layer.provide(NodeHttpServer.layer(() => http.createServer(), { port, host: "127.0.0.1" }))
  )

describe("effect RPC over BalancedHttpClient", () => {
  it("each call is one pick: two RPC servers answer in turn", async () => {
    const ports = [await freePort(), await freePort()]
    const client = RpcClient.layerProtocolHttp({ url: "http://api/rpc" }).pipe(
      Layer.provide(BalancedHttpClient.layer()),
      Layer.provide(
        Registry.layer({
          discovery: Discovery.static(ports.map((p) => Endpoint.makeUnsafe(`127.0.0.1:${p}`))),
          policy: RoundRobin.make()
        })
      ),
      Layer.provide(FetchHttpClient.layer),
      Layer.provide(RpcSerialization.layerJson)
    )
    const answers = await Effect.runPromise(
      Effect.gen(function*() {
        const api = yield* RpcClient.make(Api)
        const out: Array<string> = []
        for (let i = 0; i < 6; i++) out.push(yield* api.Where())
        return out
      }).pipe(
        Effect.scoped,
        Effect.provide(client),
        Effect.provide(Layer.mergeAll(serverLayer(ports[0]!), serverLayer(ports[1]!))),
        Effect.provideService(References.MinimumLogLevel, "None")
      )
    )
    // round robin from a random start: the two servers alternate
    assert.deepStrictEqual(new Set(answers), new Set(ports.map((p) => `served by ${p}`)))
    for (let i = 1; i < answers.length; i++) assert.notStrictEqual(answers[i], answers[i - 1])
  })
})
