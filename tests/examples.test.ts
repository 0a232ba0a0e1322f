/**
 * The runnable examples of the docs, each run to completion as a child process of the runtime
 * running this suite (docs/http.md walks through examples/http.ts).
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "vitest"
import { runtimeArgs } from "../examples/backends.ts"

const run = (file: string) =>
  new Promise<{ readonly code: number; readonly stdout: string }>((resolve) => {
    const [command, args] = runtimeArgs(fileURLToPath(new URL(`../examples/${file}`, import.meta.url)), [])
    execFile(command, args, { timeout: 60_000 }, (error, stdout) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout })
    })
  })

describe("examples", () => {
  it("examples/http.ts: both servers answer through the load-balanced HttpClient", async () => {
    const { code, stdout } = await run("http.ts")
    assert.strictEqual(code, 0)
    assert.include(stdout, "answered by: one, two")
  })
})
