import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Metric, Redacted, References, Result, Stream } from "effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientError from "effect/http/HttpClientError"
import type * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpClientResponse from "effect/http/HttpClientResponse"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import type * as Discovery from "../src/Discovery.ts"
import * as Endpoint from "../src/Endpoint.ts"
import * as Etcd from "../src/Etcd.ts"
import { seed } from "./seed.ts"

// -----------------------------------------------------------------------------
// an in-memory etcd v3 JSON gateway
// -----------------------------------------------------------------------------

const b64 = (text: string) => btoa(text)
const unb64 = (text: string) => atob(text)
const encoder = new TextEncoder()

interface Watcher {
  readonly key: string
  readonly end: string
  readonly controller: ReadableStreamDefaultController<Uint8Array>
}

interface Stored {
  readonly value: string
  readonly mod: number
  readonly lease: string | undefined
}

type HistoryEvent = {
  readonly rev: number
  readonly type: "PUT" | "DELETE"
  readonly key: string
  readonly value: string
}

/** A small etcd: KV with revisions and history, compaction, leases, watches, auth, faults. */
class FakeEtcd {
  revision = 1
  compactedAt = 0
  readonly kv = new Map<string, Stored>()
  readonly history: Array<HistoryEvent> = []
  readonly leases = new Map<string, number>()
  readonly watchers = new Set<Watcher>()
  readonly log: Array<string> = []
  nextLease = 7_000_000_000_000_000_001n
  down = false
  /** how many of the next puts answer 503 */
  failPuts = 0
  /** when set, every call but authenticate needs this token */
  auth: { readonly user: string; readonly password: string; token: string | undefined } | undefined

  readonly client = HttpClient.make((request, url, signal) =>
    Effect.suspend(() => {
      const path = url.pathname
      this.log.push(path)
      if (this.down) {
        return Effect.fail(
          new HttpClientError.HttpClientError({
            reason: new HttpClientError.TransportError({ request, description: "connection refused" })
          })
        )
      }
      const body = JSON.parse(textOf(request)) as Record<string, any>
      return Effect.succeed(HttpClientResponse.fromWeb(request, this.handle(path, body, request, signal)))
    })
  )

  put(key: string, value: string, lease?: string) {
    this.revision++
    this.kv.set(key, { value, mod: this.revision, lease })
    this.emit({ rev: this.revision, type: "PUT", key, value })
  }

  delete(key: string) {
    if (!this.kv.has(key)) return
    this.revision++
    this.kv.delete(key)
    this.emit({ rev: this.revision, type: "DELETE", key, value: "" })
  }

  /** Puts several keys in one revision (one watch message), as a transaction would. */
  putMany(entries: ReadonlyArray<readonly [string, string]>) {
    this.revision++
    const events: Array<HistoryEvent> = []
    for (const [key, value] of entries) {
      this.kv.set(key, { value, mod: this.revision, lease: undefined })
      events.push({ rev: this.revision, type: "PUT", key, value })
    }
    this.history.push(...events)
    this.send(events)
  }

  compact() {
    this.compactedAt = this.revision
    for (const w of this.watchers) {
      this.line(w, {
        result: { header: { revision: String(this.revision) }, canceled: true, compact_revision: String(this.revision) }
      })
    }
  }

  /** Every watch stream breaks (a dropped connection). */
  dropWatches() {
    for (const w of this.watchers) w.controller.error(new Error("connection reset"))
    this.watchers.clear()
  }

  /** etcd stops answering; open watches break. */
  stop() {
    this.down = true
    this.dropWatches()
  }

  expire(lease: string) {
    this.leases.delete(lease)
    for (const [key, stored] of Array.from(this.kv)) if (stored.lease === lease) this.delete(key)
  }

  keys(prefix: string) {
    return Array.from(this.kv.keys()).filter((k) => k.startsWith(prefix)).sort()
  }

  private emit(event: HistoryEvent) {
    this.history.push(event)
    this.send([event])
  }

  private send(events: ReadonlyArray<HistoryEvent>) {
    for (const w of this.watchers) {
      const mine = events.filter((e) => e.key >= w.key && e.key < w.end)
      if (mine.length > 0) {
        this.line(w, { result: { header: { revision: String(this.revision) }, events: mine.map(toEvent) } })
      }
    }
  }

