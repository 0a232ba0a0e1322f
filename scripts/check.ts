/**
 * Repository checks that TypeScript cannot express (run in CI by `pnpm check`):
 *
 * - core purity: `packages/core/src` imports only `effect`, `effect/*` and its own files
 *   (and never reaches into `src/testing/`);
 * - core testing purity: `packages/core/src/testing` imports only `effect`, `effect/*`,
 *   `fast-check` and relative paths;
 * - core determinism: no ambient time, randomness, timers or runtime globals in core
 *   (`Date.now`, `new Date`, `Math.random`, `performance.now`, `setTimeout(`, `setInterval(`,
 *   `setImmediate(`, `process.`, `Bun.`, `Deno.`, `globalThis.`, `require(`), comments and
 *   string contents ignored;
 * - relative imports: every relative import in `packages/*\/src` ends in `.ts` and exists;
 * - import cycles: no cycle among `packages/*\/src` files through static relative imports
 *   (`import type` / `export type` statements are erased at runtime and not followed);
 * - barrels: each `index.ts` holds exactly `export * as X from "./X.ts"` for its PascalCase
 *   modules (a package without an index is skipped with a note);
 * - core exports: `packages/core/package.json` maps `./internal/*` to `null`.
 *
 * Usage (Node 24, type stripping; only `node:` builtins, so it runs before anything is built):
 *
 * ```sh
 * node scripts/check.ts               # check this repository
 * node scripts/check.ts --root DIR    # check another checkout, e.g. a temp copy
 * node scripts/check.ts --self-test   # build fixtures in a temp dir and show every check can fail
 * ```
 *
 * Files are read with a small tokenizer (comments, strings, templates and regex literals), not
 * with regular expressions over raw text, so doc examples and string contents never count.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import process from "node:process"
import { fileURLToPath } from "node:url"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

interface Token {
  readonly kind: "ident" | "string" | "template" | "templatePart" | "number" | "regex" | "punct"
  readonly value: string
  readonly line: number
}

interface ImportRef {
  /** The specifier, or `undefined` for `import(expr)` / `require(expr)` with a non-literal argument. */
  readonly specifier: string | undefined
  readonly line: number
  readonly kind: "import" | "export" | "dynamic" | "require"
  /** `import type ...` / `export type ...`: erased under type stripping. */
  readonly typeOnly: boolean
}

interface Problem {
  readonly file: string
  readonly line: number
  readonly message: string
}

interface CheckResult {
  readonly name: string
  readonly summary: string
  readonly problems: ReadonlyArray<Problem>
  readonly notes: ReadonlyArray<string>
}

interface SourceFile {
  /** Absolute path. */
  readonly path: string
  /** Path relative to the root, with `/` separators, for messages. */
  readonly rel: string
  readonly tokens: ReadonlyArray<Token>
  readonly imports: ReadonlyArray<ImportRef>
}

// -----------------------------------------------------------------------------
// tokenizer
// -----------------------------------------------------------------------------

const keywordsBeforeRegex = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await"
])

const identStart = /[\p{ID_Start}$_]/u
const identPart = /[\p{ID_Continue}$\u200c\u200d]/u

/** Splits TypeScript source into tokens, dropping whitespace and comments and tracking lines. */
const tokenize = (source: string): Array<Token> => {
  const tokens: Array<Token> = []
  /** For each open `${`, the brace depth at which its `}` closes it. */
  const substitutions: Array<number> = []
  const n = source.length
  let depth = 0
  let line = 1
  let i = 0

  const push = (kind: Token["kind"], value: string, at: number): void => {
    tokens.push({ kind, value, line: at })
  }

  /** Reads template text from `i` up to the closing backtick or the next `${`. */
  const readTemplate = (head: boolean): void => {
    const start = line
    let text = ""
    while (i < n) {
      const c = source[i]!
      if (c === "\\") {
        text += source.slice(i, i + 2)
        if (source[i + 1] === "\n") line++
        i += 2
        continue
      }
      if (c === "`") {
        i++
        push(head ? "template" : "templatePart", text, start)
        return
      }
      if (c === "$" && source[i + 1] === "{") {
        i += 2
        push("templatePart", text, start)
        substitutions.push(depth)
        return
      }
      if (c === "\n") line++
      text += c
      i++
    }
    push("templatePart", text, start)
  }

  const regexAllowed = (): boolean => {
    const prev = tokens[tokens.length - 1]
    if (prev === undefined) return true
    if (prev.kind === "ident") return keywordsBeforeRegex.has(prev.value)
    if (prev.kind !== "punct") return false
    return prev.value !== ")" && prev.value !== "]" && prev.value !== "}"
  }

  if (source.startsWith("#!")) {
    while (i < n && source[i] !== "\n") i++
  }

  while (i < n) {
    const c = source[i]!
    if (c === "\n") {
      line++
      i++
      continue
    }
    if (/\s/.test(c) || c === "\ufeff") {
      i++
      continue
    }
    if (c === "/" && source[i + 1] === "/") {
      while (i < n && source[i] !== "\n") i++
      continue
    }
    if (c === "/" && source[i + 1] === "*") {
      const end = source.indexOf("*/", i + 2)
      const stop = end === -1 ? n : end + 2
      for (let j = i; j < stop; j++) if (source[j] === "\n") line++
      i = stop
      continue
    }
    if (c === "\"" || c === "'") {
      const start = line
      let value = ""
      let j = i + 1
      while (j < n && source[j] !== c && source[j] !== "\n") {
        if (source[j] === "\\") {
          if (source[j + 1] === "\n") line++
          else value += source[j + 1] ?? ""
          j += 2
        } else {
          value += source[j]
          j++
        }
      }
      push("string", value, start)
      i = j + 1
      continue
    }
    if (c === "`") {
      i++
      readTemplate(true)
      continue
    }
    if (c === "{") {
      depth++
      push("punct", c, line)
      i++
      continue
    }
    if (c === "}") {
      i++
      if (substitutions.length > 0 && substitutions[substitutions.length - 1] === depth) {
        substitutions.pop()
        readTemplate(false)
      } else {
        depth--
        push("punct", c, line)
      }
      continue
    }
    if (c === "/" && regexAllowed()) {
      let j = i + 1
      let inClass = false
      let closed = false
      while (j < n && source[j] !== "\n") {
        const d = source[j]
        if (d === "\\") {
          j += 2
          continue
        }
        if (d === "[") inClass = true
        else if (d === "]") inClass = false
        else if (d === "/" && !inClass) {
          closed = true
          break
        }
        j++
      }
      if (closed) {
        j++
        while (j < n && /[a-z]/.test(source[j]!)) j++
        push("regex", source.slice(i, j), line)
        i = j
        continue
      }
    }
    if (identStart.test(c) || (c === "#" && i + 1 < n && identStart.test(source[i + 1]!))) {
      let j = i + 1
      while (j < n && identPart.test(source[j]!)) j++
      push("ident", source.slice(i, j), line)
      i = j
      continue
    }
    if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(source[i + 1] ?? ""))) {
      let j = i + 1
      while (j < n && /[0-9A-Za-z_.]/.test(source[j]!)) j++
      push("number", source.slice(i, j), line)
      i = j
      continue
    }
    if (source.startsWith("...", i)) {
      push("punct", "...", line)
      i += 3
      continue
    }
    if (c === "?" && source[i + 1] === "." && !/[0-9]/.test(source[i + 2] ?? "")) {
      push("punct", "?.", line)
      i += 2
      continue
    }
    push("punct", c, line)
    i++
  }
  return tokens
}

