/**
 * Etcd discovery and registration against a real etcd 3.4 (Debian's etcd-server), started on
 * loopback by scripts/etcd.sh (which installs it when missing). Registrants and watchers run as
 * child processes of the same runtime as the test (tests/etcd/registrant.ts, watcher.ts). Every
 * process started here is killed in afterAll and also stops by itself (etcd after 600 s, the
 * children after 120 s).
 */
import { Effect, Fiber, Redacted, References, Stream } from "effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import process from "node:process"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import type * as Discovery from "../packages/core/src/Discovery.ts"
import * as Etcd from "../packages/core/src/Etcd.ts"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const g = globalThis as { readonly Bun?: unknown; readonly Deno?: unknown }
/** How to run a TypeScript file with the runtime running this test. */
const runtimeArgs = (file: string): Array<string> => g.Deno !== undefined ? ["run", "-A", file] : [file]

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const waitFor = async (condition: () => boolean | Promise<boolean>, what: string, ms = 20_000) => {
  const deadline = performance.now() + ms
  while (performance.now() < deadline) {
    if (await condition()) return
    await sleep(50)
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`)
}

let dir = ""
let clientPort = 0
let peerPort = 0
let url = ""
let etcdPid: number | undefined
const children = new Set<ChildProcess>()
const fibers = new Set<Fiber.Fiber<unknown, unknown>>()

const startEtcd = async () => {
  let out: string
  try {
    out = execFileSync(
      "sh",
      [join(root, "scripts/etcd.sh"), "start", dir, String(clientPort), String(peerPort), "600"],
      {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"]
      }
    )
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? error)
    throw new Error(`could not start etcd with scripts/etcd.sh (it installs Debian's etcd-server as root): ${stderr}`, {
      cause: error
    })
  }
  etcdPid = Number(out.trim().split("\n").at(-1))
  assert.isTrue(Number.isInteger(etcdPid) && etcdPid > 0, `scripts/etcd.sh printed no PID: ${out}`)
  await waitFor(async () => {
    try {
      const response = await fetch(`${url}/health`)
      const body = await response.json() as { health?: string }
      return body.health === "true"
    } catch {
      return false
    }
  }, "etcd /health")
}

const killEtcd = () => {
  if (etcdPid === undefined) return
  try {
    process.kill(etcdPid, "SIGKILL")
  } catch {
    // already gone
  }
  etcdPid = undefined
}

const etcdGone = async (pid: number) =>
  waitFor(() => {
    try {
      process.kill(pid, 0)
      return false
    } catch {
      return true
    }
  }, `etcd ${pid} to exit`)

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "switchyard-etcd-"))
  clientPort = await freePort()
  peerPort = await freePort()
  url = `http://127.0.0.1:${clientPort}`
  await startEtcd()
}, 120_000)

afterAll(async () => {
  for (const fiber of fibers) await Effect.runPromise(Fiber.interrupt(fiber))
  for (const child of children) child.kill("SIGKILL")
  killEtcd()
  await sleep(100)
  rmSync(dir, { recursive: true, force: true })
})

// -----------------------------------------------------------------------------
// helpers
// -----------------------------------------------------------------------------

const b64 = (text: string) => btoa(text)

const gateway = async (path: string, body: unknown) => {
  const response = await fetch(`${url}${path}`, { method: "POST", body: JSON.stringify(body) })
  const json = await response.json()
  assert.strictEqual(response.status, 200, `${path}: ${JSON.stringify(json)}`)
  return json as Record<string, any>
}
const put = (key: string, address: string) =>
  gateway("/v3/kv/put", { key: b64(key), value: b64(JSON.stringify({ address })) })
const del = (key: string) => gateway("/v3/kv/deleterange", { key: b64(key) })

/** The addresses etcd holds under `/services/<target>/` right now. */
const stored = async (target: string) => {
  const prefix = `/services/${target}/`
  const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)
  const body = await gateway("/v3/kv/range", { key: b64(prefix), range_end: b64(end) })
  return ((body["kvs"] ?? []) as Array<{ value: string }>).map((kv) => JSON.parse(atob(kv.value)).address as string)
    .sort()
}

interface Child {
  readonly process: ChildProcess
  readonly lines: Array<string>
  readonly stderr: Array<string>
}

const child = (file: string, args: ReadonlyArray<string>): Child => {
  const proc = spawn(process.execPath, [...runtimeArgs(join(root, file)), ...args], {
    cwd: root,
    stdio: ["pipe", "pipe", "pipe"]
  })
  children.add(proc)
  proc.on("exit", () => children.delete(proc))
  const lines: Array<string> = []
  const stderr: Array<string> = []
  let buffer = ""
  proc.stdout!.setEncoding("utf8")
  proc.stdout!.on("data", (chunk: string) => {
    buffer += chunk
    const parts = buffer.split("\n")
    buffer = parts.pop()!
    lines.push(...parts.filter((l) => l.trim() !== ""))
  })
  proc.stderr!.setEncoding("utf8")
  proc.stderr!.on("data", (chunk: string) => stderr.push(chunk))
  return { process: proc, lines, stderr }
}

