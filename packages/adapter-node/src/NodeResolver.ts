/**
 * The `Resolver` port for Node, which Bun and Deno also run through their `node:` compatibility:
 *
 * - A and AAAA from `node:dns` — `Resolver#resolve4` / `resolve6` with `{ ttl: true }`, which
 *   report TTLs on all three runtimes;
 * - SRV from a small DNS client over UDP (`node:dgram`), because no runtime API reports SRV TTLs:
 *   one query (with an EDNS0 OPT record advertising `maxAnswerBytes`), per server in turn, and an
 *   answer parser that checks every length and offset, so a malformed answer is a typed
 *   `"Malformed"` error and never an exception.
 *
 * **Gotchas**
 *
 * - A truncated SRV answer (TC bit) is a `"TooLarge"` error: there is no TCP fallback. Raise
 *   `maxAnswerBytes` (the EDNS0 size asked for) if your SRV sets are that large.
 * - `maxAnswerBytes` bounds the SRV wire answers only; A and AAAA answers are read by the runtime's
 *   resolver (c-ares on Node).
 * - Answers whose id or source address do not match the query are ignored (they are not ours);
 *   only the one matching answer is parsed.
 *
 * Experimental.
 *
 * @stability unstable
 * @since 0.1.0
 */
import { OptionError } from "@switchyard/core/Options"
import * as Resolver from "@switchyard/core/Resolver"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { randomBytes } from "node:crypto"
import * as dgram from "node:dgram"
import * as dns from "node:dns"
import * as net from "node:net"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * Options of {@link layer}.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * The name servers, tried in order: `"127.0.0.1"`, `"127.0.0.1:5353"`, `"::1"`,
   * `"[::1]:5353"` (default: the system's, `dns.getServers()`).
   */
  readonly servers?: ReadonlyArray<string> | undefined
  /** How long to wait for each server's answer (default 2 seconds). */
  readonly timeout?: Duration.Input | undefined
  /** The largest SRV answer accepted, in bytes: 512 to 65535 (default 4096). */
  readonly maxAnswerBytes?: number | undefined
}

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Makes the resolver. Fails with an `OptionError` for an invalid option (a server that is not an
 * IP address with an optional port, a non-positive timeout, a size out of range).
 *
 * **Example**
 *
 * ```ts
 * import { Effect } from "effect"
 * import * as NodeResolver from "@switchyard/adapter-node/NodeResolver"
 *
 * const program = Effect.gen(function*() {
 *   const resolver = yield* NodeResolver.make({ servers: ["127.0.0.1:5353"], timeout: "1 second" })
 *   return yield* resolver.srv("_http._tcp.api.internal")
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options?: Options): Effect.Effect<typeof Resolver.Resolver.Service, OptionError> =>
  Effect.suspend(() => {
    const settings = readOptions(options)
    if (settings instanceof OptionError) return Effect.fail(settings)
    return Effect.succeed(Resolver.Resolver.of({
      srv: (name) => querySrv(settings, name),
      addresses: (name, family) => queryAddresses(settings, name, family)
    }))
  })

// -----------------------------------------------------------------------------
// layers
// -----------------------------------------------------------------------------

/**
 * A layer providing the `Resolver` made by {@link make}.
 *
 * **Example**
 *
 * ```ts
 * import { Effect, Stream } from "effect"
 * import * as DnsDiscovery from "@switchyard/core/DnsDiscovery"
 * import * as NodeResolver from "@switchyard/adapter-node/NodeResolver"
 *
 * const program = Effect.gen(function*() {
 *   const discovery = yield* DnsDiscovery.srv({ minTtl: "1 second" })
 *   return yield* discovery.watch("_http._tcp.api.internal").pipe(Stream.take(1), Stream.runCollect)
 * }).pipe(Effect.provide(NodeResolver.layer({ servers: ["127.0.0.1:5353"] })))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options?: Options): Layer.Layer<Resolver.Resolver, OptionError> =>
  Layer.effect(Resolver.Resolver, make(options))

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

