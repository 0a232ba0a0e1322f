import process from "node:process"
import { clockSuite } from "../../../tests/conformance/ClockSuite.ts"
import * as NodeClock from "../src/NodeClock.ts"
import * as NodeServices from "../src/NodeServices.ts"

clockSuite({
  name: "NodeClock",
  make: NodeClock.make,
  layers: [["NodeClock.layer", NodeClock.layer], ["NodeServices.layer", NodeServices.layer]],
  timer: ["process.hrtime.bigint()", () => process.hrtime.bigint()]
})
