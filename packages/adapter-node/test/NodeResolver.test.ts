import { assert, describe, it } from "@effect/vitest"
import * as Discovery from "@switchyard/core/Discovery"
import * as DnsDiscovery from "@switchyard/core/DnsDiscovery"
import * as Resolver from "@switchyard/core/Resolver"
import { Effect, Fiber, Metric, Ref, References, Result, Stream } from "effect"
import * as fc from "fast-check"
import * as dgram from "node:dgram"
import process from "node:process"
import { afterAll, beforeAll } from "vitest"
import * as NodeResolver from "../src/NodeResolver.ts"

const seed = Number(process.env["SWITCHYARD_SEED"] ?? 20261121)

// --- a tiny DNS responder on 127.0.0.1 ------------------------------------------

interface Query {
  readonly id: number
  readonly name: string
  readonly qtype: number
  /** The question section as sent, to echo back. */
  readonly question: Uint8Array
}

type Respond = (query: Query) => Uint8Array | undefined

let respond: Respond = () => undefined
let server: dgram.Socket
let port = 0

const readQuery = (msg: Uint8Array): Query | undefined => {
  if (msg.length < 17) return undefined
  let o = 12
  const labels: Array<string> = []
  while (o < msg.length && msg[o] !== 0) {
    const len = msg[o]!
    labels.push(String.fromCharCode(...msg.subarray(o + 1, o + 1 + len)))
    o += len + 1
  }
  const end = o + 5
  if (end > msg.length) return undefined
  return {
    id: (msg[0]! << 8) | msg[1]!,
    name: labels.join("."),
    qtype: (msg[o + 1]! << 8) | msg[o + 2]!,
    question: msg.slice(12, end)
  }
}

beforeAll(async () => {
  server = dgram.createSocket("udp4")
  server.on("message", (msg: Uint8Array, remote: { address: string; port: number }) => {
    const query = readQuery(msg)
    if (query === undefined) return
    const answer = respond(query)
    if (answer !== undefined) server.send(answer, remote.port, remote.address)
  })
  await new Promise<void>((resolve) => server.bind(0, "127.0.0.1", () => resolve()))
  port = server.address().port
})

afterAll(() => {
  server.close()
})

// --- building answers ------------------------------------------------------------

const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff]
const u32 = (n: number) => [...u16(Math.floor(n / 65536)), ...u16(n % 65536)]
const encodeName = (name: string): Array<number> =>
  name === "" || name === "."
    ? [0]
    : [...name.split(".").flatMap((l) => [l.length, ...Array.from(l, (c) => c.charCodeAt(0))]), 0]

interface Srv {
  readonly target: string
  readonly port: number
  readonly priority: number
  readonly weight: number
  readonly ttl: number
}

/** An answer to `query`: the given SRV records (owner compressed to the question), flags and rcode. */
const srvAnswer = (
  query: Query,
  records: ReadonlyArray<Srv>,
  options?: { readonly rcode?: number; readonly tc?: boolean }
): Uint8Array => {
  const flags = 0x8180 | (options?.tc === true ? 0x0200 : 0) | (options?.rcode ?? 0)
  const bytes: Array<number> = [...u16(query.id), ...u16(flags), ...u16(1), ...u16(records.length), 0, 0, 0, 0]
  bytes.push(...query.question)
  for (const r of records) {
    const target = encodeName(r.target)
    bytes.push(0xc0, 12, ...u16(33), ...u16(1), ...u32(r.ttl), ...u16(6 + target.length))
    bytes.push(...u16(r.priority), ...u16(r.weight), ...u16(r.port), ...target)
  }
  return Uint8Array.from(bytes)
}

/** An A answer to `query` (for the node:dns path). */
const aAnswer = (query: Query, addresses: ReadonlyArray<readonly [string, number]>): Uint8Array => {
  const bytes: Array<number> = [...u16(query.id), ...u16(0x8180), ...u16(1), ...u16(addresses.length), 0, 0, 0, 0]
  bytes.push(...query.question)
  for (const [address, ttl] of addresses) {
    bytes.push(0xc0, 12, ...u16(1), ...u16(1), ...u32(ttl), ...u16(4), ...address.split(".").map(Number))
  }
  return Uint8Array.from(bytes)
}

const good: ReadonlyArray<Srv> = [
  { target: "a.svc.test", port: 8080, priority: 0, weight: 10, ttl: 7 },
  { target: "b.svc.test", port: 8081, priority: 1, weight: 0, ttl: 9 }
]

const resolverWith = (options?: NodeResolver.Options) =>
  Effect.runPromise(NodeResolver.make({ servers: [`127.0.0.1:${port}`], timeout: "300 millis", ...options }))