interface Server {
  readonly host: string
  readonly port: number
  readonly family: 4 | 6
  /** As `dns.Resolver#setServers` takes it. */
  readonly text: string
}

interface Settings {
  /** `undefined`: the system's servers, read at each query. */
  readonly servers: ReadonlyArray<Server> | undefined
  readonly timeout: number
  readonly maxAnswerBytes: number
}

const optionError = (option: string, value: unknown, problem: string, reason: OptionError["reason"]) =>
  new OptionError({ module: "node-resolver", option, value: render(value), reason, problem })

const render = (value: unknown): string => {
  try {
    return typeof value === "string" ? JSON.stringify(value) : String(value)
  } catch {
    return "(a value that cannot be printed)"
  }
}

const readOptions = (options: Options | undefined): Settings | OptionError => {
  let servers: Array<Server> | undefined
  if (options?.servers !== undefined) {
    if (!Array.isArray(options.servers)) {
      return optionError("servers", options.servers, "expected an array of addresses", "WrongType")
    }
    servers = []
    for (const text of options.servers as ReadonlyArray<unknown>) {
      const server = typeof text === "string" ? parseServer(text) : undefined
      if (server === undefined) {
        return optionError(
          "servers",
          text,
          `expected an IP address with an optional port, such as "127.0.0.1:5353" or "[::1]:53"`,
          "WrongType"
        )
      }
      servers.push(server)
    }
  }
  let timeout = 2000
  if (options?.timeout !== undefined) {
    const decoded = Duration.fromInput(options.timeout)
    const ms = Option.isSome(decoded) ? Duration.toMillis(decoded.value) : Number.NaN
    if (!(ms > 0 && ms <= 2_147_483_647)) {
      return optionError("timeout", options.timeout, "expected a positive finite duration", "OutOfRange")
    }
    timeout = ms
  }
  const size = options?.maxAnswerBytes ?? 4096
  if (typeof size !== "number" || !Number.isInteger(size) || size < 512 || size > 65535) {
    return optionError(
      "maxAnswerBytes",
      size,
      "expected an integer from 512 to 65535",
      typeof size === "number" ? "OutOfRange" : "WrongType"
    )
  }
  return { servers, timeout, maxAnswerBytes: size }
}

/** `"1.2.3.4"`, `"1.2.3.4:53"`, `"::1"`, `"[::1]:53"` as a server, or `undefined`. */
const parseServer = (text: string): Server | undefined => {
  let host = text
  let port = 53
  const bracket = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text)
  if (bracket !== null) {
    host = bracket[1]!
    if (bracket[2] !== undefined) port = Number(bracket[2])
  } else if (net.isIPv4(text.split(":")[0] ?? "") && text.includes(":")) {
    const [h, p] = text.split(":")
    if (p === undefined || !/^\d{1,5}$/.test(p)) return undefined
    host = h!
    port = Number(p)
  }
  const family = net.isIP(host)
  if (family === 0 || port < 1 || port > 65535) return undefined
  const text6 = family === 6 ? `[${host}]:${port}` : `${host}:${port}`
  return { host, port, family: family as 4 | 6, text: text6 }
}

const serversOf = (settings: Settings): ReadonlyArray<Server> => {
  if (settings.servers !== undefined) return settings.servers
  const out: Array<Server> = []
  try {
    for (const text of dns.getServers()) {
      const server = parseServer(text)
      if (server !== undefined) out.push(server)
    }
  } catch {
    // no system servers
  }
  return out
}

const fail = (name: string, reason: Resolver.Reason, detail: string) =>
  new Resolver.ResolveError({ name, reason, detail })

// --- A / AAAA through node:dns ------------------------------------------------