// -----------------------------------------------------------------------------
// imports
// -----------------------------------------------------------------------------

const isMemberAccess = (tokens: ReadonlyArray<Token>, i: number): boolean => {
  const prev = tokens[i - 1]
  return prev !== undefined && prev.kind === "punct" && (prev.value === "." || prev.value === "?.")
}

const literal = (token: Token | undefined): string | undefined =>
  token !== undefined && (token.kind === "string" || token.kind === "template") ? token.value : undefined

/** The argument of `import(...)` / `require(...)` at `open` (the `(`), if it is a literal. */
const callSpecifier = (tokens: ReadonlyArray<Token>, open: number): string | undefined => {
  const value = literal(tokens[open + 1])
  const after = tokens[open + 2]?.value
  return value !== undefined && (after === ")" || after === ",") ? value : undefined
}

/** Every `import`, `export ... from`, `import(...)` and `require(...)` in a token stream. */
const importsOf = (tokens: ReadonlyArray<Token>): Array<ImportRef> => {
  const out: Array<ImportRef> = []
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!
    if (token.kind !== "ident" || isMemberAccess(tokens, i)) continue
    const next = tokens[i + 1]
    if (next === undefined) continue
    if (token.value === "require" && next.value === "(") {
      out.push({ specifier: callSpecifier(tokens, i + 1), line: token.line, kind: "require", typeOnly: false })
    } else if (token.value === "import") {
      if (next.value === "(") {
        out.push({ specifier: callSpecifier(tokens, i + 1), line: token.line, kind: "dynamic", typeOnly: false })
      } else if (next.value === "." || next.value === ":" || next.value === "=" || next.value === ",") {
        continue // import.meta, or `import` as a property name
      } else if (next.kind === "string") {
        out.push({ specifier: next.value, line: next.line, kind: "import", typeOnly: false })
      } else {
        const third = tokens[i + 2]?.value
        const typeOnly = next.value === "type" && third !== "from" && third !== ","
        for (let j = i + 1; j < tokens.length && j < i + 400; j++) {
          const t = tokens[j]!
          if (t.kind === "punct" && (t.value === "=" || t.value === ";")) break
          if (t.kind === "string") {
            if (tokens[j - 1]?.value === "from") {
              out.push({ specifier: t.value, line: t.line, kind: "import", typeOnly })
            }
            break
          }
        }
      }
    } else if (token.value === "export") {
      let j = i + 1
      let typeOnly = false
      if (tokens[j]?.value === "type" && (tokens[j + 1]?.value === "{" || tokens[j + 1]?.value === "*")) {
        typeOnly = true
        j++
      }
      if (tokens[j]?.value === "*") {
        for (let k = j + 1; k < tokens.length && k < j + 5; k++) {
          const t = tokens[k]!
          if (t.kind === "string") {
            if (tokens[k - 1]?.value === "from") {
              out.push({ specifier: t.value, line: t.line, kind: "export", typeOnly })
            }
            break
          }
        }
      } else if (tokens[j]?.value === "{") {
        let level = 0
        for (let k = j; k < tokens.length; k++) {
          const v = tokens[k]!.value
          if (tokens[k]!.kind !== "punct") continue
          if (v === "{") level++
          else if (v === "}" && --level === 0) {
            const spec = tokens[k + 2]
            if (tokens[k + 1]?.value === "from" && spec?.kind === "string") {
              out.push({ specifier: spec.value, line: spec.line, kind: "export", typeOnly })
            }
            break
          }
        }
      }
    }
  }
  return out
}

const isRelative = (specifier: string): boolean => specifier.startsWith("./") || specifier.startsWith("../")

// -----------------------------------------------------------------------------
// files
// -----------------------------------------------------------------------------

const sourceExtension = /\.(?:ts|mts|cts|tsx|js|mjs|cjs)$/