const registrant = async (target: string, port: number, ttl = 2) => {
  const address = `127.0.0.1:${port}`
  const c = child("tests/etcd/registrant.ts", [url, `/services/${target}/${address}`, address, String(ttl)])
  await waitFor(() => c.lines.includes("registered"), `registrant ${address} (stderr: ${c.stderr.join("")})`, 30_000)
  return { ...c, address }
}

const stopChild = async (c: Child) => {
  c.process.stdin!.write("stop\n")
  await waitFor(() => c.process.exitCode !== null || c.process.signalCode !== null, "the child to exit")
}

/**
 * Kills a child with SIGKILL through the OS, not `ChildProcess.kill`: Deno's closes the child's
 * stdin first, and a registrant that reads the end of its stdin deregisters cleanly.
 */
const sigkill = (c: Child) => process.kill(c.process.pid!, "SIGKILL")

const watcherChild = (target: string) => {
  const c = child("tests/etcd/watcher.ts", [url, target])
  const current = () => {
    const last = c.lines.at(-1)
    return last === undefined ? undefined : (JSON.parse(last) as { set: Array<string> }).set.join(",")
  }
  return { ...c, current }
}

/** A watcher in this process: the latest set, and every set seen. */
const watchHere = (target: string) => {
  const sets: Array<Array<string>> = []
  const fiber = Effect.runFork(
    Effect.gen(function*() {
      const discovery = yield* Etcd.discovery({ endpoints: url, empty: "accept" })
      yield* discovery.watch(target).pipe(
        Stream.runForEach((change) => Effect.sync(() => sets.push(change.all.map((e) => e.address).sort())))
      )
    }).pipe(Effect.provide(FetchHttpClient.layer), Effect.provideService(References.MinimumLogLevel, "None"))
  )
  fibers.add(fiber)
  const current = () => (sets.at(-1) ?? []).join(",")
  return { sets, current, fiber }
}

// -----------------------------------------------------------------------------
// tests
// -----------------------------------------------------------------------------