const dnsReasons: Record<string, Resolver.Reason> = {
  ENOTFOUND: "NotFound",
  ESERVFAIL: "ServerFailure",
  EREFUSED: "Refused",
  ENOTIMP: "Refused",
  ETIMEOUT: "Timeout",
  ETIMEDOUT: "Timeout",
  EFORMERR: "Malformed",
  EBADRESP: "Malformed",
  EBADNAME: "InvalidName",
  EBADQUERY: "InvalidName",
  ECONNREFUSED: "Unavailable"
}

const queryAddresses = (
  settings: Settings,
  name: string,
  family: Resolver.Family
): Effect.Effect<ReadonlyArray<Resolver.AddressRecord>, Resolver.ResolveError> =>
  Effect.suspend(() => {
    const checked = checkName(name)
    if (typeof checked !== "string") return Effect.fail(fail(name, "InvalidName", checked.problem))
    const servers = serversOf(settings)
    if (servers.length === 0) return Effect.fail(fail(name, "Unavailable", "no name servers are configured"))
    return Effect.callback<ReadonlyArray<Resolver.AddressRecord>, Resolver.ResolveError>((resume) => {
      let resolver: dns.Resolver
      let done = false
      const finish = (effect: Effect.Effect<ReadonlyArray<Resolver.AddressRecord>, Resolver.ResolveError>) => {
        if (done) return
        done = true
        clearTimeout(guard)
        resume(effect)
      }
      // a guard in case a runtime ignores the resolver's own timeout
      const guard = setTimeout(
        () => finish(Effect.fail(fail(name, "Timeout", `no answer within ${settings.timeout} ms`))),
        settings.timeout * servers.length + 250
      )
      try {
        resolver = new dns.Resolver({ timeout: settings.timeout, tries: 1 })
        resolver.setServers(servers.map((s) => s.text))
        const callback = (error: NodeJS.ErrnoException | null, records: ReadonlyArray<dns.RecordWithTtl>) => {
          if (error === null) {
            const out: Array<Resolver.AddressRecord> = []
            for (const r of records ?? []) {
              if (typeof r?.address === "string" && net.isIP(r.address) === family) {
                out.push({ address: r.address, ttl: typeof r.ttl === "number" && r.ttl >= 0 ? r.ttl : 0 })
              }
            }
            return finish(Effect.succeed(out))
          }
          const code = String(error.code ?? "")
          if (code === "ENODATA") return finish(Effect.succeed([]))
          const reason = dnsReasons[code] ?? "ServerFailure"
          finish(Effect.fail(fail(name, reason, `${code || "error"}: ${error.message}`)))
        }
        if (family === 4) resolver.resolve4(checked, { ttl: true }, callback)
        else resolver.resolve6(checked, { ttl: true }, callback)
      } catch (error) {
        finish(Effect.fail(fail(name, "Unavailable", `the resolver threw: ${String(error)}`)))
      }
      return Effect.sync(() => {
        done = true
        clearTimeout(guard)
        try {
          resolver?.cancel()
        } catch {
          // already finished
        }
      })
    })
  })

// --- SRV over the wire ---------------------------------------------------------

const typeSrv = 33
const typeCname = 5
const typeOpt = 41
const classIn = 1

const querySrv = (
  settings: Settings,
  name: string
): Effect.Effect<ReadonlyArray<Resolver.SrvRecord>, Resolver.ResolveError> =>
  Effect.suspend(() => {
    const checked = checkName(name)
    if (typeof checked !== "string") return Effect.fail(fail(name, "InvalidName", checked.problem))
    const servers = serversOf(settings)
    if (servers.length === 0) return Effect.fail(fail(name, "Unavailable", "no name servers are configured"))
    const tryFrom = (i: number): Effect.Effect<ReadonlyArray<Resolver.SrvRecord>, Resolver.ResolveError> =>
      exchange(settings, servers[i]!, name, checked).pipe(
        Effect.flatMap((message) => {
          const parsed = parseSrvAnswer(message, checked, settings.maxAnswerBytes)
          return "reason" in parsed
            ? Effect.fail(fail(name, parsed.reason, `${parsed.detail} (from ${servers[i]!.text})`))
            : Effect.succeed(parsed.records)
        }),
        Effect.catchIf(
          (e) => (e.reason === "Timeout" || e.reason === "Unavailable") && i + 1 < servers.length,
          () => tryFrom(i + 1)
        )
      )
    return tryFrom(0)
  })