const walk = (dir: string): Array<string> => {
  if (!fs.existsSync(dir)) return []
  const out: Array<string> = []
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...walk(full))
    else if (entry.isFile() && sourceExtension.test(entry.name) && !entry.name.endsWith(".d.ts")) out.push(full)
  }
  return out.sort()
}

const toRel = (root: string, file: string): string => path.relative(root, file).split(path.sep).join("/")

const isInside = (dir: string, file: string): boolean => {
  const rel = path.relative(dir, file)
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel)
}

class Repo {
  readonly root: string
  private readonly cache = new Map<string, SourceFile>()
  constructor(root: string) {
    this.root = root
  }
  file(file: string): SourceFile {
    let source = this.cache.get(file)
    if (source === undefined) {
      const tokens = tokenize(fs.readFileSync(file, "utf8"))
      source = { path: file, rel: toRel(this.root, file), tokens, imports: importsOf(tokens) }
      this.cache.set(file, source)
    }
    return source
  }
  files(dir: string): Array<SourceFile> {
    return walk(path.join(this.root, dir)).map((file) => this.file(file))
  }
  /** `packages/<name>` directories that have a `src` folder. */
  packages(): Array<string> {
    const dir = path.join(this.root, "packages")
    if (!fs.existsSync(dir)) return []
    return fs.readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && fs.existsSync(path.join(dir, e.name, "src")))
      .map((e) => `packages/${e.name}`)
      .sort()
  }
}

// -----------------------------------------------------------------------------
// checks
// -----------------------------------------------------------------------------

const coreSrc = "packages/core/src"
const coreTesting = "packages/core/src/testing"

const isEffect = (specifier: string): boolean => specifier === "effect" || specifier.startsWith("effect/")
const isFastCheck = (specifier: string): boolean => specifier === "fast-check" || specifier.startsWith("fast-check/")

/** (a) and (b): what core (and its public test kit) may import. */
const checkPurity = (repo: Repo, testing: boolean): CheckResult => {
  const src = path.join(repo.root, coreSrc)
  const testingDir = path.join(repo.root, coreTesting)
  const files = repo.files(testing ? coreTesting : coreSrc).filter((f) => testing || !isInside(testingDir, f.path))
  const allowed = testing ? "effect, effect/*, fast-check and relative paths" : "effect, effect/* and its own files"
  const problems: Array<Problem> = []
  for (const file of files) {
    for (const ref of file.imports) {
      const what = ref.kind === "require" ? "require()" : ref.kind === "dynamic" ? "import()" : ref.kind
      if (ref.specifier === undefined) {
        problems.push({ file: file.rel, line: ref.line, message: `${what} with a non-literal specifier` })
        continue
      }
      const spec = ref.specifier
      if (isRelative(spec)) {
        const target = path.resolve(path.dirname(file.path), spec)
        if (!isInside(src, target)) {
          problems.push({ file: file.rel, line: ref.line, message: `${what} "${spec}" leaves ${coreSrc}` })
        } else if (!testing && isInside(testingDir, target)) {
          problems.push({
            file: file.rel,
            line: ref.line,
            message: `${what} "${spec}" reaches into src/testing (which may use fast-check); only the test kit may`
          })
        }
      } else if (!(isEffect(spec) || (testing && isFastCheck(spec)))) {
        problems.push({ file: file.rel, line: ref.line, message: `${what} "${spec}": only ${allowed} are allowed` })
      }
    }
  }
  return {
    name: testing ? "core testing purity" : "core purity",
    summary: `${files.length} files`,
    problems,
    notes: []
  }
}

const ambientAdvice = {
  time: "use Clock (and TestClock in tests)",
  random: "use Random (and Random.withSeed in tests)",
  timer: "use Effect.sleep or a Schedule",
  global: "runtime APIs belong in an adapter, behind a port",
  require: "core is ESM: use import"
} as const

/** Which ambient API, if any, the identifier at `i` starts. */
const ambientAt = (tokens: ReadonlyArray<Token>, i: number): readonly [string, string] | undefined => {
  const token = tokens[i]!
  if (token.kind !== "ident" || isMemberAccess(tokens, i)) return undefined
  const next = tokens[i + 1]
  if (next === undefined) return undefined
  const punct = next.kind === "punct" ? next.value : ""
  const after = tokens[i + 2]?.value
  const member = punct === "." || punct === "?."
  switch (token.value) {
    case "Date":
      return member && after === "now" ? ["Date.now", ambientAdvice.time] : undefined
    case "new":
      return next.kind === "ident" && next.value === "Date" ? ["new Date", ambientAdvice.time] : undefined
    case "performance":
      return member && after === "now" ? ["performance.now", ambientAdvice.time] : undefined
    case "Math":
      return member && after === "random" ? ["Math.random", ambientAdvice.random] : undefined
    case "setTimeout":
    case "setInterval":
    case "setImmediate":
      return punct === "(" ? [`${token.value}(`, ambientAdvice.timer] : undefined
    case "process":
    case "Bun":
    case "Deno":
    case "globalThis":
      return member || punct === "[" ? [`${token.value}${punct}`, ambientAdvice.global] : undefined
    case "require":
      return punct === "(" ? ["require(", ambientAdvice.require] : undefined
    default:
      return undefined
  }
}

/** (c): no ambient time, randomness, timers or runtime globals anywhere in core. */
const checkDeterminism = (repo: Repo): CheckResult => {
  const files = repo.files(coreSrc)
  const problems: Array<Problem> = []
  for (const file of files) {
    for (let i = 0; i < file.tokens.length; i++) {
      const hit = ambientAt(file.tokens, i)
      if (hit !== undefined) {
        problems.push({ file: file.rel, line: file.tokens[i]!.line, message: `uses ${hit[0]}: ${hit[1]}` })
      }
    }
  }
  return { name: "core determinism", summary: `${files.length} files`, problems, notes: [] }
}

