/**
 * Parsing and canonical form of endpoint addresses.
 *
 * Three forms are accepted:
 * - `host:port` where host is a dotted IPv4 address or an RFC 1123 host name;
 * - `[ipv6]:port` (RFC 3986 brackets), canonicalised as RFC 5952 recommends;
 * - a unix socket path, written `unix:/path` or just `/path`.
 *
 * The canonical text is the endpoint's identity: two inputs naming the same socket
 * (`EXAMPLE.com:0080` and `example.com:80`, `[::0:1]:80` and `[::1]:80`) canonicalise to the
 * same string.
 */

/** A parsed address; `text` is the canonical form. */
export type Parsed =
  | { readonly kind: "ipv4" | "ipv6" | "hostname"; readonly host: string; readonly port: number; readonly text: string }
  | { readonly kind: "unix"; readonly path: string; readonly text: string }

/** The longest unix socket path Linux accepts (`sun_path` is 108 bytes including the NUL). */
export const maxUnixPathLength = 107

/** Parses `input`, returning the parsed address or a sentence saying what is wrong with it. */
export const parse = (input: string): Parsed | string => {
  if (input.length === 0) return "an address cannot be empty"
  if (input.startsWith("unix:")) return parseUnix(input.slice(5))
  if (input.startsWith("/")) return parseUnix(input)
  if (input.startsWith("[")) {
    const close = input.indexOf("]")
    if (close < 0) return "an IPv6 address opened with '[' needs a closing ']'"
    if (input[close + 1] !== ":") return "an IPv6 address needs a port after the brackets, as in [::1]:8080"
    const host = parseIpv6(input.slice(1, close))
    if (typeof host !== "string" || host.startsWith("!")) {
      return host === undefined
        ? "invalid IPv6 address"
        : host.slice(1)
    }
    const port = parsePort(input.slice(close + 2))
    if (typeof port === "string") return port
    return { kind: "ipv6", host, port, text: `[${host}]:${port}` }
  }
  const colon = input.lastIndexOf(":")
  if (colon < 0) return "an address needs a port, as in host:8080"
  const rawHost = input.slice(0, colon)
  if (rawHost.includes(":")) return "an IPv6 address needs brackets, as in [::1]:8080"
  const port = parsePort(input.slice(colon + 1))
  if (typeof port === "string") return port
  if (rawHost.length === 0) return "an address needs a host before the port"
  if (/^[0-9.]+$/.test(rawHost)) {
    const host = parseIpv4(rawHost)
    if (host === undefined) return `'${rawHost}' is not a dotted IPv4 address (four numbers 0-255, no leading zeros)`
    return { kind: "ipv4", host, port, text: `${host}:${port}` }
  }
  if (endsInNumber(rawHost)) {
    return `'${rawHost}' ends in a number, so resolvers read it as an IPv4 address in a legacy form ` +
      `(0x7f.0.0.1 and 127.1 both mean 127.0.0.1); write the address as four decimal numbers, as in 127.0.0.1`
  }
  const host = parseHostname(rawHost)
  if (host === undefined) {
    return `'${rawHost}' is not a valid host name (labels of letters, digits and '-', at most 63 characters each)`
  }
  return { kind: "hostname", host, port, text: `${host}:${port}` }
}

const parseUnix = (path: string): Parsed | string => {
  if (!path.startsWith("/")) return "a unix socket path must be absolute, as in unix:/run/app.sock"
  const bytes = utf8Length(path)
  if (bytes > maxUnixPathLength) {
    return `a unix socket path can have at most ${maxUnixPathLength} bytes in UTF-8; this one has ${bytes}`
  }
  if (path.includes("\u0000")) return "a unix socket path cannot contain a NUL character"
  return { kind: "unix", path, text: `unix:${path}` }
}

