/**
 * 32-bit hashing for the hash-based pickers: MurmurHash3 (`murmur3_x86_32`, Austin Appleby, public
 * domain) over the UTF-8 bytes of a string, and MurmurHash3's 32-bit finalizer `fmix32` as an
 * integer mixer.
 *
 * Strings are hashed as their UTF-8 encoding (what `TextEncoder` produces: a lone surrogate is
 * encoded as U+FFFD), so a hash computed here equals `murmur3_x86_32` over the same text in any
 * other language, and it is the same on every runtime (only `Math.imul`, shifts and `>>>`). The
 * encoding is done on the fly: hashing allocates nothing.
 */

/** `murmur3_x86_32` of the UTF-8 encoding of `key` with `seed`, as an unsigned 32-bit integer. */
export const murmur3 = (key: string, seed: number): number => {
  let h = seed | 0
  /** The block being filled, little-endian, and how many bytes it holds. */
  let block = 0
  let filled = 0
  let length = 0
  const n = key.length
  for (let i = 0; i < n; i++) {
    let code = key.charCodeAt(i)
    /** The UTF-8 bytes of this code point, first byte lowest. */
    let bytes: number
    let count: number
    if (code < 0x80) {
      bytes = code
      count = 1
    } else if (code < 0x800) {
      bytes = (0xc0 | (code >>> 6)) | ((0x80 | (code & 0x3f)) << 8)
      count = 2
    } else {
      if (code >= 0xd800 && code < 0xe000) {
        const next = i + 1 < n ? key.charCodeAt(i + 1) : 0
        if (code < 0xdc00 && next >= 0xdc00 && next < 0xe000) {
          code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00)
          i++
        } else {
          code = 0xfffd
        }
      }
      if (code < 0x10000) {
        bytes = (0xe0 | (code >>> 12)) | ((0x80 | ((code >>> 6) & 0x3f)) << 8) | ((0x80 | (code & 0x3f)) << 16)
        count = 3
      } else {
        bytes = (0xf0 | (code >>> 18)) | ((0x80 | ((code >>> 12) & 0x3f)) << 8) |
          ((0x80 | ((code >>> 6) & 0x3f)) << 16) | ((0x80 | (code & 0x3f)) << 24)
        count = 4
      }
    }
    length += count
    for (let j = 0; j < count; j++) {
      block |= ((bytes >>> (j << 3)) & 0xff) << (filled << 3)
      if (++filled === 4) {
        h ^= scramble(block)
        h = (h << 13) | (h >>> 19)
        h = (Math.imul(h, 5) + 0xe6546b64) | 0
        block = 0
        filled = 0
      }
    }
  }
  if (filled > 0) h ^= scramble(block)
  return fmix32(h ^ length)
}

/** MurmurHash3's 32-bit finalizer: a bijection on 32-bit integers with full avalanche. */
export const fmix32 = (x: number): number => {
  let h = x | 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * Sorts the endpoint indices `order[0..n)` by address hash, then by address: an order that depends
 * only on the set, for builds whose result depends on the order of the endpoints.
 */
export const sortByHash = (
  order: Int32Array,
  n: number,
  hashes: ArrayLike<number>,
  addresses: ReadonlyArray<string>
): void => {
  for (let i = 0; i < n; i++) order[i] = i
  order.subarray(0, n).sort((a, b) => {
    const d = hashes[a]! - hashes[b]!
    if (d !== 0) return d
    const x = addresses[a]!
    const y = addresses[b]!
    return x < y ? -1 : x > y ? 1 : 0
  })
}

// internal

const c1 = 0xcc9e2d51
const c2 = 0x1b873593

/** murmur3's per-block mix of a 4-byte little-endian block. */
const scramble = (block: number): number => {
  let k = Math.imul(block, c1)
  k = (k << 15) | (k >>> 17)
  return Math.imul(k, c2)
}