/** (d): relative imports in packages/*\/src carry `.ts` and point at a file. */
const checkExtensions = (repo: Repo): CheckResult => {
  const problems: Array<Problem> = []
  let files = 0
  let count = 0
  for (const pkg of repo.packages()) {
    for (const file of repo.files(`${pkg}/src`)) {
      files++
      for (const ref of file.imports) {
        if (ref.specifier === undefined || !isRelative(ref.specifier)) continue
        count++
        if (!ref.specifier.endsWith(".ts")) {
          problems.push({
            file: file.rel,
            line: ref.line,
            message:
              `relative import "${ref.specifier}" needs a .ts extension (Node type stripping, Bun and Deno load it as written)`
          })
        } else if (!fs.existsSync(path.resolve(path.dirname(file.path), ref.specifier))) {
          problems.push({
            file: file.rel,
            line: ref.line,
            message: `relative import "${ref.specifier}" does not exist`
          })
        }
      }
    }
  }
  return { name: "relative imports", summary: `${count} imports in ${files} files`, problems, notes: [] }
}

/** (e): no import cycles among packages/*\/src, following static relative value imports. */
const checkCycles = (repo: Repo): CheckResult => {
  const files = repo.packages().flatMap((pkg) => repo.files(`${pkg}/src`))
  const byPath = new Map(files.map((f) => [f.path, f]))
  const edges = new Map<string, Array<{ readonly to: string; readonly line: number }>>()
  let edgeCount = 0
  for (const file of files) {
    const out: Array<{ readonly to: string; readonly line: number }> = []
    for (const ref of file.imports) {
      if (ref.typeOnly || ref.specifier === undefined || !isRelative(ref.specifier)) continue
      if (ref.kind !== "import" && ref.kind !== "export") continue
      const to = path.resolve(path.dirname(file.path), ref.specifier)
      if (byPath.has(to) && !out.some((e) => e.to === to)) out.push({ to, line: ref.line })
    }
    edgeCount += out.length
    edges.set(file.path, out)
  }

  // Tarjan's strongly connected components; every component with a cycle is reported once.
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const onStack = new Set<string>()
  const stack: Array<string> = []
  const components: Array<Array<string>> = []
  let counter = 0
  const visit = (node: string): void => {
    index.set(node, counter)
    low.set(node, counter)
    counter++
    stack.push(node)
    onStack.add(node)
    for (const { to } of edges.get(node) ?? []) {
      if (!index.has(to)) {
        visit(to)
        low.set(node, Math.min(low.get(node)!, low.get(to)!))
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!))
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: Array<string> = []
      let member: string
      do {
        member = stack.pop()!
        onStack.delete(member)
        component.push(member)
      } while (member !== node)
      components.push(component)
    }
  }
  for (const file of files) if (!index.has(file.path)) visit(file.path)

  const problems: Array<Problem> = []
  for (const component of components) {
    const members = new Set(component)
    const start = [...component].sort()[0]!
    const selfLoop = (edges.get(start) ?? []).find((e) => e.to === start)
    if (component.length === 1 && selfLoop === undefined) continue
    // Shortest path start -> ... -> start inside the component (breadth first).
    const parent = new Map<string, { readonly from: string; readonly line: number }>()
    const queue = [start]
    let found: { readonly from: string; readonly line: number } | undefined
    while (queue.length > 0 && found === undefined) {
      const node = queue.shift()!
      for (const edge of edges.get(node) ?? []) {
        if (edge.to === start) {
          found = { from: node, line: edge.line }
          break
        }
        if (members.has(edge.to) && !parent.has(edge.to)) {
          parent.set(edge.to, { from: node, line: edge.line })
          queue.push(edge.to)
        }
      }
    }
    if (found === undefined) continue
    const hops: Array<{ readonly from: string; readonly line: number }> = [found]
    for (let node = found.from; node !== start;) {
      const hop = parent.get(node)!
      hops.unshift(hop)
      node = hop.from
    }
    const rel = (file: string): string => toRel(repo.root, file)
    const chain = hops.map((h) => `${rel(h.from)}:${h.line}`).join(" -> ")
    problems.push({
      file: rel(start),
      line: hops[0]!.line,
      message: `import cycle: ${chain} -> ${rel(start)}`
    })
  }
  return { name: "import cycles", summary: `${files.length} files, ${edgeCount} edges`, problems, notes: [] }
}

const pascalModule = /^[A-Z][A-Za-z0-9]*\.ts$/