/** The length of `text` in UTF-8 bytes (the kernel counts bytes; a lone surrogate is written as 3). */
const utf8Length = (text: string): number => {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit < 0x80) bytes += 1
    else if (unit < 0x800) bytes += 2
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1)
      if (low >= 0xdc00 && low <= 0xdfff) {
        bytes += 4
        i++
      } else bytes += 3
    } else bytes += 3
  }
  return bytes
}

const parsePort = (text: string): number | string => {
  if (!/^0*[0-9]{1,5}$/.test(text)) return `'${text}' is not a port number (1-65535)`
  const port = Number(text)
  if (port < 1 || port > 65535) return `port ${port} is out of range (1-65535)`
  return port
}

const parseIpv4 = (text: string): string | undefined => {
  const parts = text.split(".")
  if (parts.length !== 4) return undefined
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return undefined
  }
  return text
}

/**
 * Whether a name's last label is a number (decimal, or `0x` hex), which makes resolvers and URL
 * parsers read the whole name as an IPv4 address (`inet_aton`; the WHATWG URL "ends in a number"
 * rule): `0x7f.0.0.1`, `127.1`, `10.0x1`. No real host name ends in a numeric label.
 */
const endsInNumber = (text: string): boolean => {
  const name = text.endsWith(".") ? text.slice(0, -1) : text
  const last = name.slice(name.lastIndexOf(".") + 1)
  return /^[0-9]+$/.test(last) || /^0x[0-9a-f]*$/i.test(last)
}

const parseHostname = (text: string): string | undefined => {
  const name = (text.endsWith(".") ? text.slice(0, -1) : text).toLowerCase()
  if (name.length === 0 || name.length > 253) return undefined
  for (const label of name.split(".")) {
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(label)) return undefined
  }
  return name
}

/**
 * Parses an IPv6 address (optionally with a `%zone`) into RFC 5952 canonical text.
 * Returns the canonical text, or a message prefixed with `!`.
 */
const parseIpv6 = (text: string): string => {
  const percent = text.indexOf("%")
  const zone = percent < 0 ? "" : text.slice(percent + 1)
  const body = percent < 0 ? text : text.slice(0, percent)
  if (percent >= 0 && !/^[A-Za-z0-9_.-]{1,32}$/.test(zone)) return `!'${zone}' is not a valid IPv6 zone`
  const words = ipv6Words(body)
  if (words === undefined) return `!'${text}' is not a valid IPv6 address`
  return formatIpv6(words) + (zone === "" ? "" : `%${zone}`)
}

const ipv6Words = (body: string): Array<number> | undefined => {
  const halves = body.split("::")
  if (halves.length > 2) return undefined
  const parseGroups = (part: string, allowIpv4Tail: boolean): Array<number> | undefined => {
    if (part === "") return []
    const groups = part.split(":")
    const words: Array<number> = []
    for (let i = 0; i < groups.length; i++) {
      const group = groups[i]!
      if (allowIpv4Tail && i === groups.length - 1 && group.includes(".")) {
        const v4 = parseIpv4(group)
        if (v4 === undefined) return undefined
        const [a, b, c, d] = v4.split(".").map(Number) as [number, number, number, number]
        words.push((a << 8) | b, (c << 8) | d)
      } else {
        if (!/^[0-9A-Fa-f]{1,4}$/.test(group)) return undefined
        words.push(parseInt(group, 16))
      }
    }
    return words
  }
  if (halves.length === 1) {
    const words = parseGroups(halves[0]!, true)
    return words !== undefined && words.length === 8 ? words : undefined
  }
  const head = parseGroups(halves[0]!, false)
  const tail = parseGroups(halves[1]!, true)
  if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]
}

/** RFC 5952: lowercase hex, no leading zeros, the longest run (≥ 2) of zero words as `::`. */
const formatIpv6 = (words: ReadonlyArray<number>): string => {
  const isMapped = words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff
  if (isMapped) return `::ffff:${words[6]! >> 8}.${words[6]! & 255}.${words[7]! >> 8}.${words[7]! & 255}`
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hex = words.map((w) => w.toString(16))
  if (bestStart < 0) return hex.join(":")
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`
}
