/**
 * DNS discovery against a real DNS server: unbound on 127.0.0.1, started by
 * `scripts/dns-server.sh` (which installs it when missing), with records edited live through
 * `unbound-control`. The same tests, with the same names, run on Node, Bun and Deno.
 */
import { assert, describe, it } from "@effect/vitest"
import * as NodeResolver from "@switchyard/adapter-node/NodeResolver"
import * as Discovery from "@switchyard/core/Discovery"
import * as DnsDiscovery from "@switchyard/core/DnsDiscovery"
import type * as Options from "@switchyard/core/Options"
import * as Resolver from "@switchyard/core/Resolver"
import { Effect, Fiber, Metric, References, Result, Stream } from "effect"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import process from "node:process"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll } from "vitest"

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..")
const zone = "svc.test"
const env = { ...process.env, PATH: `${process.env["PATH"] ?? ""}:/usr/sbin:/sbin` }

let child: ChildProcess | undefined
let dir = ""
let port = 0
let output = ""
let exited: string | undefined
let startError: string | undefined

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const found = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(found))
    })
  })

const control = (command: string, args: ReadonlyArray<string> = [], stdin?: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const proc = execFile(
      "unbound-control",
      ["-c", path.join(dir, "unbound.conf"), command, ...args],
      { env, timeout: 10_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`unbound-control ${command} failed: ${error.message} ${stderr}`)) : resolve(stdout)
    )
    proc.stdin?.end(stdin ?? "")
  })

/**
 * Replaces every record of `name` with `records` (`"1 IN SRV 0 5 8080 a.svc.test."`): a remove,
 * then one `local_datas` command, which unbound (one thread) applies between two queries, so a
 * query sees the old records, none (NXDOMAIN), or all the new ones, never a part of them.
 */
const setRecords = async (name: string, records: ReadonlyArray<string>) => {
  await control("local_data_remove", [name])
  await control("local_datas", [], records.map((r) => `${name} ${r}\n`).join(""))
}

const resolverLayer = () => NodeResolver.layer({ servers: [`127.0.0.1:${port}`], timeout: "500 millis" })

const run = <A, E>(effect: Effect.Effect<A, E, Resolver.Resolver>): Promise<A> =>
  Effect.runPromise(
    effect.pipe(
      Effect.provide(resolverLayer()),
      Effect.provideService(Metric.MetricRegistry, new Map()),
      Effect.provideService(References.MinimumLogLevel, "None")
    ) as Effect.Effect<A, E>
  )

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-dns-"))
  port = await freePort()
  const controlPort = await freePort()
  child = spawn("sh", [path.join(root, "scripts", "dns-server.sh"), "start", dir, String(port), String(controlPort)], {
    env,
    stdio: ["ignore", "pipe", "pipe"]
  })
  child.stdout?.on("data", (chunk: Uint8Array) => (output += String(chunk)))
  child.stderr?.on("data", (chunk: Uint8Array) => (output += String(chunk)))
  child.on("exit", (code, signal) => (exited = `exited with ${code ?? signal}`))
  // installing unbound may take a while the first time; then unbound starts in milliseconds
  const deadline = Date.now() + 150_000
  for (;;) {
    if (exited !== undefined) {
      startError = `the DNS server (scripts/dns-server.sh) ${exited}:\n${output}`
      return
    }
    try {
      await control("status")
      break
    } catch {
      if (Date.now() > deadline) {
        startError = `the DNS server did not start within 150 s:\n${output}`
        return
      }
      await sleep(100)
    }
  }
}, 180_000)

afterAll(() => {
  child?.kill("SIGTERM")
  try {
    fs.rmSync(dir, { recursive: true, force: true })
  } catch {
    // best effort
  }
})

const ready = () => {
  if (startError !== undefined) assert.fail(startError)
}

interface Seen {
  readonly at: number
  readonly update: Discovery.Update
}

