/**
 * Vose's alias method (M. D. Vose, "A Linear Algorithm for Generating Random Numbers with a Given
 * Distribution", IEEE TSE 1991; Walker's alias method, 1974): O(n) to build, O(1) to sample.
 *
 * The table has one column per index. Column `i` keeps its own index with probability `prob[i]`
 * and otherwise gives `alias[i]`. A sample takes one uniform double `u`: the integer part of `u·n`
 * is the column and the fractional part decides between the column and its alias.
 *
 * The build works on integers: with `W = Σw`, each index starts with `w_i · n` units against a
 * column capacity of `W`, so every comparison and subtraction is exact while `W · n < 2^53`
 * (always for up to 2048 endpoints; for 10,000 endpoints while weights stay below 2^26), and
 * `prob[i] = units / W` is the only rounding. Beyond that the arithmetic is ordinary floating point and leftovers get `prob = 1`, as
 * in Vose's numerically stable variant.
 */

/** An alias table and its scratch space. */
export interface Table {
  prob: Float64Array
  alias: Int32Array
  /** The number of columns. */
  n: number
  units: Float64Array
  small: Int32Array
  large: Int32Array
}

/** An empty table. */
export const make = (): Table => ({
  prob: new Float64Array(0),
  alias: new Int32Array(0),
  n: 0,
  units: new Float64Array(0),
  small: new Int32Array(0),
  large: new Int32Array(0)
})

/** Rebuilds `table` for `weights[0..n)` (positive). O(n). */
export const build = (table: Table, n: number, weights: ArrayLike<number>): void => {
  if (table.prob.length < n || table.prob.length > 4 * n + 64) {
    table.prob = new Float64Array(n)
    table.alias = new Int32Array(n)
    table.units = new Float64Array(n)
    table.small = new Int32Array(n)
    table.large = new Int32Array(n)
  }
  table.n = n
  const { alias, large, prob, small, units } = table
  let total = 0
  for (let i = 0; i < n; i++) total += weights[i]!
  let smalls = 0
  let larges = 0
  for (let i = 0; i < n; i++) {
    units[i] = weights[i]! * n
    if (units[i]! < total) small[smalls++] = i
    else large[larges++] = i
  }
  while (smalls > 0 && larges > 0) {
    const l = small[--smalls]!
    const g = large[--larges]!
    prob[l] = units[l]! / total
    alias[l] = g
    units[g] = units[g]! + units[l]! - total
    if (units[g]! < total) small[smalls++] = g
    else large[larges++] = g
  }
  while (larges > 0) {
    const g = large[--larges]!
    prob[g] = 1
    alias[g] = g
  }
  while (smalls > 0) {
    const l = small[--smalls]!
    prob[l] = 1
    alias[l] = l
  }
}

/** The column a uniform `u` in [0, 1) falls in. */
export const column = (table: Table, u: number): number => {
  const c = Math.floor(u * table.n)
  return c < table.n ? c : table.n - 1
}

/** The index sampled by `u` in [0, 1); the table is not empty. */
export const sample = (table: Table, u: number): number => {
  const x = u * table.n
  let c = Math.floor(x)
  if (c >= table.n) c = table.n - 1
  return x - c < table.prob[c]! ? c : table.alias[c]!
}