/** Sends one query to `server` and waits for the datagram that answers it. */
const exchange = (
  settings: Settings,
  server: Server,
  name: string,
  wireName: string
): Effect.Effect<Uint8Array, Resolver.ResolveError> =>
  Effect.callback<Uint8Array, Resolver.ResolveError>((resume) => {
    let done = false
    let socket: dgram.Socket | undefined
    const close = () => {
      try {
        socket?.close()
      } catch {
        // already closed
      }
    }
    const finish = (effect: Effect.Effect<Uint8Array, Resolver.ResolveError>) => {
      if (done) return
      done = true
      clearTimeout(timer)
      close()
      resume(effect)
    }
    const timer = setTimeout(
      () => finish(Effect.fail(fail(name, "Timeout", `no answer from ${server.text} within ${settings.timeout} ms`))),
      settings.timeout
    )
    try {
      const id = randomBytes(2).readUInt16BE(0)
      const query = encodeQuery(id, wireName, typeSrv, settings.maxAnswerBytes)
      socket = dgram.createSocket(server.family === 6 ? "udp6" : "udp4")
      socket.on("message", (message: Uint8Array, remote: { address: string; port: number }) => {
        if (message.length < 2 || ((message[0]! << 8) | message[1]!) !== id) return
        if (remote.port !== server.port || !sameAddress(remote.address, server.host)) return
        finish(Effect.succeed(message))
      })
      socket.on("error", (error: Error) =>
        finish(Effect.fail(fail(name, "Unavailable", `socket error talking to ${server.text}: ${error.message}`))))
      socket.send(query, server.port, server.host, (error) => {
        if (error) {
          finish(Effect.fail(fail(name, "Unavailable", `could not send to ${server.text}: ${error.message}`)))
        }
      })
    } catch (error) {
      finish(Effect.fail(fail(name, "Unavailable", `could not query ${server.text}: ${String(error)}`)))
    }
    return Effect.sync(() => {
      done = true
      clearTimeout(timer)
      close()
    })
  })

const sameAddress = (a: string, b: string): boolean =>
  a === b || a.replace(/^::ffff:/, "") === b.replace(/^::ffff:/, "")

/** A name for the wire: no trailing dot, each label 1–63 bytes of ASCII, at most 253 characters. */
const checkName = (name: string): string | { readonly problem: string } => {
  if (typeof name !== "string") return { problem: "the name is not a string" }
  const bare = name.endsWith(".") ? name.slice(0, -1) : name
  if (bare.length === 0) return { problem: "the name is empty" }
  if (bare.length > 253) return { problem: `the name is ${bare.length} characters long, more than 253` }
  for (const label of bare.split(".")) {
    if (label.length === 0) return { problem: "the name has an empty label" }
    if (label.length > 63) return { problem: `the label ${JSON.stringify(label)} is longer than 63 bytes` }
    if (!/^[\x21-\x7e]+$/.test(label)) return { problem: `the label ${JSON.stringify(label)} is not printable ASCII` }
  }
  return bare
}

