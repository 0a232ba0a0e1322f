/**
 * Extracts the TypeScript examples of the README into `tests/snippets/readme-<n>.ts`, one
 * complete program each, so that `tsc` type-checks them and `tests/readme.test.ts` runs them on
 * every runtime. Run before `tsc` by `scripts/test.sh`; the test extracts them again itself.
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
  console.log(`snippets: ${files.length} README examples in tests/snippets/`)
}