/** (f) for one barrel: `export * as X from "./X.ts"` for every PascalCase module, and nothing else. */
const checkBarrel = (repo: Repo, dir: string, required: boolean, problems: Array<Problem>): string | undefined => {
  const abs = path.join(repo.root, dir)
  const indexPath = path.join(abs, "index.ts")
  const indexRel = `${dir}/index.ts`
  const modules = fs.existsSync(abs)
    ? fs.readdirSync(abs).filter((f) => pascalModule.test(f)).map((f) => f.slice(0, -3))
    : []
  if (!fs.existsSync(indexPath)) {
    if (required) {
      problems.push({ file: indexRel, line: 1, message: "missing (the package barrel is required)" })
      return undefined
    }
    return `skipped ${dir}: no index.ts${modules.length > 0 ? ` (it has modules: ${modules.join(", ")})` : ""}`
  }
  const tokens = repo.file(indexPath).tokens
  const seen = new Map<string, number>()
  let lastLine = 1
  for (let i = 0; i < tokens.length;) {
    const t = tokens.slice(i, i + 6)
    const [kw, star, as, name, from, spec] = t
    if (
      kw?.value === "export" && star?.value === "*" && as?.value === "as" && name?.kind === "ident" &&
      from?.value === "from" && spec?.kind === "string"
    ) {
      lastLine = spec.line
      if (seen.has(name.value)) {
        problems.push({ file: indexRel, line: kw.line, message: `exports ${name.value} twice` })
      } else if (spec.value !== `./${name.value}.ts`) {
        problems.push({
          file: indexRel,
          line: kw.line,
          message: `exports ${name.value} from "${spec.value}", expected "./${name.value}.ts"`
        })
      } else if (!modules.includes(name.value)) {
        problems.push({
          file: indexRel,
          line: kw.line,
          message: `exports ${name.value} but ${dir}/${name.value}.ts does not exist`
        })
      }
      seen.set(name.value, kw.line)
      i += 6
      if (tokens[i]?.value === ";") i++
      continue
    }
    const bad = tokens[i]!
    problems.push({
      file: indexRel,
      line: bad.line,
      message: `unexpected \`${bad.value}\`: a barrel holds only \`export * as X from "./X.ts"\` lines`
    })
    // Resume at the next `export` so one bad statement is reported once.
    i++
    while (i < tokens.length && tokens[i]!.value !== "export") i++
  }
  for (const module of modules) {
    if (!seen.has(module)) {
      problems.push({
        file: indexRel,
        line: lastLine,
        message: `missing \`export * as ${module} from "./${module}.ts"\``
      })
    }
  }
  return undefined
}

const barrels: ReadonlyArray<{ readonly dir: string; readonly required: boolean }> = [
  { dir: coreSrc, required: true },
  { dir: coreTesting, required: false },
  { dir: "packages/adapter-node/src", required: false },
  { dir: "packages/adapter-bun/src", required: false }
]

const checkBarrels = (repo: Repo): CheckResult => {
  const problems: Array<Problem> = []
  const notes: Array<string> = []
  const checked: Array<string> = []
  for (const { dir, required } of barrels) {
    const note = checkBarrel(repo, dir, required, problems)
    if (note === undefined) checked.push(dir.replace(/^packages\//, "").replace(/\/src/, ""))
    else notes.push(note)
  }
  return { name: "barrels", summary: checked.join(", ") || "none checked", problems, notes }
}

/** (g): core's `exports` blocks `./internal/*`. */
const checkExports = (repo: Repo): CheckResult => {
  const rel = "packages/core/package.json"
  const problems: Array<Problem> = []
  let manifest: unknown
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(repo.root, rel), "utf8"))
  } catch (error) {
    problems.push({ file: rel, line: 1, message: `cannot read: ${String(error)}` })
  }
  if (problems.length === 0) {
    const exports = typeof manifest === "object" && manifest !== null
      ? (manifest as Record<string, unknown>)["exports"]
      : undefined
    if (typeof exports !== "object" || exports === null || Array.isArray(exports)) {
      problems.push({ file: rel, line: 1, message: "`exports` must be an object with \"./internal/*\": null" })
    } else if (!Object.hasOwn(exports, "./internal/*")) {
      problems.push({
        file: rel,
        line: 1,
        message: "`exports` lacks \"./internal/*\": null, so internal modules are importable"
      })
    } else if ((exports as Record<string, unknown>)["./internal/*"] !== null) {
      const value = JSON.stringify((exports as Record<string, unknown>)["./internal/*"])
      problems.push({ file: rel, line: 1, message: `\`exports["./internal/*"]\` is ${value}, expected null` })
    }
  }
  return { name: "core exports", summary: "./internal/* is blocked", problems, notes: [] }
}

/**
 * (h): Deno. The root `deno.json` is a workspace over every package with `tasks` equal to npm's
 * `test` and `demo` scripts and `nodeModulesDir: "manual"` (offline: npm packages come from
 * node_modules); each package's `deno.json` has its `package.json`'s name, version and license,
 * and JSR exports that list exactly its modules: `.` (the barrel), `./testing` (when there is a
 * test-kit barrel) and `./X` for every PascalCase module — no wildcards, nothing internal.
 */
