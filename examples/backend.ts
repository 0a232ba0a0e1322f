/**
 * A real HTTP backend for the demo, the tests and the benchmarks: a `node:http` server on
 * 127.0.0.1 (runs under Node, Bun and Deno), started as a child process.
 *
 *   node examples/backend.ts <port> [name] [latencyMs]
 *
 * - It prints `listening <port>` once it accepts connections (port 0: the system picks one).
 * - `GET /...` answers 200 with `{"name","port"}` after `latencyMs` (default 2) × its slow-down
 *   factor; `GET /status/503` answers that status; `POST /admin/slow?factor=10` sets the factor;
 *   `POST /admin/fail?status=500` makes every request answer 500 (`status=0` stops it);
 *   `GET /stream?ms=500` sends its headers at once, then a line every 50 ms for 500 ms.
 * - It stops by itself: when its standard input closes (its parent is gone) and after 10 minutes
 *   at most.
 */
import * as http from "node:http"
import process from "node:process"

const port = Number(process.argv[2] ?? 0)
const name = process.argv[3] ?? `backend-${port}`
const latency = Number(process.argv[4] ?? 2)
let factor = 1
let failing = 0 // a status every request gets, when set

const server = http.createServer((request, response) => {
  const url = new URL(request.url ?? "/", "http://backend")
  if (request.method === "POST" && url.pathname === "/admin/slow") {
    factor = Number(url.searchParams.get("factor") ?? 1)
    response.writeHead(204).end()
    return
  }
  if (request.method === "POST" && url.pathname === "/admin/fail") {
    failing = Number(url.searchParams.get("status") ?? 0)
    response.writeHead(204).end()
    return
  }
  if (url.pathname === "/stream") {
    // headers at once, then a line every 50 ms for `ms` (a download, a watch)
    response.writeHead(200, { "content-type": "application/x-ndjson" })
    const until = Date.now() + Number(url.searchParams.get("ms") ?? 500)
    const tick = setInterval(() => {
      response.write(`{"name":${JSON.stringify(name)}}\n`)
      if (Date.now() >= until) {
        clearInterval(tick)
        response.end()
      }
    }, 50)
    return
  }
  const status = failing !== 0 ? failing : url.pathname.startsWith("/status/") ? Number(url.pathname.slice(8)) : 200
  setTimeout(() => {
    response.writeHead(status, { "content-type": "application/json" })
    response.end(JSON.stringify({ name, port: (server.address() as { port: number }).port }))
  }, latency * factor)
})
server.keepAliveTimeout = 60_000
server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`)
})

const stop = () => process.exit(0)
process.stdin.on("end", stop)
process.stdin.on("close", stop)
process.stdin.resume()
setTimeout(stop, 600_000).unref()
process.on("SIGTERM", stop)
