/**
 * Extracts the TypeScript examples of the README into `tests/snippets/readme-<n>.ts`, one
 * complete program each, so that `tsc` type-checks them and `tests/readme.test.ts` runs them on
 * every runtime; and every ```ts example of a JSDoc comment in `packages/<p>/src` into
 * `tests/snippets/jsdoc-<p>-<Module>-<n>.ts`, type-checked by `tsc` (doc examples may `declare`
 * what they use, so they are checked, not run). Run before `tsc` by `scripts/test.sh`; the README
 * test extracts its examples again itself.
 *
 * Usage: node scripts/snippets.ts
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")

/** The ```ts blocks of a markdown text, with the line each starts on. */
export const blocks = (markdown: string): Array<{ readonly line: number; readonly code: string }> => {
  const out: Array<{ readonly line: number; readonly code: string }> = []
  const lines = markdown.split("\n")
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== "```ts") continue
    const start = i + 1
    let end = start
    while (end < lines.length && lines[end]!.trim() !== "```") end++
    out.push({ line: start + 1, code: lines.slice(start, end).join("\n") })
    i = end
  }
  return out
}

/** The ```ts examples of the JSDoc comments of a source text (the ` * ` margin removed). */
export const docBlocks = (source: string): Array<{ readonly line: number; readonly code: string }> => {
  const out: Array<{ readonly line: number; readonly code: string }> = []
  const lines = source.split("\n")
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== "* ```ts") continue
    const start = i + 1
    let end = start
    while (end < lines.length && lines[end]!.trim() !== "* ```") end++
    const code = lines.slice(start, end).map((l) => l.replace(/^\s*\* ?/, "")).join("\n")
    out.push({ line: start + 1, code })
    i = end
  }
  return out
}

/** Writes the JSDoc examples of every package to `tests/snippets/`; returns their paths. */
export const extractDocs = (): Array<string> => {
  const dir = join(root, "tests", "snippets")
  mkdirSync(dir, { recursive: true })
  for (const file of readdirSync(dir)) if (file.startsWith("jsdoc-")) rmSync(join(dir, file))
  const written: Array<string> = []
  const walk = (pkg: string, at: string, prefix: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const full = join(at, entry.name)
      if (entry.isDirectory()) {
        if (entry.name !== "internal") walk(pkg, full, `${prefix}${entry.name}-`)
        continue
      }
      if (!entry.name.endsWith(".ts")) continue
      docBlocks(readFileSync(full, "utf8")).forEach(({ line, code }, i) => {
        const file = join(dir, `jsdoc-${pkg}-${prefix}${entry.name.slice(0, -3)}-${i + 1}.ts`)
        const source = full.slice(root.length + 1)
        writeFileSync(
          file,
          `// ${source} line ${line}: extracted by scripts/snippets.ts; do not edit\n${code}\nexport {}\n`
        )
        written.push(file)
      })
    }
  }
  for (const pkg of readdirSync(join(root, "packages"))) {
    const src = join(root, "packages", pkg, "src")
    try {
      walk(pkg, src, "")
    } catch {
      // a package without src
    }
  }
  return written
}

/** Writes the README's examples to `tests/snippets/`; returns their paths. */
export const extract = (): Array<string> => {
  const dir = join(root, "tests", "snippets")
  mkdirSync(dir, { recursive: true })
  for (const file of readdirSync(dir)) if (file.startsWith("readme-")) rmSync(join(dir, file))
  return blocks(readFileSync(join(root, "README.md"), "utf8")).map(({ line, code }, i) => {
    const file = join(dir, `readme-${i + 1}.ts`)
    writeFileSync(
      file,
      `// README.md line ${line}: extracted by scripts/snippets.ts; do not edit\n${code}\nexport {}\n`
    )
    return file
  })
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const files = extract()
  const docs = extractDocs()
  console.log(`snippets: ${files.length} README examples and ${docs.length} JSDoc examples in tests/snippets/`)
}