const checkDeno = (repo: Repo): CheckResult => {
  const problems: Array<Problem> = []
  const json = (rel: string): Record<string, unknown> | undefined => {
    const full = path.join(repo.root, rel)
    if (!fs.existsSync(full)) {
      problems.push({ file: rel, line: 1, message: "missing" })
      return undefined
    }
    try {
      const value: unknown = JSON.parse(fs.readFileSync(full, "utf8"))
      if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>
      problems.push({ file: rel, line: 1, message: "expected a JSON object" })
    } catch (error) {
      problems.push({ file: rel, line: 1, message: `cannot read: ${String(error)}` })
    }
    return undefined
  }
  const same = (rel: string, what: string, actual: unknown, expected: unknown) => {
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      problems.push({
        file: rel,
        line: 1,
        message: `${what} is ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`
      })
    }
  }
  const packagesDir = path.join(repo.root, "packages")
  const packages = fs.existsSync(packagesDir)
    ? fs.readdirSync(packagesDir).filter((d) => fs.existsSync(path.join(packagesDir, d, "package.json"))).sort()
    : []
  const root = json("deno.json")
  const npm = json("package.json")
  if (root !== undefined) {
    const workspace = Array.isArray(root["workspace"])
      ? [...(root["workspace"] as Array<unknown>)].sort()
      : root["workspace"]
    same("deno.json", "workspace", workspace, packages.map((d) => `./packages/${d}`))
    same("deno.json", "nodeModulesDir", root["nodeModulesDir"], "manual")
    const tasks = (root["tasks"] ?? {}) as Record<string, unknown>
    const scripts = (npm?.["scripts"] ?? {}) as Record<string, unknown>
    for (const task of ["test", "demo"]) same("deno.json", `tasks.${task}`, tasks[task], scripts[task])
  }
  for (const dir of packages) {
    const rel = `packages/${dir}/deno.json`
    const manifest = json(rel)
    const pkg = json(`packages/${dir}/package.json`)
    if (manifest === undefined || pkg === undefined) continue
    for (const field of ["name", "version", "license"]) {
      if (pkg[field] !== undefined) same(rel, field, manifest[field], pkg[field])
    }
    const src = path.join(packagesDir, dir, "src")
    const expected: Record<string, string> = {}
    if (fs.existsSync(path.join(src, "index.ts"))) expected["."] = "./src/index.ts"
    for (const file of fs.existsSync(src) ? fs.readdirSync(src).filter((f) => pascalModule.test(f)).sort() : []) {
      expected[`./${file.slice(0, -3)}`] = `./src/${file}`
    }
    if (fs.existsSync(path.join(src, "testing", "index.ts"))) expected["./testing"] = "./src/testing/index.ts"
    const exports = (manifest["exports"] ?? {}) as Record<string, unknown>
    for (const [key, value] of Object.entries(expected)) {
      if (exports[key] !== value) {
        problems.push({
          file: rel,
          line: 1,
          message: `exports[${JSON.stringify(key)}] should be ${JSON.stringify(value)}`
        })
      }
    }
    for (const key of Object.keys(exports)) {
      if (!(key in expected)) {
        problems.push({
          file: rel,
          line: 1,
          message: `exports ${JSON.stringify(key)}, which is not a module of the package`
        })
      }
    }
  }
  return { name: "deno", summary: `workspace of ${packages.length} packages, JSR exports in sync`, problems, notes: [] }
}

const runChecks = (root: string): Array<CheckResult> => {
  const repo = new Repo(root)
  if (!fs.existsSync(path.join(root, coreSrc))) {
    return [{
      name: "layout",
      summary: "",
      problems: [{ file: coreSrc, line: 1, message: "missing: is --root a switchyard checkout?" }],
      notes: []
    }]
  }
  return [
    checkPurity(repo, false),
    checkPurity(repo, true),
    checkDeterminism(repo),
    checkExtensions(repo),
    checkCycles(repo),
    checkBarrels(repo),
    checkExports(repo),
    checkDeno(repo)
  ]
}

const report = (results: ReadonlyArray<CheckResult>, log: (line: string) => void): boolean => {
  let failed = 0
  for (const result of results) {
    if (result.problems.length === 0) {
      log(`${result.name}: ok (${result.summary})`)
    } else {
      failed++
      log(`${result.name}: FAILED (${result.problems.length} problem${result.problems.length === 1 ? "" : "s"})`)
      for (const p of result.problems) log(`  ${p.file}:${p.line}: ${p.message}`)
    }
    for (const note of result.notes) log(`  note: ${note}`)
  }
  if (failed > 0) log(`check: ${failed} of ${results.length} checks failed`)
  return failed === 0
}

// -----------------------------------------------------------------------------
// self-test
// -----------------------------------------------------------------------------

/** A small repository that passes every check, with legal look-alikes of every violation. */
const fixture: Record<string, string> = {
  "packages/core/package.json": JSON.stringify({
    name: "@switchyard/core",
    exports: { ".": "./src/index.ts", "./testing": "./src/testing/index.ts", "./*": "./src/*.ts", "./internal/*": null }
  }),
  "packages/core/src/index.ts": [
    "/** The barrel. @since 0.1.0 */",
    "",
    "/** @since 0.1.0 */",
    "export * as Alpha from \"./Alpha.ts\"",
    "",
    "// a line comment",
    "export * as Beta from \"./Beta.ts\"",
    ""
  ].join("\n"),
  "packages/core/src/Alpha.ts": [
    "/**",
    " * Doc examples may show anything: Date.now(), new Date(), Math.random(), setTimeout(f, 1),",
    " * process.env, Bun.serve, Deno.env, globalThis.fetch, require(\"x\").",
    " *",
    " * ```ts",
    " * import * as fs from \"node:fs\"",
    " * const x = await import(\"lodash\")",
    " * ```",
    " */",
    "import * as Effect from \"effect/Effect\"",
    "import type { Schema } from \"effect\"",
    "import * as parse from \"./internal/parse.ts\"",
    "// process.exit(1) and Date.now() in a line comment",
    "export const message = \"restart the process. Date.now() is banned; see Math.random()\"",
    "export const slashes = /[\"'`]\\/\\/ process\\./g",
    "export const template = `Deno.${\"env\"} ${parse.name.length > 0 ? `new Date(${1})` : \"\"}`",
    "export const later = Effect.sleep(\"1 second\")",
    "export const clock = { process: 1, setTimeout: 2 }",
    "export const member = clock.process + clock.setTimeout",
    "export type S = Schema.Schema<string>",
    "export const meta = import.meta.url",
    ""
  ].join("\n"),
  "packages/core/src/Beta.ts": [
    "import * as Alpha from \"./Alpha.ts\"",
    "export const b = Alpha.later",
    ""
  ].join("\n"),
  "packages/core/src/internal/parse.ts": [
    "import type * as Beta from \"../Beta.ts\" // type-only: erased at runtime, not a cycle",
    "export const name: string = \"parse\"",
    "export type B = typeof Beta",
    ""
  ].join("\n"),
  "packages/core/src/testing/index.ts": "export * as Arbitraries from \"./Arbitraries.ts\"\n",
  "packages/core/src/testing/Arbitraries.ts": [
    "import * as fc from \"fast-check\"",
    "import * as Arbitrary from \"effect/Arbitrary\"",
    "import * as Alpha from \"../Alpha.ts\"",
    "export const weight = fc.integer({ min: 1, max: 10 })",
    "export const a = [Arbitrary, Alpha]",
    ""
  ].join("\n"),
  "packages/adapter-node/package.json": "{}",
  "packages/adapter-node/src/index.ts": "export * as NodeClock from \"./NodeClock.ts\"\n",
  "packages/adapter-node/src/NodeClock.ts": [
    "import * as timers from \"node:timers\"",
    "import * as Endpoint from \"@switchyard/core/Endpoint\"",
    "export const now = () => Date.now() + performance.now() + process.uptime()",
    "export const t = [timers, Endpoint, setTimeout(() => {}, 0)]",
    ""
  ].join("\n"),
  "packages/adapter-bun/package.json": "{}",
  "packages/adapter-bun/src/BunClock.ts": "export const now = () => Bun.nanoseconds()\n",
  "package.json": JSON.stringify({ scripts: { test: "sh t.sh", demo: "sh d.sh" } }),
  "deno.json": JSON.stringify({
    workspace: ["./packages/core", "./packages/adapter-node", "./packages/adapter-bun"],
    nodeModulesDir: "manual",
    tasks: { test: "sh t.sh", demo: "sh d.sh" }
  }),
  "packages/core/deno.json": JSON.stringify({
    name: "@switchyard/core",
    exports: {
      ".": "./src/index.ts",
      "./Alpha": "./src/Alpha.ts",
      "./Beta": "./src/Beta.ts",
      "./testing": "./src/testing/index.ts"
    }
  }),
  "packages/adapter-node/deno.json": JSON.stringify({
    exports: { ".": "./src/index.ts", "./NodeClock": "./src/NodeClock.ts" }
  }),
  "packages/adapter-bun/deno.json": JSON.stringify({ exports: { "./BunClock": "./src/BunClock.ts" } })
}