/** Follows `name` in the background; `seen` grows with every update, stamped with the wall time. */
const watch = (
  discovery: Effect.Effect<Discovery.Discovery<string>, Options.OptionError, Resolver.Resolver>,
  name: string
) => {
  const seen: Array<Seen> = []
  const fiber = Effect.runFork(
    Effect.flatMap(discovery, (d) =>
      Discovery.follow(d, name).pipe(
        Stream.runForEach((update) => Effect.sync(() => seen.push({ at: Date.now(), update })))
      )).pipe(
        Effect.provide(resolverLayer()),
        Effect.provideService(Metric.MetricRegistry, new Map()),
        Effect.provideService(References.MinimumLogLevel, "None")
      )
  )
  return { seen, stop: () => Effect.runPromise(Fiber.interrupt(fiber)) }
}

/** Waits until a Changed after index `from` satisfies `ok`; returns it and when it came. */
const waitForChange = async (
  seen: ReadonlyArray<Seen>,
  from: number,
  ok: (change: Discovery.Changed) => boolean,
  within: number
): Promise<{ readonly index: number; readonly at: number; readonly change: Discovery.Changed }> => {
  const deadline = Date.now() + within
  for (;;) {
    for (let i = from; i < seen.length; i++) {
      const u = seen[i]!.update
      if (Discovery.isChanged(u) && ok(u)) return { index: i, at: seen[i]!.at, change: u }
    }
    if (Date.now() > deadline) {
      assert.fail(
        `no matching change within ${within} ms; saw: ${seen.slice(from).map((s) => describe_(s.update)).join(" | ")}`
      )
    }
    await sleep(20)
  }
}

const describe_ = (u: Discovery.Update): string =>
  u._tag === "Changed"
    ? `changed ${u.change.all.map((e) => `${e.address}/w${e.weight}/p${e.priority ?? "-"}`).sort().join(",")}`
    : `rejected ${u.error.reason}: ${u.error.detail}`

const set = (change: Discovery.Changed): string =>
  change.change.all.map((e) => `${e.address}/w${e.weight}/p${e.priority ?? "-"}`).sort().join(",")

/** The TTL window: TTL 1 s (maxTtl 1 s), plus time for the query and the scheduler. */
const window = 1000 + 750

