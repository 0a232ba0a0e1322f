/**
 * Least pending by power of two choices: sample two different endpoints at random and send the
 * request to the one with fewer requests in flight (Mitzenmacher, "The Power of Two Choices in
 * Randomized Load Balancing", 2001; Finagle's `P2C` least-loaded, tower's `p2c` with
 * `PendingRequests`).
 *
 * **Details**
 *
 * Pending counts are the balancer's own (`use` increments and decrements them), so this needs no
 * feedback from the endpoints. Both samples come from one random double (see `internal/sample`),
 * are always different when there are two or more endpoints, and a tie goes to the first sample,
 * which is itself random. Weights are ignored. `pick` is O(1).
 *
 * @stability unstable
 * @since 0.1.0
 */
import * as choices from "./internal/choices.ts"
import * as Load from "./Load.ts"
import type * as Policy from "./Policy.ts"

/**
 * The least-pending power-of-two-choices policy: `Load.pending` under the one power of two
 * choices (`internal/choices.ts`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (): Policy.Policy => choices.policy("least-pending", Load.pending)
