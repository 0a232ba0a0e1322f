/**
 * The retry decisions of `Retry.use`, once: whether a failed attempt may be retried, and when a
 * retry would start past the deadline. `Retry.use` runs them over real fibers; the simulator
 * runs the same functions under its virtual clock.
 */

/** What the decision reads of a retry policy. */
export interface Rule<E> {
  readonly maxAttempts: number
  readonly idempotent: boolean
  readonly retryOn: (error: E) => boolean
  readonly notSent: (error: E) => boolean
}

/**
 * Whether attempt number `attempt` (from 1), which failed with `error`, may be followed by
 * another: the error is retryable (not sent, a per-try timeout, or `retryOn`), a retry is safe
 * (not sent, an idempotent call, or an error `notSent` says never reached the server), and
 * attempts are left. `entered` is whether the call was started on the endpoint at all;
 * `timedOut` whether the error is the per-try timeout.
 */
export const mayRetry = <E>(
  rule: Rule<E>,
  attempt: number,
  error: E,
  entered: boolean,
  timedOut: boolean
): boolean => {
  if (attempt >= rule.maxAttempts) return false
  const retryable = !entered || timedOut || rule.retryOn(error)
  const safe = !entered || rule.idempotent || (!timedOut && rule.notSent(error))
  return retryable && safe
}

/**
 * Whether a retry that waits `delay` ms from `now` would start at or after the deadline of a call
 * that started at `start` (ms) with `deadlineMillis` (`Infinity` for none).
 */
export const pastDeadline = (now: number, delay: number, start: number, deadlineMillis: number): boolean =>
  now + delay >= start + deadlineMillis