const srvResult = async (options?: NodeResolver.Options, name = "_http._tcp.svc.test") => {
  const resolver = await resolverWith(options)
  return Effect.runPromise(Effect.result(resolver.srv(name)))
}

const failureReason = (r: Result.Result<unknown, Resolver.ResolveError>): string =>
  Result.isFailure(r) ? r.failure.reason : "success"

describe("NodeResolver", () => {
  it("srv: reads SRV records with their TTLs from the wire", async () => {
    respond = (q) => srvAnswer(q, good)
    const result = await srvResult()
    assert.isTrue(Result.isSuccess(result))
    assert.deepStrictEqual(Result.getOrThrow(result), good.map((r) => ({ ...r })))
  })

  it("srv: NXDOMAIN, SERVFAIL and REFUSED are typed errors with their reasons", async () => {
    const cases: ReadonlyArray<readonly [number, string]> = [[3, "NotFound"], [2, "ServerFailure"], [5, "Refused"]]
    for (const [rcode, reason] of cases) {
      respond = (q) => srvAnswer(q, [], { rcode })
      assert.strictEqual(failureReason(await srvResult()), reason)
    }
  })

  it("srv: no answer is a Timeout; a truncated or too large answer is TooLarge", async () => {
    respond = () => undefined
    assert.strictEqual(failureReason(await srvResult()), "Timeout")
    respond = (q) => srvAnswer(q, good, { tc: true })
    assert.strictEqual(failureReason(await srvResult()), "TooLarge")
    const many = Array.from({ length: 60 }, (_, i) => ({ ...good[0]!, target: `host-${i}.svc.test` }))
    respond = (q) => srvAnswer(q, many)
    const result = await srvResult({ maxAnswerBytes: 1024 })
    assert.strictEqual(failureReason(result), "TooLarge")
    assert.isTrue(Result.isSuccess(await srvResult({ maxAnswerBytes: 4096 })))
  })

  it("srv: a compression loop and an answer for another question are Malformed", async () => {
    respond = (q) => {
      const answer = srvAnswer(q, good)
      // the first answer's owner points at itself
      const at = 12 + q.question.length
      answer[at] = 0xc0
      answer[at + 1] = at
      return answer
    }
    assert.strictEqual(failureReason(await srvResult()), "Malformed")
    respond = (q) => srvAnswer({ ...q, question: Uint8Array.from([...encodeName("other.test"), 0, 33, 0, 1]) }, good)
    assert.strictEqual(failureReason(await srvResult()), "Malformed")
  })

  it("an invalid name and invalid options are typed errors", async () => {
    assert.strictEqual(failureReason(await srvResult(undefined, `${"x".repeat(64)}.test`)), "InvalidName")
    const bad = await Effect.runPromise(Effect.flip(NodeResolver.make({ servers: ["not-an-ip"] })))
    assert.strictEqual(bad._tag, "OptionError")
    assert.strictEqual(bad.option, "servers")
    const small = await Effect.runPromise(Effect.flip(NodeResolver.make({ maxAnswerBytes: 100 })))
    assert.strictEqual(small.option, "maxAnswerBytes")
  })

  it("addresses: A records with TTLs through node:dns; NXDOMAIN is NotFound", async () => {
    respond = (q) => q.qtype === 1 ? aAnswer(q, [["10.0.0.1", 42], ["10.0.0.2", 42]]) : srvAnswer(q, [], { rcode: 0 })
    const resolver = await resolverWith({ timeout: "1 second" })
    const records = await Effect.runPromise(resolver.addresses("api.svc.test", 4))
    assert.deepStrictEqual([...records].sort((a, b) => a.address.localeCompare(b.address)), [
      { address: "10.0.0.1", ttl: 42 },
      { address: "10.0.0.2", ttl: 42 }
    ])
    respond = (q) => srvAnswer(q, [], { rcode: 3 })
    const missing = await Effect.runPromise(Effect.result(resolver.addresses("missing.svc.test", 4)))
    assert.strictEqual(failureReason(missing), "NotFound")
  })

  /** Packets that are not valid answers, or barely: random bytes, and mutations of a good answer. */
  const packets = (query: Query): fc.Arbitrary<Uint8Array> => {
    const base = srvAnswer(query, good)
    const random = fc.uint8Array({ minLength: 2, maxLength: 600 })
    const mutated = fc.tuple(
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      fc.option(fc.nat({ max: base.length }), { nil: undefined }),
      fc.uint8Array({ maxLength: 40 })
    ).map(([edits, cut, tail]) => {
      const bytes = Uint8Array.from([...base, ...tail])
      for (const [at, value] of edits) bytes[at % bytes.length] = value
      return cut === undefined ? bytes : bytes.slice(0, Math.max(2, cut))
    })
    return fc.oneof(random, mutated).map((bytes) => {
      const out = Uint8Array.from(bytes)
      out[0] = query.id >> 8
      out[1] = query.id & 0xff
      return out
    })
  }

  const validRecord = (r: Resolver.SrvRecord): boolean =>
    Number.isInteger(r.port) && r.port >= 0 && r.port <= 65535 &&
    Number.isInteger(r.priority) && r.priority >= 0 && r.priority <= 65535 &&
    Number.isInteger(r.weight) && r.weight >= 0 && r.weight <= 65535 &&
    Number.isInteger(r.ttl) && r.ttl >= 0 && r.ttl < 2 ** 31 &&
    (r.target === "." || /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/i.test(r.target))

  it("property: 1000 malformed or random answers never throw: each is a typed error or a valid answer", async () => {
    const resolver = await resolverWith()
    const template: Query = {
      id: 0,
      name: "_http._tcp.svc.test",
      qtype: 33,
      question: Uint8Array.from([...encodeName("_http._tcp.svc.test"), 0, 33, 0, 1])
    }
    const reasons = new Map<string, number>()
    await fc.assert(
      fc.asyncProperty(fc.infiniteStream(packets(template)), async (stream) => {
        const source = stream[Symbol.iterator]()
        respond = (q) => {
          const packet = source.next().value as Uint8Array
          // rebuild with this query's id
          packet[0] = q.id >> 8
          packet[1] = q.id & 0xff
          return packet
        }
        const exit = await Effect.runPromiseExit(Effect.result(resolver.srv("_http._tcp.svc.test")))
        assert.strictEqual(exit._tag, "Success", "the query must not die")
        if (exit._tag !== "Success") return
        const result = exit.value
        if (Result.isFailure(result)) {
          assert.strictEqual(result.failure._tag, "ResolveError")
          assert.include(Resolver.reasons, result.failure.reason)
          reasons.set(result.failure.reason, (reasons.get(result.failure.reason) ?? 0) + 1)
        } else {
          for (const record of result.success) assert.isTrue(validRecord(record), JSON.stringify(record))
          reasons.set("success", (reasons.get("success") ?? 0) + 1)
        }
      }),
      { seed, numRuns: 1000 }
    )
    assert.isAtLeast(reasons.get("Malformed") ?? 0, 100)
    assert.isUndefined(reasons.get("Timeout"), "every packet carried the query's id: none may time out")
  })

  it("a watcher served 300 malformed answers between good ones never empties its set", async () => {
    const sample = fc.sample(
      packets({
        id: 0,
        name: "",
        qtype: 33,
        question: Uint8Array.from([...encodeName("_http._tcp.svc.test"), 0, 33, 0, 1])
      }),
      { seed, numRuns: 300 }
    )
    let served = 0
    respond = (q) => {
      served++
      if (served === 1 || served > sample.length + 1) return srvAnswer(q, good)
      const packet = Uint8Array.from(sample[served - 2]!)
      packet[0] = q.id >> 8
      packet[1] = q.id & 0xff
      return packet
    }
    const program = Effect.gen(function*() {
      const discovery = yield* DnsDiscovery.srv({
        minTtl: "2 millis",
        maxTtl: "5 millis",
        backoff: { initial: "2 millis", max: "5 millis" }
      })
      const updates = yield* Ref.make<ReadonlyArray<Discovery.Update>>([])
      const fiber = yield* Discovery.follow(discovery, "_http._tcp.svc.test").pipe(
        Stream.runForEach((u) => Ref.update(updates, (xs) => [...xs, u])),
        Effect.forkChild
      )
      while (served < sample.length + 3) yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(fiber)
      return yield* Ref.get(updates)
    }).pipe(
      Effect.provide(NodeResolver.layer({ servers: [`127.0.0.1:${port}`], timeout: "300 millis" })),
      Effect.provideService(Metric.MetricRegistry, new Map()),
      Effect.provideService(References.MinimumLogLevel, "None")
    )
    const updates = await Effect.runPromise(program)
    const first = updates[0]
    assert.isTrue(first !== undefined && Discovery.isChanged(first) && first.change.all.length === 2)
    for (const update of updates) {
      if (Discovery.isChanged(update)) assert.isAbove(update.change.all.length, 0, "a Changed never empties the set")
      else assert.isAbove(update.kept.length, 0, "a Rejected keeps a non-empty set")
    }
    const last = [...updates].reverse().find(Discovery.isChanged)!
    assert.deepStrictEqual(last.change.all.map((e) => e.address).sort(), ["a.svc.test:8080", "b.svc.test:8081"])
    assert.isAtLeast(updates.filter(Discovery.isRejected).length, 10)
  })
})
