import { assert, describe, it } from "@effect/vitest"
import { pathToFileURL } from "node:url"
import { extract } from "../scripts/snippets.ts"

/**
 * Every TypeScript example of the README is a complete program; each is extracted (and, in
 * `scripts/test.sh`, type-checked by `tsc` before this runs) and run here, so the README cannot
 * drift from the code.
 */
const files = extract()

describe("README examples", () => {
  it("there are examples to run", () => {
    assert.isAtLeast(files.length, 3)
  })
  for (const file of files) {
    it(`${file.slice(file.lastIndexOf("/") + 1)} runs to completion without an error`, async () => {
      await import(pathToFileURL(file).href)
    })
  }
})
