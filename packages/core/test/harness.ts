/**
 * A picker driven as `Balancer.apply` drives it (`TestPicker`), with changes batched until the
 * test calls `picker.rebalanced()` itself.
 */
import type { Endpoint, Policy } from "@switchyard/core"
import { TestPicker } from "@switchyard/core/testing"

export const harness = (policy: Policy.Policy, endpoints: ReadonlyArray<Endpoint.Endpoint>, random: () => number) => {
  const t = TestPicker.make(policy, endpoints, { random })
  return {
    ...t,
    add: (e: Endpoint.Endpoint) => t.add(e, { batch: true }),
    remove: (address: string) => t.remove(address, { batch: true }),
    update: (e: Endpoint.Endpoint) => t.update(e, { batch: true })
  }
}