  private line(w: Watcher, message: unknown) {
    try {
      w.controller.enqueue(encoder.encode(JSON.stringify(message) + "\n"))
    } catch {
      this.watchers.delete(w)
    }
  }

  private handle(
    path: string,
    body: Record<string, any>,
    request: HttpClientRequest.HttpClientRequest,
    signal: AbortSignal
  ): Response {
    const header = { revision: String(this.revision) }
    const json = (value: unknown, status = 200) =>
      new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json" } })
    if (this.auth !== undefined) {
      if (path === "/v3/auth/authenticate") {
        if (body["name"] !== this.auth.user || body["password"] !== this.auth.password) {
          return json({ error: "etcdserver: authentication failed, invalid user ID or password", code: 3 }, 400)
        }
        this.auth.token = `token-${this.revision}-${this.log.length}`
        return json({ header, token: this.auth.token })
      }
      if (this.auth.token === undefined || request.headers["authorization"] !== this.auth.token) {
        return json({ error: "etcdserver: invalid auth token", code: 16 }, 401)
      }
    }
    switch (path) {
      case "/v3/kv/range": {
        const from = unb64(body["key"]), end = unb64(body["range_end"])
        const keys = Array.from(this.kv.keys()).filter((k) => k >= from && k < end).sort()
        const limit = Number(body["limit"] ?? 0)
        const shown = limit > 0 ? keys.slice(0, limit) : keys
        return json({
          header,
          kvs: shown.map((k) => ({
            key: b64(k),
            value: b64(this.kv.get(k)!.value),
            mod_revision: String(this.kv.get(k)!.mod)
          })),
          count: String(keys.length)
        })
      }
      case "/v3/kv/put": {
        if (this.failPuts > 0) {
          this.failPuts--
          return json({ error: "etcdserver: request timed out", code: 14 }, 503)
        }
        const lease = body["lease"] as string | undefined
        if (lease !== undefined && lease !== "0" && !this.leases.has(lease)) {
          return json({ error: "etcdserver: requested lease not found", code: 5 }, 404)
        }
        this.put(unb64(body["key"]), unb64(body["value"]), lease)
        return json({ header: { revision: String(this.revision) } })
      }
      case "/v3/lease/grant": {
        const id = String(this.nextLease++)
        this.leases.set(id, Number(body["TTL"]))
        return json({ header, ID: id, TTL: String(body["TTL"]) })
      }
      case "/v3/lease/keepalive": {
        const ttl = this.leases.get(body["ID"])
        return json({
          result: ttl === undefined ? { header, ID: body["ID"] } : { header, ID: body["ID"], TTL: String(ttl) }
        })
      }
      case "/v3/lease/revoke": {
        if (!this.leases.has(body["ID"])) return json({ error: "etcdserver: requested lease not found", code: 5 }, 404)
        this.expire(body["ID"])
        return json({ header })
      }
      case "/v3/watch": {
        const create = body["create_request"]
        const key = unb64(create["key"]), end = unb64(create["range_end"])
        const start = Number(create["start_revision"])
        const watchers = this.watchers
        let watcher: Watcher | undefined
        const stream = new ReadableStream<Uint8Array>({
          start: (controller) => {
            watcher = { key, end, controller }
            this.line(watcher, { result: { header, created: true } })
            if (start <= this.compactedAt) {
              this.line(watcher, { result: { header, canceled: true, compact_revision: String(this.compactedAt) } })
              return
            }
            const missed = this.history.filter((e) => e.rev >= start && e.key >= key && e.key < end)
            for (const e of missed) this.line(watcher, { result: { header, events: [toEvent(e)] } })
            watchers.add(watcher)
          },
          cancel: () => {
            if (watcher !== undefined) watchers.delete(watcher)
          }
        })
        signal.addEventListener("abort", () => {
          if (watcher !== undefined) watchers.delete(watcher)
        })
        return new Response(stream, { status: 200 })
      }
    }
    return json({ error: "not found", code: 12 }, 404)
  }
}

const toEvent = (e: HistoryEvent) =>
  e.type === "DELETE"
    ? { type: "DELETE", kv: { key: b64(e.key), mod_revision: String(e.rev) } }
    : { kv: { key: b64(e.key), value: b64(e.value), mod_revision: String(e.rev) } }

const textOf = (request: HttpClientRequest.HttpClientRequest): string => {
  const body = request.body
  return body._tag === "Uint8Array" ? new TextDecoder().decode(body.body) : "{}"
}

