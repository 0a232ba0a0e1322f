/**
 * What every benchmark script shares: a seeded generator for deterministic data, and the line
 * that says which runtime measured.
 */
import process from "node:process"

/** xorshift32 (Marsaglia 2003): a seeded stream of unsigned 32-bit integers. */
export const xorshift32 = (seed: number) => {
  let state = seed >>> 0 || 1
  return (): number => {
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return state
  }
}

/** The runtime running the bench, with its engine: `node 24.21.0 (V8 …)`, `bun 1.4.5 (JavaScriptCore)`. */
export const runtime = (): string => {
  const g = globalThis as {
    readonly Bun?: { readonly version: string }
    readonly Deno?: { readonly version: { readonly deno: string; readonly v8: string } }
  }
  if (g.Bun !== undefined) return `bun ${g.Bun.version} (JavaScriptCore)`
  if (g.Deno !== undefined) return `deno ${g.Deno.version.deno} (V8 ${g.Deno.version.v8})`
  return `node ${process.versions.node} (V8 ${process.versions.v8})`
}