interface Case {
  readonly name: string
  /** Files to append a line to (or create), or to replace. */
  readonly append?: Readonly<Record<string, string>>
  readonly replace?: Readonly<Record<string, readonly [string, string]>>
  /** The checks expected to fail (exactly). */
  readonly fails: ReadonlyArray<string>
}

const cases: ReadonlyArray<Case> = [
  { name: "baseline passes", fails: [] },
  {
    name: "(a) import from node:fs",
    append: { "packages/core/src/Beta.ts": "import * as fs from \"node:fs\"" },
    fails: ["core purity"]
  },
  {
    name: "(a) multi-line import from a package",
    append: { "packages/core/src/Beta.ts": "import {\n  a,\n  b\n} from \"lodash\"" },
    fails: ["core purity"]
  },
  {
    name: "(a) export from",
    append: { "packages/core/src/internal/parse.ts": "export { x } from \"node:path\"" },
    fails: ["core purity"]
  },
  {
    name: "(a) export * from",
    append: { "packages/core/src/Beta.ts": "export * from \"@effect/platform\"" },
    fails: ["core purity"]
  },
  {
    name: "(a) import type from a package",
    append: { "packages/core/src/Beta.ts": "import type { Server } from \"bun\"" },
    fails: ["core purity"]
  },
  {
    name: "(a) dynamic import",
    append: { "packages/core/src/Beta.ts": "export const lazy = () => import(\"node:dns\")" },
    fails: ["core purity"]
  },
  {
    name: "(a) fast-check outside testing",
    append: { "packages/core/src/Beta.ts": "import * as fc from \"fast-check\"" },
    fails: ["core purity"]
  },
  {
    name: "(a) core module importing the test kit",
    append: { "packages/core/src/Beta.ts": "import * as Arb from \"./testing/Arbitraries.ts\"" },
    fails: ["core purity"]
  },
  {
    name: "(a)+(c) require",
    append: { "packages/core/src/Beta.ts": "const fs = require(\"fs\")" },
    fails: ["core purity", "core determinism"]
  },
  {
    name: "(b) testing imports vitest",
    append: { "packages/core/src/testing/Arbitraries.ts": "import { it } from \"@effect/vitest\"" },
    fails: ["core testing purity"]
  },
  {
    name: "(b) testing imports node:crypto dynamically",
    append: { "packages/core/src/testing/Arbitraries.ts": "export const c = import(\"node:crypto\")" },
    fails: ["core testing purity"]
  },
  ...[
    "Date.now()",
    "new Date()",
    "new Date",
    "Math.random()",
    "setTimeout(() => {}, 10)",
    "setInterval(() => {}, 10)",
    "setImmediate(() => {})",
    "performance.now()",
    "process.env[\"X\"]",
    "Bun.nanoseconds()",
    "Deno.env.get(\"X\")",
    "globalThis.fetch",
    "`${Date.now()}`"
  ].map((expr): Case => ({
    name: `(c) ${expr} in core`,
    append: { "packages/core/src/Beta.ts": `export const bad = ${expr}` },
    fails: ["core determinism"]
  })),
  {
    name: "(c) Math.random() in testing",
    append: { "packages/core/src/testing/Arbitraries.ts": "export const seed = Math.random()" },
    fails: ["core determinism"]
  },
  {
    name: "(c) after a comment and a string on the same line",
    append: { "packages/core/src/Beta.ts": "/* ok */ export const t = \"x\" + Date.now() // Date.now()" },
    fails: ["core determinism"]
  },
  {
    name: "(d) relative import without extension",
    replace: { "packages/core/src/Beta.ts": ["\"./Alpha.ts\"", "\"./Alpha\""] },
    fails: ["relative imports"]
  },
  {
    name: "(d) .js extension in an adapter",
    append: { "packages/adapter-node/src/NodeClock.ts": "import * as x from \"./NodeClock.js\"" },
    fails: ["relative imports"]
  },
  {
    name: "(d) relative import of a missing file",
    append: { "packages/core/src/Beta.ts": "import * as Gone from \"./Gone.ts\"" },
    fails: ["relative imports"]
  },
  {
    name: "(e) value import cycle through internal/",
    append: { "packages/core/src/internal/parse.ts": "import * as Beta2 from \"../Beta.ts\"" },
    replace: {
      "packages/core/src/Beta.ts": [
        "import * as Alpha",
        "import * as P from \"./internal/parse.ts\"\nimport * as Alpha"
      ]
    },
    fails: ["import cycles"]
  },
  {
    name: "(e) self import",
    append: { "packages/adapter-node/src/NodeClock.ts": "export * as Self from \"./NodeClock.ts\"" },
    fails: ["import cycles"]
  },
  {
    name: "(f) new core module missing from the barrel",
    append: { "packages/core/src/Gamma.ts": "export const g = 1" },
    fails: ["barrels", "deno"] // a new module is missing from the JSR exports too
  },
  {
    name: "(f) barrel entry for a missing module",
    append: { "packages/core/src/index.ts": "export * as Delta from \"./Delta.ts\"" },
    fails: ["barrels", "relative imports"]
  },
  {
    name: "(f) barrel entry under the wrong name",
    replace: { "packages/core/src/index.ts": ["export * as Beta from", "export * as Bet from"] },
    fails: ["barrels"]
  },
  {
    name: "(f) something else in the barrel",
    append: { "packages/core/src/index.ts": "export const version = \"0.1.0\"" },
    fails: ["barrels"]
  },
  {
    name: "(f) testing barrel out of sync",
    append: { "packages/core/src/testing/Laws.ts": "export const l = 1" },
    fails: ["barrels"]
  },
  {
    name: "(f) adapter barrel out of sync",
    append: { "packages/adapter-node/src/NodeResolver.ts": "export const r = 1" },
    fails: ["barrels", "deno"] // a new module is missing from the JSR exports too
  },
  {
    name: "(g) internal/* exported",
    replace: { "packages/core/package.json": ["\"./internal/*\":null", "\"./internal/*\":\"./src/internal/*.ts\""] },
    fails: ["core exports"]
  },
  {
    name: "(g) internal/* entry removed",
    replace: { "packages/core/package.json": [",\"./internal/*\":null", ""] },
    fails: ["core exports"]
  },
  {
    name: "(h) a module missing from the JSR exports",
    replace: { "packages/core/deno.json": [",\"./Beta\":\"./src/Beta.ts\"", ""] },
    fails: ["deno"]
  },
  {
    name: "(h) a wildcard JSR export",
    replace: { "packages/adapter-node/deno.json": ["\"./NodeClock\"", "\"./*\":\"./src/*.ts\",\"./NodeClock\""] },
    fails: ["deno"]
  },
  {
    name: "(h) a package outside the Deno workspace",
    replace: { "deno.json": [",\"./packages/adapter-bun\"", ""] },
    fails: ["deno"]
  },
  {
    name: "(h) a deno task that differs from npm's",
    replace: { "deno.json": ["\"test\":\"sh t.sh\"", "\"test\":\"sh other.sh\""] },
    fails: ["deno"]
  }
]

