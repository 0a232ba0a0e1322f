/**
 * Reads the vitest JSON reports of the three runtimes and the determinism transcripts, prints a
 * table and the transcript hashes, and ends with the line "N passed, N failed, N skipped".
 * Exits 1 when a runtime is missing, a test failed, or the transcripts differ.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import process from "node:process"

interface Report {
  readonly numPassedTests: number
  readonly numFailedTests: number
  readonly numPendingTests: number
  readonly numTodoTests: number
  readonly success: boolean
}

const dir = process.argv[2] ?? "tests/.transcripts"
const runtimes = ["node", "bun", "deno"] as const
let passed = 0
let failed = 0
let skipped = 0
for (const runtime of runtimes) {
  const file = join(dir, `vitest-${runtime}.json`)
  if (!existsSync(file)) {
    console.log(`${runtime.padEnd(5)} no report: the run did not finish`)
    failed++
    continue
  }
  const report = JSON.parse(readFileSync(file, "utf8")) as Report
  passed += report.numPassedTests
  failed += report.numFailedTests
  skipped += report.numPendingTests + report.numTodoTests
  console.log(
    `${
      runtime.padEnd(5)
    } ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests} skipped`
  )
}

const hashes = runtimes.map((runtime) => {
  const file = join(dir, `${runtime}.txt`)
  return existsSync(file) ? readFileSync(file, "utf8").split("\n", 1)[0]!.replace("sha256 ", "") : "(missing)"
})
runtimes.forEach((runtime, i) => console.log(`transcript ${runtime.padEnd(5)} ${hashes[i]}`))
if (hashes.every((h) => h === hashes[0] && h !== "(missing)")) {
  console.log("transcripts: identical on node, bun and deno")
  passed++
} else {
  console.log("transcripts: DIFFER between runtimes (diff tests/.transcripts/*.txt)")
  failed++
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(failed === 0 ? 0 : 1)