// -----------------------------------------------------------------------------
// helpers
// -----------------------------------------------------------------------------

const url = "http://etcd.test:2379"
const ep = (address: string, weight = 1) => JSON.stringify({ address, weight })

const quiet = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(
    Effect.provideService(Metric.MetricRegistry, new Map()),
    Effect.provideService(References.MinimumLogLevel, "None")
  )

/** Lets the fake's streams deliver (a real macrotask) and moves the test clock a little. */
const tick = Effect.andThen(
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 0))),
  TestClock.adjust("50 millis")
)

/** Ticks until `condition` holds (at most 400 ticks, 20 s of test time). */
const until = (condition: () => boolean, what: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 400; i++) {
      if (condition()) return
      yield* tick
    }
    assert.fail(`timed out waiting for ${what}`)
  })

const addresses = (u: Discovery.Update | undefined) =>
  u === undefined || u._tag !== "Changed" ? [] : u.change.all.map((e) => e.address).sort()

/** Watches `target` through `etcd`, collecting every update. */
const watching = (etcd: FakeEtcd, options?: Partial<Parameters<typeof Etcd.discovery>[0]>, target = "api") =>
  Effect.gen(function*() {
    const discovery = yield* Etcd.discovery({ endpoints: url, requestTimeout: "1 hour", ...options }).pipe(
      Effect.provideService(HttpClient.HttpClient, etcd.client)
    )
    const updates: Array<Discovery.Update> = []
    const fiber = yield* discovery.updates(target).pipe(
      Stream.runForEach((u) => Effect.sync(() => updates.push(u))),
      Effect.forkChild
    )
    const changes = () => updates.filter((u): u is Discovery.Changed => u._tag === "Changed")
    const current = () => addresses(changes().at(-1))
    return { updates, changes, current, fiber }
  })

/**
 * A gateway holding `a` (10.0.0.1:80) and, unless `one`, `b` (10.0.0.2:80), watched with
 * `options`, once the first set has arrived and the watch is open.
 */
const started = (options?: Partial<Parameters<typeof Etcd.discovery>[0]>, one = false) =>
  Effect.gen(function*() {
    const etcd = new FakeEtcd()
    etcd.put("/services/api/a", ep("10.0.0.1:80"))
    if (!one) etcd.put("/services/api/b", ep("10.0.0.2:80"))
    const w = yield* watching(etcd, options)
    yield* until(() => w.changes().length === 1 && etcd.watchers.size === 1, "the first set")
    return { etcd, w }
  })

/** The first rejected update `w` has seen, once there is one. */
const firstRejected = (w: { readonly updates: ReadonlyArray<Discovery.Update> }) =>
  Effect.map(
    until(() => w.updates.some((u) => u._tag === "Rejected"), "a rejected update"),
    () => w.updates.find((u): u is Discovery.Rejected => u._tag === "Rejected")!
  )

// -----------------------------------------------------------------------------
// tests
// -----------------------------------------------------------------------------

