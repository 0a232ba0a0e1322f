/**
 * Parsing JSON with an error that names where the text went wrong, the same on every runtime:
 * `JSON.parse` parses, and when it refuses, a small scanner (RFC 8259's grammar, nothing more)
 * finds the first offending character, because the runtimes' own messages differ (V8 gives a
 * position, JavaScriptCore does not).
 */
import * as Result from "effect/Result"

/** Where and why a text is not JSON: 1-based line and column. */
export interface SyntaxProblem {
  readonly line: number
  readonly column: number
  readonly problem: string
}

/** The value of `text`, or where it stops being JSON. */
export const parse = (text: string): Result.Result<unknown, SyntaxProblem> => {
  try {
    return Result.succeed(JSON.parse(text))
  } catch {
    return Result.fail(locate(text))
  }
}

/** Where `text` (which `JSON.parse` refused) stops being JSON. */
export const locate = (text: string): SyntaxProblem => {
  let i = 0
  const fail = (problem: string): never => {
    throw new Located(i, problem)
  }
  const space = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++
  }
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length
    else fail(`unexpected ${describe(text, i)}`)
  }
  const string = () => {
    i++ // the opening quote
    while (i < text.length) {
      const c = text.charCodeAt(i)
      if (c === 0x22) {
        i++
        return
      }
      if (c < 0x20) fail("a control character inside a string")
      if (c === 0x5c) {
        const e = text[i + 1]
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail("an invalid \\u escape")
          i += 6
        } else if (e !== undefined && "\"\\/bfnrt".includes(e)) i += 2
        else fail("an invalid escape")
      } else i++
    }
    fail("an unterminated string")
  }
  const number = () => {
    const match = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400))
    if (match === null) fail(`unexpected ${describe(text, i)}`)
    i += match![0].length
  }
  const value = (depth: number): void => {
    if (depth > 512) fail("nesting deeper than 512 levels")
    space()
    const c = text[i]
    if (c === "{") {
      i++
      space()
      if (text[i] === "}") {
        i++
        return
      }
      for (;;) {
        space()
        if (text[i] !== "\"") fail(`expected a property name in double quotes, found ${describe(text, i)}`)
        string()
        space()
        if (text[i] !== ":") fail(`expected ":" after a property name, found ${describe(text, i)}`)
        i++
        value(depth + 1)
        space()
        if (text[i] === ",") i++
        else if (text[i] === "}") {
          i++
          return
        } else fail(`expected "," or "}" in an object, found ${describe(text, i)}`)
      }
    }
    if (c === "[") {
      i++
      space()
      if (text[i] === "]") {
        i++
        return
      }
      for (;;) {
        value(depth + 1)
        space()
        if (text[i] === ",") i++
        else if (text[i] === "]") {
          i++
          return
        } else fail(`expected "," or "]" in an array, found ${describe(text, i)}`)
      }
    }
    if (c === "\"") return string()
    if (c === "t") return literal("true")
    if (c === "f") return literal("false")
    if (c === "n") return literal("null")
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return number()
    fail(`unexpected ${describe(text, i)}`)
  }
  try {
    value(0)
    space()
    if (i < text.length) fail(`unexpected ${describe(text, i)} after the value`)
    return at(text, i, "not JSON") // JSON.parse refused what the grammar allows (never seen)
  } catch (e) {
    if (e instanceof Located) return at(text, e.offset, e.problem)
    throw e
  }
}

class Located {
  readonly offset: number
  readonly problem: string
  constructor(offset: number, problem: string) {
    this.offset = offset
    this.problem = problem
  }
}

const describe = (text: string, i: number): string => i >= text.length ? "the end of the text" : JSON.stringify(text[i])

const at = (text: string, offset: number, problem: string): SyntaxProblem => {
  let line = 1
  let start = 0
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text[k] === "\n") {
      line++
      start = k + 1
    }
  }
  return { line, column: offset - start + 1, problem }
}
