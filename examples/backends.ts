/**
 * Starts and stops `examples/backend.ts` child processes with the runtime that runs this file
 * (Node, Bun or Deno): the real backends of the demo, the tests and the HTTP benchmark.
 */
import { type ChildProcess, spawn } from "node:child_process"
import process from "node:process"
import { fileURLToPath } from "node:url"

const script = fileURLToPath(new URL("./backend.ts", import.meta.url))

/** The command that runs a TypeScript file with this runtime (Node 24, Bun or Deno). */
export const runtimeArgs = (file: string, args: ReadonlyArray<string>): [string, Array<string>] =>
  "Deno" in globalThis
    ? [process.execPath, ["run", "-A", "--quiet", file, ...args]]
    : [process.execPath, [file, ...args]]

/** A running backend. */
export interface Backend {
  readonly name: string
  readonly port: number
  readonly address: string
  readonly child: ChildProcess
}

/** Starts one backend on `port` (0: any free port) and waits until it listens. */
export const start = (name: string, port = 0, latencyMs = 2): Promise<Backend> =>
  new Promise((resolve, reject) => {
    const [command, args] = runtimeArgs(script, [String(port), name, String(latencyMs)])
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] })
    let out = ""
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`backend ${name} did not start within 15 s`))
    }, 15_000)
    child.on("error", reject)
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      const match = /listening (\d+)/.exec(out)
      if (match !== null) {
        clearTimeout(timer)
        const p = Number(match[1])
        resolve({ name, port: p, address: `127.0.0.1:${p}`, child })
      }
    })
    child.on("exit", (code) => {
      clearTimeout(timer)
      if (!/listening/.test(out)) reject(new Error(`backend ${name} exited with ${code} before listening`))
    })
  })

/** Stops a backend (SIGKILL: a crash, not a drain) and waits for it to exit. */
export const kill = (backend: Backend): Promise<void> =>
  new Promise((resolve) => {
    if (backend.child.exitCode !== null || backend.child.signalCode !== null) return resolve()
    backend.child.once("exit", () => resolve())
    backend.child.kill("SIGKILL")
  })

/** Sets a backend's slow-down factor (its latency × `factor`). */
export const slow = async (backend: Backend, factor: number): Promise<void> => {
  const response = await fetch(`http://${backend.address}/admin/slow?factor=${factor}`, { method: "POST" })
  await response.body?.cancel()
}

/** Makes every request to a backend answer `status` (0: back to normal). */
export const fail = async (backend: Backend, status: number): Promise<void> => {
  const response = await fetch(`http://${backend.address}/admin/fail?status=${status}`, { method: "POST" })
  await response.body?.cancel()
}