const selfTest = (): boolean => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-check-"))
  let failures = 0
  try {
    cases.forEach((testCase, n) => {
      const root = path.join(base, String(n))
      for (const [file, text] of Object.entries(fixture)) {
        fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true })
        fs.writeFileSync(path.join(root, file), text)
      }
      for (const [file, [from, to]] of Object.entries(testCase.replace ?? {})) {
        const full = path.join(root, file)
        const text = fs.readFileSync(full, "utf8")
        if (!text.includes(from)) throw new Error(`self-test case "${testCase.name}": ${file} has no ${from}`)
        fs.writeFileSync(full, text.replace(from, to))
      }
      for (const [file, text] of Object.entries(testCase.append ?? {})) {
        const full = path.join(root, file)
        fs.mkdirSync(path.dirname(full), { recursive: true })
        fs.appendFileSync(full, `${text}\n`)
      }
      const results = runChecks(root)
      const failed = results.filter((r) => r.problems.length > 0).map((r) => r.name).sort()
      const expected = [...testCase.fails].sort()
      const ok = failed.join(",") === expected.join(",")
      const detail = results.flatMap((r) => r.problems.map((p) => `${p.file}:${p.line}: ${p.message}`))
      console.log(`${ok ? "ok  " : "FAIL"} ${testCase.name}${detail.length > 0 ? ` -> ${detail[0]}` : ""}`)
      if (!ok) {
        failures++
        console.log(`     expected failing: [${expected.join(", ")}], got: [${failed.join(", ")}]`)
        for (const line of detail) console.log(`     ${line}`)
      }
    })
  } finally {
    fs.rmSync(base, { recursive: true, force: true })
  }
  console.log(`self-test: ${failures === 0 ? "ok" : "FAILED"} (${cases.length - failures}/${cases.length} cases)`)
  return failures === 0
}

// -----------------------------------------------------------------------------
// main
// -----------------------------------------------------------------------------

const main = (argv: ReadonlyArray<string>): number => {
  if (argv.includes("--self-test")) return selfTest() ? 0 : 1
  const at = argv.indexOf("--root")
  const defaultRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
  const root = at >= 0 && argv[at + 1] !== undefined ? path.resolve(argv[at + 1]!) : defaultRoot
  return report(runChecks(root), (line) => console.log(line)) ? 0 : 1
}

process.exitCode = main(process.argv.slice(2))