describe("Etcd against a real etcd 3.4", () => {
  it("a registered endpoint appears in the watch and is gone when its registrant deregisters", async () => {
    const w = watchHere("reg")
    const r = await registrant("reg", 9101)
    await waitFor(() => w.current() === r.address, "the registered endpoint in the watch")
    assert.deepStrictEqual(await stored("reg"), [r.address])
    await stopChild(r)
    await waitFor(() => w.current() === "", "the endpoint gone from the watch")
    assert.deepStrictEqual(await stored("reg"), [])
    await Effect.runPromise(Fiber.interrupt(w.fiber))
  })

  it("a registrant killed with SIGKILL disappears when its lease expires", async () => {
    const w = watchHere("kill")
    const r = await registrant("kill", 9201, 3)
    const other = await registrant("kill", 9202, 3)
    await waitFor(() => w.current() === `${r.address},${other.address}`, "both endpoints")
    sigkill(r)
    const killedAt = performance.now()
    await waitFor(() => w.current() === other.address, "the killed registrant's lease to expire", 15_000)
    const took = performance.now() - killedAt
    // the lease had a 3 s TTL, kept alive every second until the kill: not removed at once (no
    // revoke ran), and not long after the TTL
    assert.isAbove(took, 1_000, `removed ${Math.round(took)} ms after the kill`)
    assert.isBelow(took, 10_000, `removed ${Math.round(took)} ms after the kill`)
    assert.deepStrictEqual(await stored("kill"), [other.address])
    // the living one stays registered through more than a TTL
    await sleep(3_500)
    assert.strictEqual(w.current(), other.address)
    await stopChild(other)
    await waitFor(() => w.current() === "", "the other one deregistered")
    await Effect.runPromise(Fiber.interrupt(w.fiber))
  }, 60_000)

  it("etcd restarted in the middle of a watch: the watch resumes with no stale and no missing endpoint", async () => {
    await put("/services/restart/s1", "127.0.0.1:9301")
    await put("/services/restart/s2", "127.0.0.1:9302")
    const r = await registrant("restart", 9303, 5)
    const w = watchHere("restart")
    await waitFor(() => w.current() === "127.0.0.1:9301,127.0.0.1:9302,127.0.0.1:9303", "the first set")
    const before = w.sets.length
    const pid = etcdPid!
    killEtcd()
    await etcdGone(pid)
    await sleep(300) // the watcher sees etcd down for a while
    await startEtcd()
    // changes right after the restart, before or while the watcher resyncs
    await del("/services/restart/s1")
    await put("/services/restart/s4", "127.0.0.1:9304")
    const expected = "127.0.0.1:9302,127.0.0.1:9303,127.0.0.1:9304"
    await waitFor(() => w.current() === expected, "the resynced set")
    assert.deepStrictEqual((await stored("restart")).join(","), expected)
    // every set seen after the restart is a real state: never empty, never without the survivors
    for (const set of w.sets.slice(before)) {
      assert.include(set, "127.0.0.1:9302")
      assert.include(set, "127.0.0.1:9303")
    }
    // and the watch goes on after the restart
    await put("/services/restart/s5", "127.0.0.1:9305")
    await waitFor(() => w.current() === `${expected},127.0.0.1:9305`, "a put after the restart")
    // the registrant's lease survived the restart
    await sleep(1_000)
    assert.include(await stored("restart"), "127.0.0.1:9303")
    await stopChild(r)
    await waitFor(() => !w.current().includes("127.0.0.1:9303"), "the registrant deregistered")
    await Effect.runPromise(Fiber.interrupt(w.fiber))
  }, 60_000)

  it("two registrant processes and two watcher processes agree on the set", async () => {
    const w1 = watcherChild("agree")
    const w2 = watcherChild("agree")
    const r1 = await registrant("agree", 9401)
    const r2 = await registrant("agree", 9402)
    const both = `${r1.address},${r2.address}`
    await waitFor(() => w1.current() === both && w2.current() === both, `both watchers to see ${both}`, 30_000)
    await stopChild(r1)
    await waitFor(
      () => w1.current() === r2.address && w2.current() === r2.address,
      `both watchers to see only ${r2.address}`
    )
    sigkill(r2)
    await waitFor(() => w1.current() === "" && w2.current() === "", "both watchers to see the lease expire", 15_000)
    await stopChild(w1)
    await stopChild(w2)
  }, 60_000)

  // last: it turns authentication on for the rest of this etcd's life
  it(
    "with authentication on, a watcher and a registrant with credentials work, and wrong ones are typed errors",
    async () => {
      await gateway("/v3/auth/role/add", { name: "root" })
      await gateway("/v3/auth/user/add", { name: "root", password: "etcd-test-pw" })
      await gateway("/v3/auth/user/grant", { user: "root", role: "root" })
      await gateway("/v3/auth/enable", {})
      const auth = { username: "root", password: Redacted.make("etcd-test-pw") }
      const updates: Array<Discovery.Update> = []
      const fiber = Effect.runFork(
        Effect.gen(function*() {
          const discovery = yield* Etcd.discovery({ endpoints: url, auth, empty: "accept" })
          yield* discovery.updates("auth").pipe(Stream.runForEach((u) => Effect.sync(() => updates.push(u))))
        }).pipe(Effect.provide(FetchHttpClient.layer), Effect.provideService(References.MinimumLogLevel, "None"))
      )
      fibers.add(fiber)
      const current = () => {
        const last = updates.findLast((u): u is Discovery.Changed => u._tag === "Changed")
        return last === undefined ? "" : last.change.all.map((e) => e.address).sort().join(",")
      }
      const registered = Effect.runFork(
        Effect.scoped(Effect.gen(function*() {
          yield* Etcd.register({
            endpoints: url,
            key: "/services/auth/a",
            endpoint: "127.0.0.1:9501",
            ttl: 2_000,
            auth
          })
          yield* Effect.never
        })).pipe(Effect.provide(FetchHttpClient.layer), Effect.provideService(References.MinimumLogLevel, "None"))
      )
      fibers.add(registered)
      await waitFor(() => current() === "127.0.0.1:9501", "the registered endpoint through authentication")
      // wrong credentials: a typed error, never a crash; the password is not in the message
      const refused = await Effect.runPromise(
        Effect.scoped(Etcd.register({
          endpoints: url,
          key: "/services/auth/b",
          endpoint: "127.0.0.1:9502",
          auth: { username: "root", password: Redacted.make("wrong-pw") }
        })).pipe(Effect.provide(FetchHttpClient.layer), Effect.flip)
      )
      assert.strictEqual(refused._tag, "EtcdError")
      if (refused._tag === "EtcdError") assert.strictEqual(refused.reason, "Unauthenticated")
      assert.notInclude(refused.message, "wrong-pw")
      // no credentials: the watcher's updates are rejected (the last good set, here none, is kept)
      const anonymous = await Effect.runPromise(
        Etcd.discovery({ endpoints: url }).pipe(
          Effect.flatMap((d) => Effect.flip(d.discover("auth"))),
          Effect.provide(FetchHttpClient.layer)
        )
      )
      assert.include(anonymous.detail, "Unauthenticated")
      await Effect.runPromise(Fiber.interrupt(registered))
      await waitFor(() => current() === "", "the endpoint revoked on close")
      await Effect.runPromise(Fiber.interrupt(fiber))
    },
    60_000
  )
})
