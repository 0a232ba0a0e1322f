/**
 * Readable renderings of values of unknown type, for error messages: the offending value of an
 * option or a field, and the failure of a source. Neither function ever throws, whatever it is
 * given (a value with no string form, a throwing getter, a revoked proxy, a cycle).
 */
import * as Duration from "effect/Duration"

/** The longest rendering of a value, in characters (a failure gets 200); longer ones are clipped with `...`. */
export const maxLength = 120

/**
 * A value as it would be written in code: JSON-like, but `NaN`, `Infinity`, `-0`, `undefined`,
 * bigints (`5n`), symbols and functions are shown as what they are rather than as `null` or
 * nothing; strings are quoted.
 */
export const value = (input: unknown): string => clip(guarded(() => literal(input, 0, new Set())))

/**
 * A one-line description of a failure of unknown type: `Name: message` for errors (with the
 * messages of their `cause` chain, so a wrapper like `UnknownError` shows what it wraps), the
 * value itself otherwise. An error with an empty message says so: `TypeError (no message)`.
 */
export const failure = (input: unknown): string => clip(guarded(() => describeFailure(input, 0)), 200)

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

const unprintable = "(a value that cannot be printed)"

const clip = (text: string, max = maxLength): string => text.length > max ? `${text.slice(0, max - 3)}...` : text

const guarded = (render: () => string): string => {
  try {
    return render()
  } catch {
    return unprintable
  }
}

const number = (n: number): string => Object.is(n, -0) ? "-0" : String(n)

const literal = (input: unknown, depth: number, seen: Set<object>): string => {
  switch (typeof input) {
    case "string":
      return JSON.stringify(input)
    case "number":
      return number(input)
    case "bigint":
      return `${input}n`
    case "boolean":
      return String(input)
    case "undefined":
      return "undefined"
    case "symbol":
      return guarded(() => input.toString())
    case "function":
      return input.name === "" ? "a function" : `function ${input.name}`
  }
  if (input === null) return "null"
  if (Duration.isDuration(input)) return `Duration(${Duration.format(input)})`
  const object = input as object
  if (seen.has(object)) return "(circular)"
  if (depth >= 3) return Array.isArray(object) ? "[...]" : "{...}"
  seen.add(object)
  try {
    if (Array.isArray(object)) {
      const items: Array<string> = []
      for (let i = 0; i < object.length && i < 20; i++) items.push(literal(object[i], depth + 1, seen))
      if (object.length > 20) items.push(`... ${object.length - 20} more`)
      return `[${items.join(", ")}]`
    }
    if (object instanceof Error) return errorText(object)
    const keys = Object.keys(object)
    const fields: Array<string> = []
    for (const key of keys.slice(0, 20)) {
      const name = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? key : JSON.stringify(key)
      fields.push(`${name}: ${guarded(() => literal((object as Record<string, unknown>)[key], depth + 1, seen))}`)
    }
    if (keys.length > 20) fields.push(`... ${keys.length - 20} more`)
    const kind = constructorName(object)
    return `${kind === undefined ? "" : `${kind} `}{${fields.length === 0 ? "" : ` ${fields.join(", ")} `}}`
  } finally {
    seen.delete(object)
  }
}

/** The class name of an object that is not a plain object, for `Map {}`-style renderings. */
const constructorName = (object: object): string | undefined => {
  const proto = Object.getPrototypeOf(object)
  if (proto === null || proto === Object.prototype) return undefined
  const name = typeof proto.constructor === "function" ? proto.constructor.name : undefined
  return typeof name === "string" && name !== "" && name !== "Object" ? name : undefined
}

const errorText = (error: Error): string => {
  const tag = (error as { readonly _tag?: unknown })._tag
  const name = typeof tag === "string" && tag !== "" ? tag : typeof error.name === "string" && error.name !== ""
    ? error.name
    : "Error"
  const message = typeof error.message === "string" ? error.message : ""
  if (message === "") return `${name} (no message)`
  // a plain `Error` says nothing its message does not
  return name === "Error" ? message : `${name}: ${message}`
}

const describeFailure = (input: unknown, depth: number): string => {
  if (typeof input === "string") return input === "" ? "(an empty string)" : input
  if (typeof input !== "object" || input === null) return literal(input, 0, new Set())
  const record = input as { readonly message?: unknown; readonly _tag?: unknown; readonly cause?: unknown }
  const isErrorLike = input instanceof Error || typeof record.message === "string"
  if (!isErrorLike) return literal(input, 0, new Set())
  const head = input instanceof Error ? errorText(input) : typeof record._tag === "string"
    ? (record.message === "" ? `${record._tag} (no message)` : `${record._tag}: ${String(record.message)}`)
    : String(record.message)
  const cause = guardedCause(record)
  if (cause === undefined || depth >= 3) return head
  // effect's `UnknownError` (from `Effect.try` / `tryPromise`) says only that something threw:
  // what threw is the message worth reading
  if (record._tag === "UnknownError") return describeFailure(cause, depth + 1)
  const inner = describeFailure(cause, depth + 1)
  return head.includes(inner) ? head : `${head}: ${inner}`
}

const guardedCause = (record: { readonly cause?: unknown }): unknown => {
  try {
    return record.cause
  } catch {
    return undefined
  }
}