const encodeQuery = (id: number, name: string, qtype: number, udpSize: number): Uint8Array => {
  const labels = name.split(".")
  const nameLength = labels.reduce((n, l) => n + 1 + l.length, 1)
  const out = new Uint8Array(12 + nameLength + 4 + 11)
  const view = new DataView(out.buffer)
  view.setUint16(0, id)
  view.setUint16(2, 0x0100) // RD
  view.setUint16(4, 1) // QDCOUNT
  view.setUint16(10, 1) // ARCOUNT: the OPT record
  let o = 12
  for (const label of labels) {
    out[o++] = label.length
    for (let i = 0; i < label.length; i++) out[o++] = label.charCodeAt(i)
  }
  out[o++] = 0
  view.setUint16(o, qtype)
  view.setUint16(o + 2, classIn)
  o += 4
  // EDNS0 OPT: root name, type 41, class = UDP payload size, TTL 0, RDLENGTH 0
  out[o] = 0
  view.setUint16(o + 1, typeOpt)
  view.setUint16(o + 3, udpSize)
  return out
}

/** A malformed answer, thrown inside the parser only and caught at its top. */
class Bad {
  readonly detail: string
  constructor(detail: string) {
    this.detail = detail
  }
}

interface Failure {
  readonly reason: Resolver.Reason
  readonly detail: string
}