describe("Etcd.discovery", () => {
  it.effect("lists the prefix, then every put and delete of the watch is one change", () =>
    quiet(Effect.gen(function*() {
      const etcd = new FakeEtcd()
      etcd.put("/services/api/a", ep("10.0.0.1:80"))
      etcd.put("/services/api/b", ep("10.0.0.2:80"))
      etcd.put("/services/other/c", ep("10.0.0.9:80"))
      const w = yield* watching(etcd)
      yield* until(() => w.changes().length === 1 && etcd.watchers.size === 1, "the first set")
      assert.deepStrictEqual(w.current(), ["10.0.0.1:80", "10.0.0.2:80"])
      etcd.put("/services/api/c", ep("10.0.0.3:80"))
      yield* until(() => w.changes().length === 2, "the put")
      assert.deepStrictEqual(w.changes()[1]!.change.added.map((e) => e.address), ["10.0.0.3:80"])
      etcd.put("/services/api/a", ep("10.0.0.1:80", 5))
      yield* until(() => w.changes().length === 3, "the update")
      assert.deepStrictEqual(w.changes()[2]!.change.updated.map((e) => [e.address, e.weight]), [["10.0.0.1:80", 5]])
      etcd.delete("/services/api/b")
      yield* until(() => w.changes().length === 4, "the delete")
      assert.deepStrictEqual(w.changes()[3]!.change.removed.map((e) => e.address), ["10.0.0.2:80"])
      assert.deepStrictEqual(w.current(), ["10.0.0.1:80", "10.0.0.3:80"])
      // the watch started right after the listed revision
      assert.strictEqual(w.updates.filter((u) => u._tag === "Rejected").length, 0)
      yield* Fiber.interrupt(w.fiber)
    })))

  it.effect("after a dropped stream it lists again and emits exactly the difference", () =>
    quiet(Effect.gen(function*() {
      const { etcd, w } = yield* started()
      etcd.dropWatches()
      // changes while nobody watches
      etcd.delete("/services/api/b")
      etcd.put("/services/api/c", ep("10.0.0.3:80"))
      yield* until(() => w.changes().length === 2, "the resync")
      const change = w.changes()[1]!.change
      assert.deepStrictEqual(change.added.map((e) => e.address), ["10.0.0.3:80"])
      assert.deepStrictEqual(change.removed.map((e) => e.address), ["10.0.0.2:80"])
      assert.deepStrictEqual(change.updated, [])
      assert.deepStrictEqual(w.current(), ["10.0.0.1:80", "10.0.0.3:80"])
      // and the new watch goes on
      yield* until(() => etcd.watchers.size === 1, "the new watch")
      etcd.put("/services/api/d", ep("10.0.0.4:80"))
      yield* until(() => w.changes().length === 3, "a put after the resync")
      assert.deepStrictEqual(w.current(), ["10.0.0.1:80", "10.0.0.3:80", "10.0.0.4:80"])
      yield* Fiber.interrupt(w.fiber)
    })))

  it.effect("while etcd is down the last good set stays; when it is back, the set is resynced", () =>
    quiet(Effect.gen(function*() {
      const { etcd, w } = yield* started()
      etcd.stop()
      const rejected = yield* firstRejected(w)
      assert.strictEqual(rejected.error.reason, "Fetch")
      assert.include(rejected.error.detail, "Unavailable")
      assert.deepStrictEqual(rejected.kept.map((e) => e.address).sort(), ["10.0.0.1:80", "10.0.0.2:80"])
      // etcd comes back with the same data plus one change made meanwhile
      etcd.down = false
      etcd.put("/services/api/b", ep("10.0.0.2:80", 3))
      yield* until(() => w.changes().length === 2, "the resync")
      const change = w.changes()[1]!.change
      assert.deepStrictEqual(change.added, [])
      assert.deepStrictEqual(change.removed, [])
      assert.deepStrictEqual(change.updated.map((e) => [e.address, e.weight]), [["10.0.0.2:80", 3]])
      yield* Fiber.interrupt(w.fiber)
    })))

  it.effect("a compacted revision makes it list again at once", () =>
    quiet(Effect.gen(function*() {
      const etcd = new FakeEtcd()
      etcd.put("/services/api/a", ep("10.0.0.1:80"))
      const w = yield* watching(etcd)
      yield* until(() => w.changes().length === 1 && etcd.watchers.size === 1, "the first set")
      const ranges = () => etcd.log.filter((p) => p === "/v3/kv/range").length
      assert.strictEqual(ranges(), 1)
      etcd.put("/services/api/b", ep("10.0.0.2:80"))
      etcd.compact()
      yield* until(() => ranges() === 2 && etcd.watchers.size === 1, "the second list")
      etcd.put("/services/api/c", ep("10.0.0.3:80"))
      yield* until(() => w.current().length === 3, "the third endpoint")
      assert.deepStrictEqual(w.current(), ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"])
      assert.strictEqual(w.updates.filter((u) => u._tag === "Rejected").length, 0)
      yield* Fiber.interrupt(w.fiber)
    })))

  it.effect("more keys than maxEndpoints is a typed rejection; the last good set stays", () =>
    quiet(Effect.gen(function*() {
      const { etcd, w } = yield* started({ maxEndpoints: 2 }, true)
      etcd.put("/services/api/b", ep("10.0.0.2:80"))
      etcd.put("/services/api/c", ep("10.0.0.3:80"))
      const rejected = yield* firstRejected(w)
      assert.strictEqual(rejected.error.reason, "Decode")
      assert.include(rejected.error.detail, "TooManyEndpoints")
      assert.include(rejected.error.detail, "3 keys")
      assert.deepStrictEqual(w.current(), ["10.0.0.1:80", "10.0.0.2:80"])
      etcd.delete("/services/api/a")
      yield* until(() => w.current().join() === "10.0.0.2:80,10.0.0.3:80", "the set under the limit")
      yield* Fiber.interrupt(w.fiber)
    })))

  it.effect("a watch message over maxMessageBytes is a typed rejection; the last good set stays", () =>
    quiet(Effect.gen(function*() {
      const { etcd, w } = yield* started({ maxMessageBytes: 2048 }, true)
      etcd.put("/services/api/big", JSON.stringify({ address: "10.0.0.2:80", tags: { pad: "x".repeat(4000) } }))
      const rejected = yield* firstRejected(w)
      assert.strictEqual(rejected.error.reason, "Decode")
      assert.include(rejected.error.detail, "MessageTooLarge")
      assert.deepStrictEqual(w.current(), ["10.0.0.1:80"])
      etcd.delete("/services/api/big")
      etcd.put("/services/api/b", ep("10.0.0.3:80"))
      etcd.compact() // the history with the big value is gone
      yield* until(() => w.current().length === 2, "the set after the big value is gone")
      assert.deepStrictEqual(w.current(), ["10.0.0.1:80", "10.0.0.3:80"])
      yield* Fiber.interrupt(w.fiber)
    })))

  it.effect("a malformed value is a typed rejection; its key keeps its last good value", () =>
    quiet(Effect.gen(function*() {
      const etcd = new FakeEtcd()
      etcd.put("/services/api/a", ep("10.0.0.1:80"))
      etcd.put("/services/api/bad", "{not json")
      const w = yield* watching(etcd)
      yield* until(() => w.changes().length === 1 && etcd.watchers.size === 1, "the first set")
      const rejected = w.updates.find((u): u is Discovery.Rejected => u._tag === "Rejected")!
      assert.strictEqual(rejected.error.reason, "Decode")
      assert.include(rejected.error.detail, "Malformed")
      assert.include(rejected.error.detail, "/services/api/bad")
      assert.deepStrictEqual(w.current(), ["10.0.0.1:80"])
      etcd.put("/services/api/a", JSON.stringify({ address: "10.0.0.1:80", weight: -1 }))
      yield* until(() => w.updates.filter((u) => u._tag === "Rejected").length === 2, "the second rejection")
      assert.deepStrictEqual(w.current(), ["10.0.0.1:80"])
      assert.strictEqual(w.changes().at(-1)!.change.all[0]!.weight, 1)
      yield* Fiber.interrupt(w.fiber)
    })))

  it.effect(
    "≥ 1000 malformed values never crash the watcher and never empty the set",
    () =>
      quiet(Effect.gen(function*() {
        const good = fc.record({
          address: fc.tuple(fc.integer({ min: 1, max: 254 }), fc.integer({ min: 1, max: 65535 })).map(([h, p]) =>
            `10.1.0.${h}:${p}`
          ),
          weight: fc.integer({ min: 1, max: 100 })
        }).map((e) => JSON.stringify(e))
        const malformed = fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.record({ address: fc.string(), weight: fc.oneof(fc.double(), fc.string(), fc.constant(null)) }).map((e) =>
            JSON.stringify(e)
          ),
          fc.constant(""),
          fc.constant("{\"address\":\"10.0.0.1:80\",\"weight\":0}"),
          fc.constant("{\"address\":\"999.0.0.1:80\"}")
        ).filter((v) => {
          // malformed means what the decoder refuses: a generated value that is a valid endpoint is not one
          try {
            return Result.isFailure(Endpoint.decodeResult(JSON.parse(v)))
          } catch {
            return true
          }
        })
        const op = fc.oneof(
          { weight: 6, arbitrary: fc.tuple(fc.constant("bad" as const), fc.integer({ min: 0, max: 7 }), malformed) },
          { weight: 2, arbitrary: fc.tuple(fc.constant("good" as const), fc.integer({ min: 0, max: 7 }), good) },
          {
            weight: 1,
            arbitrary: fc.tuple(fc.constant("delete" as const), fc.integer({ min: 0, max: 7 }), fc.constant(""))
          }
        )
        let malformedWritten = 0
        const script = fc.tuple(
          fc.array(op, { minLength: 20, maxLength: 40 }),
          fc.array(malformed, { minLength: 30, maxLength: 30 })
        )
          .map(([ops, bad]) => [...ops, ...bad.map((v, i) => ["bad" as const, i % 8, v] as const)])
        const property = fc.asyncProperty(script, async (ops) => {
          await Effect.runPromise(quiet(Effect.scoped(
            Effect.gen(function*() {
              const etcd = new FakeEtcd()
              etcd.put("/services/api/base", ep("10.0.0.1:80"))
              const w = yield* watching(etcd)
              yield* until(() => w.changes().length === 1 && etcd.watchers.size === 1, "the first set")
              /** the model: each key's last good value */
              const model = new Map<string, string>([["/services/api/base", "10.0.0.1:80"]])
              for (const [kind, slot, value] of ops) {
                const key = `/services/api/k${slot}`
                if (kind === "delete") {
                  etcd.delete(key)
                  model.delete(key)
                } else {
                  etcd.put(key, value)
                  if (kind === "good") model.set(key, JSON.parse(value).address)
                  else malformedWritten++
                }
              }
              const expected = Array.from(new Set(model.values())).sort()
              yield* until(() => w.current().join() === expected.join(), `the set ${expected.join()}`)
              for (const change of w.changes()) assert.isAbove(change.change.all.length, 0)
              assert.isFalse(w.fiber.pollUnsafe() !== undefined, "the watcher stopped")
              yield* Fiber.interrupt(w.fiber)
            }).pipe(Effect.provide(TestClock.layer()))
          )))
        })
        yield* Effect.promise(async () => {
          try {
            await fc.assert(property, { seed, numRuns: 40 })
          } catch (error) {
            throw new Error(`seed ${seed}: ${String(error)}`, { cause: error })
          }
        })
        assert.isAtLeast(malformedWritten, 1000)
      })),
    120_000
  )

  it.effect("with auth, it takes a token, sends it, and takes a new one when it is refused", () =>
    quiet(Effect.gen(function*() {
      const etcd = new FakeEtcd()
      etcd.auth = { user: "root", password: "s3cret", token: undefined }
      etcd.put("/services/api/a", ep("10.0.0.1:80"))
      const w = yield* watching(etcd, { auth: { username: "root", password: Redacted.make("s3cret") } })
      yield* until(() => w.changes().length === 1 && etcd.watchers.size === 1, "the first set")
      assert.strictEqual(etcd.log[0], "/v3/auth/authenticate")
      etcd.auth.token = "rotated" // the old token is no longer valid
      etcd.dropWatches()
      etcd.put("/services/api/b", ep("10.0.0.2:80"))
      yield* until(() => w.current().length === 2, "the resync with a new token")
      assert.isAtLeast(etcd.log.filter((p) => p === "/v3/auth/authenticate").length, 2)
      yield* Fiber.interrupt(w.fiber)
    })))

  it.effect("discover lists once: the valid values, malformed ones left out", () =>
    quiet(Effect.gen(function*() {
      const etcd = new FakeEtcd()
      etcd.put("/services/api/a", ep("10.0.0.1:80"))
      etcd.put("/services/api/b", "\"10.0.0.2:80\"")
      etcd.put("/services/api/bad", "[]")
      const discovery = yield* Etcd.discovery({ endpoints: url }).pipe(
        Effect.provideService(HttpClient.HttpClient, etcd.client)
      )
      const endpoints = yield* discovery.discover("api")
      assert.deepStrictEqual(endpoints.map((e) => e.address).sort(), ["10.0.0.1:80", "10.0.0.2:80"])
      assert.deepStrictEqual(etcd.log, ["/v3/kv/range"])
    })))

  it.effect("invalid options fail with an OptionError naming the value", () =>
    Effect.gen(function*() {
      const client = new FakeEtcd().client
      const refuse = (options: Parameters<typeof Etcd.discovery>[0]) =>
        Etcd.discovery(options).pipe(Effect.provideService(HttpClient.HttpClient, client), Effect.flip)
      const a = yield* refuse({ endpoints: "ftp://x" })
      assert.strictEqual(a._tag, "OptionError")
      assert.strictEqual(a.option, "endpoints")
      const b = yield* refuse({ endpoints: url, maxEndpoints: 0 })
      assert.strictEqual(b.option, "maxEndpoints")
      assert.strictEqual(b.reason, "OutOfRange")
      const c = yield* refuse({ endpoints: url, maxMessageBytes: Number.NaN })
      assert.strictEqual(c.value, "NaN")
      const d = yield* refuse({ endpoints: url, auth: { username: "u", password: "plain" as never } })
      assert.strictEqual(d.option, "auth")
      assert.notInclude(d.message, "plain")
      const e = yield* refuse({ endpoints: [] })
      assert.strictEqual(e.option, "endpoints")
    }))
})

