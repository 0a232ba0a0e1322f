/**
 * The fixed seed for property tests. fast-check prints the seed and the shrunk path of any
 * failure; re-run with `SWITCHYARD_SEED=<seed>` to reproduce with another seed.
 */
import process from "node:process"

export const seed = Number(process.env["SWITCHYARD_SEED"] ?? 20261121)

export const params = (numRuns = 1000) => ({ seed, numRuns })