describe("DNS discovery against unbound", () => {
  it("the resolver reads SRV and A records with their TTLs, and NXDOMAIN as NotFound", async () => {
    ready()
    await setRecords(`_ttl._tcp.${zone}.`, ["7 IN SRV 1 5 8080 a.svc.test."])
    await setRecords(`ttl.${zone}.`, ["42 IN A 127.0.0.10", "42 IN A 127.0.0.11"])
    const [srv, a, missing] = await run(Effect.gen(function*() {
      const resolver = yield* Resolver.Resolver
      return [
        yield* resolver.srv(`_ttl._tcp.${zone}`),
        yield* resolver.addresses(`ttl.${zone}`, 4),
        yield* Effect.result(resolver.srv(`missing.${zone}`))
      ] as const
    }))
    assert.deepStrictEqual(srv, [{ target: "a.svc.test", port: 8080, priority: 1, weight: 5, ttl: 7 }])
    assert.deepStrictEqual([...a].sort((x, y) => x.address.localeCompare(y.address)), [
      { address: "127.0.0.10", ttl: 42 },
      { address: "127.0.0.11", ttl: 42 }
    ])
    assert.isTrue(Result.isFailure(missing) && missing.failure.reason === "NotFound")
  })

  it("SRV records added, re-weighted and removed while watching give the right Changes within the TTL window", async () => {
    ready()
    const name = `_api._tcp.${zone}`
    await setRecords(`${name}.`, ["1 IN SRV 0 5 8080 a.svc.test."])
    const { seen, stop } = watch(DnsDiscovery.srv({ minTtl: "100 millis", maxTtl: "1 second" }), name)
    try {
      const first = await waitForChange(seen, 0, () => true, 5000)
      assert.strictEqual(set(first.change), "a.svc.test:8080/w5/p0")

      let edited = Date.now()
      await control("local_data", [`${name}. 1 IN SRV 1 3 8081 b.svc.test.`])
      const added = await waitForChange(seen, first.index + 1, () => true, window + 1000)
      assert.strictEqual(set(added.change), "a.svc.test:8080/w5/p0,b.svc.test:8081/w3/p1")
      assert.deepStrictEqual(added.change.change.added.map((e) => e.address), ["b.svc.test:8081"])
      assert.isAtMost(added.at - edited, window)

      edited = Date.now()
      await setRecords(`${name}.`, ["1 IN SRV 0 5 8080 a.svc.test.", "1 IN SRV 1 9 8081 b.svc.test."])
      const reweighted = await waitForChange(seen, added.index + 1, () => true, window + 1000)
      assert.strictEqual(set(reweighted.change), "a.svc.test:8080/w5/p0,b.svc.test:8081/w9/p1")
      assert.deepStrictEqual(reweighted.change.change.updated.map((e) => e.address), ["b.svc.test:8081"])
      assert.isAtMost(reweighted.at - edited, window)

      edited = Date.now()
      await setRecords(`${name}.`, ["1 IN SRV 1 9 8081 b.svc.test."])
      const removed = await waitForChange(seen, reweighted.index + 1, () => true, window + 1000)
      assert.strictEqual(set(removed.change), "b.svc.test:8081/w9/p1")
      assert.deepStrictEqual(removed.change.change.removed.map((e) => e.address), ["a.svc.test:8080"])
      assert.isAtMost(removed.at - edited, window)

      // the set is never emptied: a query between a remove and an add (NXDOMAIN) is only a rejection
      for (const { update } of seen) {
        if (Discovery.isChanged(update)) assert.isAbove(update.change.all.length, 0)
        else assert.isAbove(update.kept.length, 0)
      }
    } finally {
      await stop()
    }
  })

  it("NXDOMAIN keeps the last good set with a typed rejection; the records coming back is one Change", async () => {
    ready()
    const name = `_gone._tcp.${zone}`
    await setRecords(`${name}.`, ["1 IN SRV 0 1 9000 c.svc.test."])
    const { seen, stop } = watch(
      DnsDiscovery.srv({
        minTtl: "100 millis",
        maxTtl: "1 second",
        backoff: { initial: "100 millis", max: "300 millis" }
      }),
      name
    )
    try {
      const first = await waitForChange(seen, 0, () => true, 5000)
      await control("local_data_remove", [`${name}.`])
      const deadline = Date.now() + window + 1000
      let rejected: Discovery.Rejected | undefined
      while (rejected === undefined && Date.now() < deadline) {
        rejected = seen.slice(first.index + 1).map((s) => s.update).find(Discovery.isRejected)
        await sleep(20)
      }
      assert.isDefined(rejected, "NXDOMAIN must be reported")
      assert.strictEqual(rejected!.error.reason, "Fetch")
      assert.include(rejected!.error.detail, "NotFound")
      assert.deepStrictEqual(rejected!.kept.map((e) => e.address), ["c.svc.test:9000"])
      await control("local_data", [`${name}. 1 IN SRV 0 1 9001 c.svc.test.`])
      const back = await waitForChange(seen, first.index + 1, () => true, window + 1000)
      assert.strictEqual(set(back.change), "c.svc.test:9001/w1/p0")
    } finally {
      await stop()
    }
  })

  it("A records added and removed while watching give the right Changes within the TTL window", async () => {
    ready()
    const name = `api.${zone}`
    await setRecords(`${name}.`, ["1 IN A 127.0.0.20"])
    const { seen, stop } = watch(DnsDiscovery.addresses({ port: 8080, minTtl: "100 millis", maxTtl: "1 second" }), name)
    try {
      const first = await waitForChange(seen, 0, () => true, 5000)
      assert.strictEqual(set(first.change), "127.0.0.20:8080/w1/p-")
      let edited = Date.now()
      await control("local_data", [`${name}. 1 IN A 127.0.0.21`])
      const added = await waitForChange(seen, first.index + 1, () => true, window + 1000)
      assert.strictEqual(set(added.change), "127.0.0.20:8080/w1/p-,127.0.0.21:8080/w1/p-")
      assert.isAtMost(added.at - edited, window)
      edited = Date.now()
      await setRecords(`${name}.`, ["1 IN A 127.0.0.21"])
      const removed = await waitForChange(seen, added.index + 1, () => true, window + 1000)
      assert.strictEqual(set(removed.change), "127.0.0.21:8080/w1/p-")
      assert.isAtMost(removed.at - edited, window)
    } finally {
      await stop()
    }
  })
})