describe("Etcd.register", () => {
  it.effect("puts the endpoint under a lease, keeps it alive, re-grants a lost lease, revokes on close", () =>
    quiet(Effect.gen(function*() {
      const etcd = new FakeEtcd()
      const fiber = yield* Effect.scoped(Effect.gen(function*() {
        yield* Etcd.register({
          endpoints: url,
          key: "/services/api/me",
          endpoint: { address: "10.0.0.7:8080", weight: 3 },
          ttl: "3 seconds",
          requestTimeout: "1 hour"
        })
        yield* Effect.never
      })).pipe(Effect.provideService(HttpClient.HttpClient, etcd.client), Effect.forkChild)
      yield* until(() => etcd.kv.has("/services/api/me"), "the put")
      const first = etcd.kv.get("/services/api/me")!
      assert.deepStrictEqual(JSON.parse(first.value), { address: "10.0.0.7:8080", weight: 3, tags: {} })
      assert.strictEqual(etcd.leases.get(first.lease!), 3)
      yield* until(() => etcd.log.filter((p) => p === "/v3/lease/keepalive").length >= 2, "keep-alives")
      // the lease is lost (it expired while etcd was unreachable): a new one, and the key again
      etcd.expire(first.lease!)
      assert.isFalse(etcd.kv.has("/services/api/me"))
      yield* until(() => etcd.kv.has("/services/api/me"), "the key put again")
      const second = etcd.kv.get("/services/api/me")!
      assert.notStrictEqual(second.lease, first.lease)
      assert.isTrue(etcd.leases.has(second.lease!))
      yield* Fiber.interrupt(fiber)
      yield* until(() => !etcd.kv.has("/services/api/me"), "the revoke")
      assert.isFalse(etcd.leases.has(second.lease!))
      assert.include(etcd.log, "/v3/lease/revoke")
    })))

  it.effect("a put that fails after a new lease is granted is tried again with that lease", () =>
    quiet(Effect.gen(function*() {
      const etcd = new FakeEtcd()
      const fiber = yield* Effect.scoped(Effect.gen(function*() {
        yield* Etcd.register({
          endpoints: url,
          key: "/services/api/me",
          endpoint: "10.0.0.7:8080",
          ttl: 3_000,
          requestTimeout: "1 hour"
        })
        yield* Effect.never
      })).pipe(Effect.provideService(HttpClient.HttpClient, etcd.client), Effect.forkChild)
      yield* until(() => etcd.kv.has("/services/api/me"), "the put")
      const first = etcd.kv.get("/services/api/me")!.lease!
      etcd.failPuts = 2
      etcd.expire(first)
      yield* until(() => etcd.kv.has("/services/api/me"), "the key put again")
      const grants = etcd.log.filter((p) => p === "/v3/lease/grant").length
      assert.strictEqual(grants, 2, "one new lease, reused by the retried puts")
      assert.isTrue(etcd.leases.has(etcd.kv.get("/services/api/me")!.lease!))
      yield* Fiber.interrupt(fiber)
    })))

  it.effect("fails with an EtcdError when etcd cannot be reached, and with an OptionError for a bad ttl", () =>
    quiet(Effect.gen(function*() {
      const etcd = new FakeEtcd()
      etcd.down = true
      const register = (ttl: Duration.Input) =>
        Effect.scoped(
          Etcd.register({
            endpoints: url,
            key: "/services/api/me",
            endpoint: "10.0.0.7:8080",
            ttl,
            requestTimeout: "1 hour"
          })
        ).pipe(Effect.provideService(HttpClient.HttpClient, etcd.client), Effect.flip)
      const unreachable = yield* register("5 seconds")
      assert.strictEqual(unreachable._tag, "EtcdError")
      assert.isTrue(Etcd.isEtcdError(unreachable))
      if (unreachable._tag === "EtcdError") assert.strictEqual(unreachable.reason, "Unavailable")
      const bad = yield* register(10)
      assert.strictEqual(bad._tag, "OptionError")
      if (bad._tag === "OptionError") assert.strictEqual(bad.option, "ttl")
    })))
})