const rcodeNames: Record<number, string> = { 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED" }

/**
 * Parses the answer to an SRV query for `qname`: the SRV records of `qname` (or of the names its
 * CNAME records in the answer lead to), or why the answer is not one. Never throws.
 */
const parseSrvAnswer = (
  message: Uint8Array,
  qname: string,
  maxBytes: number
): { readonly records: ReadonlyArray<Resolver.SrvRecord> } | Failure => {
  try {
    if (message.length > maxBytes) {
      return {
        reason: "TooLarge",
        detail: `the answer is ${message.length} bytes, more than maxAnswerBytes ${maxBytes}`
      }
    }
    if (message.length < 12) throw new Bad(`the answer is ${message.length} bytes, shorter than a DNS header`)
    const u16 = (o: number): number => {
      if (o < 0 || o + 2 > message.length) throw new Bad(`a 16-bit field at byte ${o} is past the end`)
      return (message[o]! << 8) | message[o + 1]!
    }
    const u32 = (o: number): number => u16(o) * 65536 + u16(o + 2)
    const flags = u16(2)
    if ((flags & 0x8000) === 0) throw new Bad("the QR bit is not set (not an answer)")
    if (((flags >> 11) & 0xf) !== 0) throw new Bad(`opcode ${(flags >> 11) & 0xf} in the answer`)
    const rcode = flags & 0xf
    const qdcount = u16(4)
    const ancount = u16(6)
    /** Reads a (possibly compressed) name at `start`: its text and the offset after it. */
    const readName = (start: number, strict: boolean): readonly [string, number] => {
      const labels: Array<string> = []
      let o = start
      let end = -1
      let jumps = 0
      let length = 0
      let lowest = start
      for (;;) {
        if (o >= message.length) throw new Bad(`a name at byte ${start} runs past the end`)
        const len = message[o]!
        if (len === 0) {
          if (end < 0) end = o + 1
          break
        }
        const kind = len & 0xc0
        if (kind === 0xc0) {
          if (o + 1 >= message.length) throw new Bad(`a compression pointer at byte ${o} is cut off`)
          const target = ((len & 0x3f) << 8) | message[o + 1]!
          // a pointer must point before where this name started (or jumped to): no loops
          if (target >= lowest) throw new Bad(`a compression pointer at byte ${o} points forward, to ${target}`)
          if (++jumps > 64) throw new Bad(`a name at byte ${start} has too many compression pointers`)
          if (end < 0) end = o + 2
          lowest = target
          o = target
          continue
        }
        if (kind !== 0) throw new Bad(`an unknown label type 0x${kind.toString(16)} at byte ${o}`)
        if (o + 1 + len > message.length) throw new Bad(`a label at byte ${o} runs past the end`)
        length += len + 1
        if (length > 255) throw new Bad(`a name at byte ${start} is longer than 255 bytes`)
        let label = ""
        for (let i = o + 1; i <= o + len; i++) {
          const c = message[i]!
          if (strict && !isHostByte(c)) {
            throw new Bad(`a target name at byte ${start} has the byte 0x${c.toString(16)}, not a host name character`)
          }
          label += String.fromCharCode(c)
        }
        labels.push(label)
        o += len + 1
      }
      return [labels.join("."), end]
    }
    let o = 12
    if (qdcount > 1) throw new Bad(`${qdcount} questions in the answer`)
    if (qdcount === 1) {
      const [name, after] = readName(o, false)
      const qtype = u16(after)
      const qclass = u16(after + 2)
      if (name.toLowerCase() !== qname.toLowerCase() || qtype !== typeSrv || qclass !== classIn) {
        throw new Bad(`the answer is for another question (${JSON.stringify(name)} type ${qtype} class ${qclass})`)
      }
      o = after + 4
    }
    if (rcode !== 0) {
      const named = rcodeNames[rcode] ?? `rcode ${rcode}`
      const detail = `the server answered ${named}`
      if (rcode === 3) return { reason: "NotFound", detail }
      if (rcode === 4 || rcode === 5) return { reason: "Refused", detail }
      if (rcode === 1) return { reason: "Malformed", detail }
      return { reason: "ServerFailure", detail }
    }
    if (qdcount === 0) throw new Bad("the answer has no question")
    if ((flags & 0x0200) !== 0) {
      return { reason: "TooLarge", detail: "the server truncated the answer (TC bit); there is no TCP fallback" }
    }
    const srv: Array<{ readonly owner: string; readonly record: Resolver.SrvRecord }> = []
    const aliases = new Map<string, string>()
    for (let i = 0; i < ancount; i++) {
      const [owner, after] = readName(o, false)
      const type = u16(after)
      const klass = u16(after + 2)
      const rawTtl = u32(after + 4)
      const rdlength = u16(after + 8)
      const rdata = after + 10
      const rdend = rdata + rdlength
      if (rdend > message.length) throw new Bad(`record ${i + 1}'s data at byte ${rdata} runs past the end`)
      // RFC 2181 §8: a TTL with the top bit set is treated as 0
      const ttl = rawTtl >= 0x80000000 ? 0 : rawTtl
      if (klass === classIn && type === typeSrv) {
        if (rdlength < 7) throw new Bad(`SRV record ${i + 1} has ${rdlength} bytes of data, fewer than 7`)
        const [target, targetEnd] = readName(rdata + 6, true)
        if (targetEnd !== rdend) throw new Bad(`SRV record ${i + 1}'s target does not end where its data ends`)
        srv.push({
          owner: owner.toLowerCase(),
          record: { priority: u16(rdata), weight: u16(rdata + 2), port: u16(rdata + 4), target: target || ".", ttl }
        })
      } else if (klass === classIn && type === typeCname) {
        const [target, targetEnd] = readName(rdata, false)
        if (targetEnd !== rdend) throw new Bad(`CNAME record ${i + 1}'s target does not end where its data ends`)
        aliases.set(owner.toLowerCase(), target.toLowerCase())
      }
      o = rdend
    }
    const names = new Set<string>([qname.toLowerCase()])
    let current = qname.toLowerCase()
    for (let hops = 0; hops < 16; hops++) {
      const next = aliases.get(current)
      if (next === undefined || names.has(next)) break
      names.add(next)
      current = next
    }
    const records: Array<Resolver.SrvRecord> = []
    for (const { owner, record } of srv) {
      if (!names.has(owner)) continue
      if (record.port === 0 && record.target !== ".") {
        throw new Bad(`the SRV record for ${JSON.stringify(record.target)} has port 0`)
      }
      records.push(record)
    }
    return { records }
  } catch (error) {
    return { reason: "Malformed", detail: error instanceof Bad ? error.detail : `unreadable answer: ${String(error)}` }
  }
}

/** Letters, digits, `-` and `_`. */
const isHostByte = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x5f
