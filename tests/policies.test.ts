import {
  Health,
  LeastPending,
  Maglev,
  OutlierDetection,
  PeakEwma,
  RingHash,
  RoundRobin,
  ShortestExpectedDelay,
  WeightedRandom,
  WeightedRoundRobin
} from "@switchyard/core"
import { Effect } from "effect"
import process from "node:process"
import { policySuite } from "./conformance/PolicySuite.ts"

const params = { seed: Number(process.env["SWITCHYARD_SEED"] ?? 20261121), numRuns: 300 }
const probe = () => Effect.void

policySuite({ name: "RoundRobin", make: RoundRobin.make, params })
policySuite({ name: "WeightedRoundRobin", make: WeightedRoundRobin.make, weighted: 0.01, params })
policySuite({ name: "WeightedRandom", make: WeightedRandom.make, weighted: 0.02, params })
policySuite({ name: "WeightedRandom.uniform", make: WeightedRandom.uniform, params })
policySuite({ name: "LeastPending", make: LeastPending.make, params })
policySuite({ name: "PeakEwma", make: PeakEwma.make, params })
policySuite({ name: "ShortestExpectedDelay", make: ShortestExpectedDelay.make, params })
policySuite({
  name: "OutlierDetection(ShortestExpectedDelay)",
  make: () => OutlierDetection.make(ShortestExpectedDelay.make()),
  params
})
policySuite({ name: "RingHash", make: RingHash.make, weighted: 0.04, params })
policySuite({ name: "Maglev", make: Maglev.make, weighted: 0.02, params })
policySuite({ name: "Health(RoundRobin)", make: () => Health.make(RoundRobin.make(), { probe, threshold: 2 }), params })
policySuite({ name: "OutlierDetection(PeakEwma)", make: () => OutlierDetection.make(PeakEwma.make()), params })
policySuite({
  name: "OutlierDetection(Health(LeastPending))",
  make: () =>
    OutlierDetection.make(Health.make(LeastPending.make(), { probe, threshold: 1 }), { consecutiveFailures: 2 }),
  params
})
policySuite({ name: "Health(Maglev)", make: () => Health.make(Maglev.make(), { probe, threshold: 1 }), params })
