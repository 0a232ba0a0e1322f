/**
 * The simulator's engine: one run of a policy through a scenario, as a discrete-event loop over
 * the balancer's own slot table and lease (`internal/table.ts`). `Simulator.run` is this.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import type * as Budget from "../../Budget.ts"
import * as Endpoint from "../../Endpoint.ts"
import * as budget from "../../internal/budget.ts"
import * as hedging from "../../internal/hedge.ts"
import * as option from "../../internal/option.ts"
import * as retry from "../../internal/retry.ts"
import * as simulation from "../../internal/simulation.ts"
import * as slotTable from "../../internal/table.ts"
import type * as Policy from "../../Policy.ts"
import * as Retry from "../../Retry.ts"
import {
  BackendFailure,
  type Client,
  type Distribution,
  type Hedging,
  InvalidScenario,
  mean,
  type Report,
  type Scenario,
  type SimulationContext,
  type Truth
} from "./model.ts"

// -----------------------------------------------------------------------------
// running
// -----------------------------------------------------------------------------

/**
 * Runs one policy through a scenario. Pure and synchronous: the same arguments give the same
 * report, on every runtime.
 *
 * **Details**
 *
 * - `duration` replaces the scenario's measured window; `requests` ends the window once that many
 *   requests have ended in it (and lifts the scenario's duration unless `duration` is given).
 * - `client` sets the client's retries, per-try timeout and hedging (see {@link Client}); without
 *   it each request is one try, and fails if that try fails.
 * - The seed is any integer (both 32-bit halves are used).
 *
 * **Gotchas**
 *
 * Throws {@link InvalidScenario} for a scenario it cannot run (or a timeout given twice); the
 * `Options.OptionError` of the constructor (module `"retry"`, `"hedge"`, `"budget"`) for a
 * client option it refuses, and one of module `"simulator"` for a bad `seed`, `requests` or
 * `duration`; and an `Error`
 * if the picker returns a slot that is not in `context.slots`, or nothing while its `excluded()`
 * reports none excluded. (When it does report exclusions, the request fails at once, as
 * `AllEndpointsExcluded` fails `Balancer.use`; with clients that have no think time and a picker
 * that keeps every slot excluded, the run then never advances.)
 *
 * @category running
 * @since 0.1.0
 */
export const run = (options: {
  readonly scenario: Scenario
  readonly policy: Policy.Policy
  readonly seed: number
  readonly requests?: number | undefined
  readonly duration?: Duration.Input | undefined
  readonly client?: Client | undefined
}): Report => {
  const { policy, scenario, seed } = options
  validate(scenario)
  const runOption = (read: number | option.Invalid): number => {
    if (option.isInvalid(read)) throw option.error("simulator", read)
    return read
  }
  runOption(option.number("seed", seed, 0, { min: -(2 ** 53), max: 2 ** 53, integer: true }))
  runOption(option.number("requests", options.requests, 0, { min: 1, max: 1e9, integer: true }))
  runOption(option.millis("duration", options.duration, 1, { min: 0, minInclusive: false }))
  const resilience = resolveClient(scenario.name, options.client)
  const { deadlineMillis, hedge, rule, schedule, timeoutMillis } = resilience
  // the hedger's delays (a fixed one, or a percentile of the latencies its calls record)
  const hedgeDelays = hedge === undefined ? undefined : hedging.delays(hedge)
  const maxHedges = hedge?.maxHedges ?? 0
  const maxLive = 1 + maxHedges
  const n = scenario.backends.length
  const clients = scenario.clients
  const warmup = Duration.toMillis(scenario.warmup)
  const window = options.duration !== undefined
    ? Duration.toMillis(options.duration)
    : options.requests !== undefined
    ? Infinity
    : Duration.toMillis(scenario.duration)
  const limit = options.requests ?? Infinity
  let end = warmup + window

  // backends
  const concurrency = Int32Array.from(scenario.backends, (b) => b.concurrency)
  const baseMean = Float64Array.from(scenario.backends, (b) => mean(b.latency))
  const service = scenario.backends.map((b, i) => sampler(b.latency, simulation.rng(seed, streamBackend + i)))
  const failureRate = Float64Array.from(scenario.backends, (b) => b.failureRate ?? 0)
  const blackHole = scenario.backends.map((b) => b.blackHole === true)
  const failureDraw = scenario.backends.map((_, i) => simulation.rng(seed, streamFailure + i))
  const factor = new Float64Array(n).fill(1)
  const busy = new Int32Array(n)
  const queues = scenario.backends.map(() => simulation.fifo(clients))
  const busyArea = new Float64Array(n)
  const touched = new Float64Array(n)
  const served = new Float64Array(n)
  const latencySum = new Float64Array(n)
  const abandonedAt = new Float64Array(n)

  // clients, and the request each has open: its tries, the backends it tried, its live tries
  const thinkDistribution = scenario.think
  const think = thinkDistribution === undefined
    ? undefined
    : Array.from({ length: clients }, (_, j) => sampler(thinkDistribution, simulation.rng(seed, streamClient + j)))
  const requestStart = new Float64Array(clients)
  const requestOpen = new Uint8Array(clients)
  const attempts = new Int32Array(clients)
  const requestTries = new Int32Array(clients)
  const requestRetries = new Int32Array(clients)
  const requestHedges = new Int32Array(clients)
  const requestTimeouts = new Int32Array(clients)
  // `Hedge.use`'s state of each request: whether it may still hedge, its delay, when its timer fires
  const hedgeOpen = new Uint8Array(clients)
  const hedgeDelay = new Float64Array(clients)
  const hedgeAt = new Float64Array(clients)
  const live = new Int32Array(clients)
  const liveTry = new Int32Array(clients * maxLive).fill(-1)
  // backend i was tried in client c's current round of picks when tried[c * n + i] === round[c]
  const tried = new Int32Array(clients * n)
  const round = new Int32Array(clients)
  const triedCount = new Int32Array(clients)
  let rounds = 0
  const retryRng = simulation.rng(seed, streamRetry)
  // the retry schedule's step of each client's open request (made at its first retry), drawing
  // `Schedule.jittered`'s numbers from the run's seeded stream
  const steps: Array<Step | undefined> = Array.from({ length: clients }, () => undefined)
  const scheduleRandom: Random.Random = { nextDoubleUnsafe: retryRng.next, nextIntUnsafe: retryRng.nextU32 }
  const lastError: Array<unknown> = Array.from({ length: clients }, () => undefined)
  const retryBudget = resilience.budget === undefined ? undefined : budget.make(resilience.budget)

  // tries: a request's first try, retries and hedges; an abandoned try lives on at its backend
  let tryBackend = new Int32Array(1024)
  let tryClient = new Int32Array(1024)
  let trySent = new Float64Array(1024)
  let tryState = new Uint8Array(1024)
  let tries = 0
  const newTry = (c: number, i: number, at: number): number => {
    if (tries === tryBackend.length) {
      if (tries >= maxTries) {
        throw new Error(`simulator run of ${JSON.stringify(scenario.name)}: over ${maxTries} tries`)
      }
      const grow = <A extends Int32Array | Float64Array | Uint8Array>(from: A, to: A): A => {
        to.set(from)
        return to
      }
      tryBackend = grow(tryBackend, new Int32Array(tries * 2))
      tryClient = grow(tryClient, new Int32Array(tries * 2))
      trySent = grow(trySent, new Float64Array(tries * 2))
      tryState = grow(tryState, new Uint8Array(tries * 2))
    }
    const t = tries++
    tryBackend[t] = i
    tryClient[t] = c
    trySent[t] = at
    tryState[t] = tryLive
    return t
  }

  // the balancer side
  let now = 0
  const policyRng = simulation.rng(seed, streamPolicy)
  const hashRng = simulation.rng(seed, streamHash)
  const truth: Truth = {
    expectedDelay: (i) => {
      const m = baseMean[i]! * factor[i]!
      const c = concurrency[i]!
      return busy[i]! < c ? m : m * (1 + (queues[i]!.size() + 1) / c)
    },
    occupancy: (i) => busy[i]! / concurrency[i]!,
    healthy: (i) => failureRate[i] === 0 && !blackHole[i]
  }
  // the balancer's own slot table and lease (internal/table.ts), under the virtual clock
  const host: Omit<SimulationContext, "slots"> = { random: policyRng.next, now: () => now, truth }
  const table = slotTable.make(policy, host)
  const slots = table.slots
  const picker = table.picker
  scenario.backends.forEach((b, i) => {
    table.add(Endpoint.makeUnsafe({ address: `10.0.0.${i + 1}:8080`, weight: b.weight ?? 1 }), now)
  })
  table.rebalanced()
  const errors = slots.map((slot) => new BackendFailure({ address: slot.endpoint.address }))

  // drift
  const drift = scenario.drift
  const driftEvery = drift === undefined ? 0 : Duration.toMillis(drift.every)
  const driftNormal = simulation.normals(simulation.rng(seed, streamDrift))
  const driftState = new Float64Array(n)
  let driftKeep = 0
  let driftNoise = 0
  let driftShift = 0
  // a backend's factor: its drift's, times its swing's, times its current phase's
  const driftFactor = new Float64Array(n).fill(1)
  const swingFactor = new Float64Array(n).fill(1)
  const phaseFactor = new Float64Array(n).fill(1)
  const refactor = (i: number): void => {
    factor[i] = driftFactor[i]! * swingFactor[i]! * phaseFactor[i]!
  }
  if (drift !== undefined) {
    driftKeep = simulation.exp(-driftEvery / Duration.toMillis(drift.timescale))
    driftNoise = drift.spread * Math.sqrt(1 - driftKeep * driftKeep)
    driftShift = drift.spread * drift.spread / 2
    for (let i = 0; i < n; i++) {
      driftState[i] = drift.spread * driftNormal()
      driftFactor[i] = simulation.exp(driftState[i]! - driftShift)
      refactor(i)
    }
  }
  const swing = scenario.swing
  const swingEvery = swing === undefined ? 0 : Duration.toMillis(swing.every)
  const swingPeriod = new Float64Array(n)
  const swingPhase = new Float64Array(n)
  const swingTo = (t: number): void => {
    for (let i = 0; i < n; i++) {
      const turns = t / swingPeriod[i]! + swingPhase[i]!
      swingFactor[i] = simulation.exp(swing!.amplitude * simulation.sin(2 * Math.PI * (turns - Math.floor(turns))))
      refactor(i)
    }
  }
  if (swing !== undefined) {
    const draw = simulation.rng(seed, streamSwing)
    const min = Duration.toMillis(swing.period.min)
    const max = Duration.toMillis(swing.period.max)
    for (let i = 0; i < n; i++) {
      swingPeriod[i] = min + (max - min) * draw.next()
      swingPhase[i] = draw.next()
    }
    swingTo(0)
  }
  const phases = scenario.backends.map((b) =>
    (b.phases ?? []).map((p) => ({
      from: Duration.toMillis(p.from),
      until: Duration.toMillis(p.until),
      factor: p.factor
    }))
  )
  const phaseTo = (i: number, t: number): void => {
    phaseFactor[i] = phases[i]!.find((p) => p.from <= t && t < p.until)?.factor ?? 1
    refactor(i)
  }

  // the run
  const events = simulation.eventQueue()
  const latencies: Array<number> = []
  let sent = 0
  let completed = 0
  let stopped = false
  let failed = 0
  let windowTries = 0
  let windowRetries = 0
  let windowHedges = 0
  let windowTimeouts = 0
  let budgetExhausted = 0
  let deadlines = 0
  let unanswered = 0

  const touch = (i: number): void => {
    const from = touched[i]! > warmup ? touched[i]! : warmup
    const to = now < end ? now : end
    if (to > from) busyArea[i] = busyArea[i]! + busy[i]! * (to - from)
    touched[i] = now
  }
  const start = (i: number, t: number): void => {
    touch(i)
    busy[i] = busy[i]! + 1
    if (!blackHole[i]) events.push(now + factor[i]! * service[i]!(), t * 16 + eventDone)
  }

  // picking: the first try as `Balancer.use`, the others as `Balancer.picks` (distinct backends)
  const checked = (slot: Policy.Slot | undefined): Policy.Slot | undefined => {
    if (slot === undefined ? (picker.excluded?.() ?? 0) > 0 : slots[slot.index] === slot) return slot
    throw new Error(
      `policy ${JSON.stringify(policy.name)} picked ${
        slot === undefined ? "nothing" : "a slot not in context.slots"
      } from ${n} endpoints`
    )
  }
  const pickFirst = (hash: number): Policy.Slot | undefined => {
    const slot = checked(picker.pick(hash))
    if (slot !== undefined) slot.picks++
    return slot
  }
  const untried = (c: number, slot: Policy.Slot): boolean => tried[c * n + slot.index] !== round[c]
  const newRound = (c: number): void => {
    round[c] = ++rounds
    triedCount[c] = 0
  }
  const roundOf: ReadonlyArray<slotTable.Round> = Array.from({ length: clients }, (_, c) => ({
    has: (slot) => !untried(c, slot),
    add: (slot) => {
      tried[c * n + slot.index] = round[c]!
      triedCount[c] = triedCount[c]! + 1
    },
    size: () => triedCount[c]!
  }))
  // the next endpoint of `Balancer.picks()` (the table's own); once the round has had every
  // eligible one, a retry starts a new round (a fresh `picks()`, as `Retry.use` does) and a hedge
  // is not sent (as `Hedge.use`)
  const pickOther = (c: number, retry: boolean): Policy.Slot | undefined => {
    const next = table.nextDistinct(roundOf[c]!)
    if (next !== undefined || !retry) return next
    newRound(c)
    return pickFirst(-1)
  }

  // a try: pending + 1, its timers, then the backend's servers or queue
  const dispatch = (c: number, slot: Policy.Slot): void => {
    table.acquire(slot)
    const i = slot.index
    const t = newTry(c, i, now)
    if (untried(c, slot)) roundOf[c]!.add(slot)
    requestTries[c] = requestTries[c]! + 1
    live[c] = live[c]! + 1
    let k = c * maxLive
    while (liveTry[k] !== -1) k++
    liveTry[k] = t
    if (timeoutMillis < Infinity) events.push(now + timeoutMillis, t * 16 + eventTimeout)
    if (busy[i]! < concurrency[i]!) start(i, t)
    else queues[i]!.push(t)
    // `Hedge.use`: the next backup goes a delay after this try unless an answer comes first (one
    // at the same instant too: the timer is queued after it)
    if (hedgeOpen[c] === 1 && hedgeDelay[c]! < Infinity) {
      const at = now + hedgeDelay[c]!
      hedgeAt[c] = at
      events.push(at, c * 16 + eventHedge)
    }
  }
  const attempt = (c: number, hash: number): void => {
    attempts[c] = attempts[c]! + 1
    const slot = attempts[c] === 1 ? pickFirst(hash) : pickOther(c, true)
    // every endpoint excluded: the pick fails, and so does the request (`Retry.use` does not retry it)
    if (slot === undefined) finish(c, false, -1, -1)
    else dispatch(c, slot)
  }
  // `Hedge.use`'s hedge: one backup, if one may go: a hedge left, a budget token, an untried backend
  const hedgeNow = (c: number): void => {
    if (hedgeOpen[c] === 0) return
    const slot = retryBudget !== undefined && budget.balance(retryBudget, now) < 1 ? undefined : pickOther(c, false)
    if (slot === undefined || (retryBudget !== undefined && !budget.tryWithdraw(retryBudget, now))) {
      hedgeOpen[c] = 0
      return
    }
    requestHedges[c] = requestHedges[c]! + 1
    if (requestHedges[c]! >= maxHedges) hedgeOpen[c] = 0
    dispatch(c, slot)
  }
  const unlive = (c: number, t: number): void => {
    live[c] = live[c]! - 1
    let k = c * maxLive
    while (liveTry[k] !== t) k++
    liveTry[k] = -1
  }
  // the client stops waiting without an outcome (an interruption): pending − 1, nothing observed
  const abandonAll = (c: number): void => {
    for (let k = c * maxLive; k < (c + 1) * maxLive; k++) {
      const t = liveTry[k]!
      if (t === -1) continue
      tryState[t] = tryAbandoned
      const i = tryBackend[t]!
      table.release(slots[i]!, undefined)
      abandonedAt[i] = abandonedAt[i]! + 1
      liveTry[k] = -1
      live[c] = live[c]! - 1
    }
  }
  // a try's outcome reaches the client: what `Balancer.use`'s release does, then the request's turn
  const outcome = (t: number, success: boolean, error: unknown): void => {
    const i = tryBackend[t]!
    const c = tryClient[t]!
    const slot = slots[i]!
    const latency = Math.max(now - trySent[t]!, 0)
    table.release(slot, success ? { success, latency, now } : { success, error, latency, now })
    unlive(c, t)
    if (success) {
      if (hedgeDelays !== undefined) {
        // `Hedge.use` records the winner's latency, and the time so far of tries started before it
        hedging.record(hedgeDelays.samples, latency)
        for (let k = c * maxLive; k < (c + 1) * maxLive; k++) {
          const other = liveTry[k]!
          if (other !== -1 && trySent[other]! < trySent[t]!) hedging.record(hedgeDelays.samples, now - trySent[other]!)
        }
      }
      abandonAll(c)
      finish(c, true, i, latency)
      return
    }
    lastError[c] = error
    if (hedge?.nonFatal !== undefined && !hedge.nonFatal(error)) {
      // a fatal error ends the hedged call at once, its other tries interrupted
      abandonAll(c)
      return settle(c)
    }
    // `Hedge.use`: a non-fatal failure sends the next backup at once
    hedgeNow(c)
    if (live[c] === 0) settle(c)
  }
  // every try of the request failed: `Retry.use`'s decisions (internal/retry.ts), in its order:
  // may it retry, the schedule's next delay (or its end), the deadline, then a budget token
  const settle = (c: number): void => {
    const error = lastError[c]
    if (
      schedule === undefined || !retry.mayRetry(rule, attempts[c]!, error, true, error instanceof Retry.AttemptTimedOut)
    ) {
      return finish(c, false, -1, -1)
    }
    const step = steps[c] ??= Effect.runSync(Schedule.toStep(schedule))
    const stepped = Effect.runSyncExit(Effect.provideService(step(now, error), Random.Random, scheduleRandom))
    if (Exit.isFailure(stepped)) return finish(c, false, -1, -1) // the schedule ended
    const delay = Math.max(Duration.toMillis(stepped.value[1]), 0)
    if (retry.pastDeadline(now, delay, requestStart[c]!, deadlineMillis)) return finish(c, false, -1, -1, "deadline")
    if (retryBudget !== undefined && !budget.tryWithdraw(retryBudget, now)) return finish(c, false, -1, -1, "budget")
    events.push(now + delay, c * 16 + eventRetry)
  }
  const account = (c: number): void => {
    windowTries += requestTries[c]!
    windowRetries += requestRetries[c]!
    windowHedges += requestHedges[c]!
    windowTimeouts += requestTimeouts[c]!
  }
  const finish = (
    c: number,
    success: boolean,
    i: number,
    tryLatency: number,
    cause?: "budget" | "deadline"
  ): void => {
    requestOpen[c] = 0
    steps[c] = undefined
    completed++
    if (!stopped && now >= warmup && now < end) {
      account(c)
      if (success) {
        latencies.push(Math.max(now - requestStart[c]!, 0))
        served[i] = served[i]! + 1
        latencySum[i] = latencySum[i]! + tryLatency
      } else {
        failed++
        if (cause === "budget") budgetExhausted++
        if (cause === "deadline") deadlines++
      }
      if (latencies.length + failed >= limit) {
        end = now
        for (let b = 0; b < n; b++) touch(b)
      }
    }
    if (now >= end) stopped = true
    if (stopped) return
    if (think !== undefined) events.push(now + think[c]!(), c * 16 + eventSend)
    else if (success) send(c)
    else events.push(now, c * 16 + eventSend) // not at once: a failure can take no time at all
  }
  const send = (c: number): void => {
    const hash = policy.hashed === true ? hashRng.nextU32() : -1
    sent++
    requestOpen[c] = 1
    requestStart[c] = now
    attempts[c] = 0
    requestTries[c] = 0
    requestRetries[c] = 0
    requestHedges[c] = 0
    requestTimeouts[c] = 0
    hedgeOpen[c] = maxHedges > 0 ? 1 : 0
    hedgeDelay[c] = hedgeDelays?.next() ?? Infinity
    hedgeAt[c] = Infinity
    newRound(c)
    if (retryBudget !== undefined) budget.deposit(retryBudget, now)
    if (deadlineMillis < Infinity) events.push(now + deadlineMillis, c * 16 + eventDeadline)
    attempt(c, hash)
  }

  for (let j = 0; j < clients; j++) {
    events.push(think === undefined ? 0 : think[j]!(), j * 16 + eventSend)
  }
  if (drift !== undefined) events.push(driftEvery, eventDrift)
  if (swing !== undefined) events.push(swingEvery, eventSwing)
  phases.forEach((spells, i) => {
    phaseTo(i, 0)
    for (const p of spells) {
      events.push(p.from, i * 16 + eventPhase)
      events.push(p.until, i * 16 + eventPhase)
    }
  })
  while (events.size() > 0) {
    const tag = events.pop()
    now = events.time()
    if (!stopped && now >= end) stopped = true
    const id = tag >> 4
    switch (tag & 15) {
      case eventDone: {
        const i = tryBackend[id]!
        touch(i)
        busy[i] = busy[i]! - 1
        const queue = queues[i]!
        if (queue.size() > 0) start(i, queue.shift())
        const rate = failureRate[i]!
        const fails = rate > 0 && (rate >= 1 || failureDraw[i]!.next() < rate)
        if (tryState[id] === tryLive) {
          tryState[id] = tryAnswered
          outcome(id, !fails, errors[i])
        }
        break
      }
      case eventSend: {
        if (!stopped) send(id)
        break
      }
      case eventTimeout: {
        if (tryState[id] === tryLive) {
          // the client stops waiting; the backend works on, and its answer goes nowhere
          tryState[id] = tryTimedOut
          const c = tryClient[id]!
          requestTimeouts[c] = requestTimeouts[c]! + 1
          const error = new Retry.AttemptTimedOut({
            endpoint: slots[tryBackend[id]!]!.endpoint.address,
            timeoutMillis,
            attempt: attempts[c]!
          })
          outcome(id, false, error)
        }
        break
      }
      case eventHedge: {
        // the request's current timer, not one a later try or request has replaced
        if (requestOpen[id] === 1 && hedgeAt[id] === now && live[id]! > 0) hedgeNow(id)
        break
      }
      case eventDeadline: {
        // `Retry.use`'s deadline passed during a try: the tries are interrupted, nothing observed
        if (requestOpen[id] === 1 && requestStart[id]! + deadlineMillis === now && live[id]! > 0) {
          abandonAll(id)
          finish(id, false, -1, -1, "deadline")
        }
        break
      }
      case eventRetry: {
        requestRetries[id] = requestRetries[id]! + 1
        attempt(id, -1)
        break
      }
      case eventDrift: {
        if (!stopped) {
          for (let i = 0; i < n; i++) {
            driftState[i] = driftState[i]! * driftKeep + driftNoise * driftNormal()
            driftFactor[i] = simulation.exp(driftState[i]! - driftShift)
            refactor(i)
          }
          events.push(now + driftEvery, eventDrift)
        }
        break
      }
      case eventSwing: {
        if (!stopped) {
          swingTo(now)
          events.push(now + swingEvery, eventSwing)
        }
        break
      }
      default: {
        phaseTo(id, now)
      }
    }
  }
  // requests still waiting (on a black hole, without a timeout) are given up: failed, unanswered
  for (let c = 0; c < clients; c++) {
    if (requestOpen[c] === 0) continue
    abandonAll(c)
    requestOpen[c] = 0
    completed++
    account(c)
    failed++
    unanswered++
  }
  for (let i = 0; i < n; i++) touch(i)

  // the report
  const measured = end - warmup
  const sorted = Float64Array.from(latencies).sort()
  const total = sorted.length
  let sum = 0
  for (let k = 0; k < total; k++) sum += sorted[k]!
  let area = 0
  let servers = 0
  for (let i = 0; i < n; i++) {
    area += busyArea[i]!
    servers += concurrency[i]!
  }
  const ended = total + failed
  return {
    scenario: scenario.name,
    policy: policy.name,
    seed,
    warmup,
    window: measured,
    requests: total,
    failed,
    successRate: ended > 0 ? total / ended : NaN,
    sent,
    completed,
    throughput: measured > 0 ? total / (measured / 1000) : 0,
    utilization: measured > 0 ? area / (servers * measured) : 0,
    latency: {
      mean: total > 0 ? sum / total : NaN,
      p50: simulation.quantile(sorted, 0.5),
      p90: simulation.quantile(sorted, 0.9),
      p99: simulation.quantile(sorted, 0.99),
      p999: simulation.quantile(sorted, 0.999),
      max: total > 0 ? sorted[total - 1]! : NaN
    },
    tries: {
      sent: windowTries,
      retries: windowRetries,
      hedges: windowHedges,
      amplification: ended > 0 ? windowTries / ended : NaN,
      timeouts: windowTimeouts,
      budgetExhausted,
      deadlines,
      unanswered
    },
    backends: slots.map((slot, i) => ({
      address: slot.endpoint.address,
      weight: slot.endpoint.weight,
      concurrency: concurrency[i]!,
      failureRate: failureRate[i]!,
      blackHole: blackHole[i]!,
      requests: served[i]!,
      share: total > 0 ? served[i]! / total : 0,
      meanLatency: served[i]! > 0 ? latencySum[i]! / served[i]! : NaN,
      utilization: measured > 0 ? busyArea[i]! / (concurrency[i]! * measured) : 0,
      picks: slot.picks,
      successes: slot.successes,
      failures: slot.failures,
      abandoned: abandonedAt[i]!,
      pending: slot.pending
    }))
  }
}

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

// an event's tag is `id * 16 + kind`: a client for send, retry and deadline; a try for done, timeout
// and hedge; a backend for phase
const eventSend = 0
const eventDone = 1
const eventDrift = 2
const eventTimeout = 3
const eventHedge = 4
const eventRetry = 5
const eventSwing = 6
const eventPhase = 7
const eventDeadline = 8

// tags are 32-bit integers
const maxTries = 1 << 27

// what became of a try, as far as its client is concerned
const tryLive = 0
const tryAnswered = 1
const tryTimedOut = 2
const tryAbandoned = 3

const streamPolicy = 0
const streamHash = 1
const streamDrift = 2
const streamRetry = 3
const streamSwing = 4
const streamClient = 1 << 16
const streamBackend = 1 << 24
const streamFailure = 1 << 25

/** A retry schedule's step function, as `Schedule.toStep` makes it. */
type Step = (now: number, input: unknown) => Effect.Effect<readonly [unknown, Duration.Duration], unknown>

/** {@link Client} resolved: the retry policy's rule and schedule, and durations in milliseconds. */
interface Resolved {
  readonly rule: retry.Rule<unknown>
  /** The retry schedule; `undefined` when requests are never retried. */
  readonly schedule: Schedule.Schedule<unknown, unknown> | undefined
  readonly deadlineMillis: number
  readonly budget: budget.Options | undefined
  readonly timeoutMillis: number
  /** `Hedge.make`'s options, decoded; `undefined` when not hedging. */
  readonly hedge: hedging.Settings<unknown> | undefined
}

/** Whether `u` is a policy `Retry.make` made (rather than its options). */
const isRetryPolicy = (u: unknown): u is Retry.Retry<unknown> =>
  typeof u === "object" && u !== null && "error" in u && "schedule" in u && Schedule.isSchedule(u.schedule) &&
  "notSent" in u && typeof u.notSent === "function" && "idempotent" in u && typeof u.idempotent === "boolean"

/** Whether `u` is `Hedge.make`'s options (rather than a delay). */
const isHedgeOptions = (u: unknown): u is Hedging =>
  typeof u === "object" && u !== null && !Duration.isDuration(u) && !Array.isArray(u) && "delay" in u

/** Whether `u` is a budget `Budget.make` made (rather than its options). */
const isBudget = (u: unknown): u is Budget.Budget =>
  typeof u === "object" && u !== null && "ttl" in u && Duration.isDuration(u.ttl) && "tryWithdraw" in u

/**
 * The client's options, decoded by the constructors themselves (`Retry.make`, `Budget.make`'s
 * decoder, `Hedge.make`'s `delay` rule), so a value they refuse is refused here with the same
 * `OptionError`.
 */
const resolveClient = (scenario: string, client: Client | undefined): Resolved => {
  const given = client?.retry
  if (isRetryPolicy(given) && given.perTryTimeout !== undefined && client?.timeout !== undefined) {
    throw new InvalidScenario({
      scenario,
      problem: "client timeout is given twice: as timeout and as the Retry policy's perTryTimeout"
    })
  }
  // options are made into a policy as `Retry.make` makes it, retrying every failure by default
  const policy = isRetryPolicy(given) ? given : Retry.make({
    idempotent: true,
    retryOn: () => true,
    ...(given ?? { maxAttempts: 1 }),
    ...(client?.timeout !== undefined ? { perTryTimeout: client.timeout } : {})
  })
  if (policy.error !== undefined) throw policy.error
  const timeout = isRetryPolicy(given) && client?.timeout !== undefined
    ? Retry.make({ perTryTimeout: client.timeout })
    : policy
  if (timeout.error !== undefined) throw timeout.error
  const hedgeGiven = client?.hedge
  const hedgeOptions = isHedgeOptions(hedgeGiven) ? hedgeGiven : { delay: hedgeGiven }
  const hedge = hedgeGiven === undefined ? undefined : hedging.decode(hedgeOptions)
  if (option.isInvalid(hedge)) throw option.error("hedge", hedge)
  let retryBudget: budget.Options | undefined
  const budgetGiven = client?.budget ?? policy.budget ?? (isHedgeOptions(hedgeGiven) ? hedgeGiven.budget : undefined)
  if (isBudget(budgetGiven)) {
    retryBudget = {
      ttlMillis: Duration.toMillis(budgetGiven.ttl),
      minPerSecond: budgetGiven.minRetriesPerSec,
      percent: budgetGiven.percentCanRetry
    }
  } else if ((given !== undefined || client?.hedge !== undefined) && budgetGiven !== false) {
    const decoded = budget.decode(budgetGiven)
    if (option.isInvalid(decoded)) throw option.error("budget", decoded)
    retryBudget = decoded
  }
  return {
    rule: policy,
    schedule: given === undefined ? undefined : policy.schedule as Schedule.Schedule<unknown, unknown>,
    deadlineMillis: policy.deadline === undefined ? Infinity : Duration.toMillis(policy.deadline),
    budget: retryBudget,
    timeoutMillis: timeout.perTryTimeout === undefined ? Infinity : Duration.toMillis(timeout.perTryTimeout),
    hedge
  }
}

/** Draws from `distribution` with the stream `random`. */
const sampler = (distribution: Distribution, random: simulation.Rng): () => number => {
  switch (distribution._tag) {
    case "Constant": {
      const millis = distribution.millis
      return () => millis
    }
    case "Exponential": {
      const m = distribution.mean
      return () => simulation.exponential(random, m)
    }
    case "LogNormal": {
      const { median, sigma } = distribution
      const normal = simulation.normals(random)
      return () => median * simulation.exp(sigma * normal())
    }
    case "Mixture": {
      const parts = distribution.components.map((c) => sampler(c.distribution, random))
      const cumulative: Array<number> = []
      let total = 0
      for (const c of distribution.components) cumulative.push(total += c.weight)
      return () => {
        const u = random.next() * total
        let k = 0
        while (k < parts.length - 1 && u >= cumulative[k]!) k++
        return parts[k]!()
      }
    }
  }
}

const validate = (scenario: Scenario): void => {
  const fail = (problem: string): never => {
    throw new InvalidScenario({ scenario: scenario.name, problem })
  }
  if (scenario.backends.length === 0) fail("it has no backends")
  if (scenario.backends.length > 254) fail(`${scenario.backends.length} backends (at most 254: 10.0.0.1-254)`)
  if (!Number.isInteger(scenario.clients) || scenario.clients < 1) fail(`clients is ${scenario.clients}`)
  scenario.backends.forEach((b, i) => {
    if (!Number.isInteger(b.concurrency) || b.concurrency < 1) fail(`backend ${i} has concurrency ${b.concurrency}`)
    const rate = b.failureRate ?? 0
    if (!(rate >= 0 && rate <= 1)) fail(`backend ${i} has failure rate ${rate}`)
    checkDistribution(b.latency, `backend ${i} latency`, fail)
  })
  if (scenario.think !== undefined) checkDistribution(scenario.think, "think time", fail)
  const warmup = Duration.toMillis(scenario.warmup)
  if (!(warmup >= 0) || !Number.isFinite(warmup)) fail(`warm-up is ${warmup} ms`)
  scenario.backends.forEach((b, i) => {
    const spells = (b.phases ?? []).map((p) => ({
      from: Duration.toMillis(p.from),
      until: Duration.toMillis(p.until),
      factor: p.factor
    })).sort((x, y) => x.from - y.from)
    spells.forEach((p, k) => {
      if (!(p.from >= 0 && Number.isFinite(p.from))) fail(`backend ${i} phase ${k} starts at ${p.from} ms`)
      if (!(p.until > p.from && Number.isFinite(p.until))) {
        fail(`backend ${i} phase ${k} ends at ${p.until} ms, not after its start (${p.from} ms)`)
      }
      if (!(p.factor > 0 && Number.isFinite(p.factor))) fail(`backend ${i} phase ${k} has factor ${p.factor}`)
      if (k > 0 && p.from < spells[k - 1]!.until) fail(`backend ${i} has overlapping phases`)
    })
  })
  if (scenario.swing !== undefined) {
    const { amplitude, every, period } = scenario.swing
    const step = Duration.toMillis(every)
    const min = Duration.toMillis(period.min)
    const max = Duration.toMillis(period.max)
    if (!(step > 0) || !Number.isFinite(step)) fail(`swing step is ${step} ms`)
    if (!(min > 0 && max >= min && Number.isFinite(max))) fail(`swing period is ${min} to ${max} ms`)
    if (!(amplitude >= 0 && amplitude <= 20)) fail(`swing amplitude is ${amplitude} (expected 0 to 20)`)
  }
  if (scenario.drift !== undefined) {
    const every = Duration.toMillis(scenario.drift.every)
    const timescale = Duration.toMillis(scenario.drift.timescale)
    if (!(every > 0) || !Number.isFinite(every)) fail(`drift step is ${every} ms`)
    if (!(timescale > 0)) fail(`drift time scale is ${timescale} ms`)
    if (!(scenario.drift.spread >= 0)) fail(`drift spread is ${scenario.drift.spread}`)
  }
}

const checkDistribution = (d: Distribution, what: string, fail: (problem: string) => never): void => {
  const positive = (x: number) => x >= 0 && Number.isFinite(x)
  switch (d._tag) {
    case "Constant":
      if (!positive(d.millis)) fail(`${what}: constant ${d.millis} ms`)
      return
    case "Exponential":
      if (!positive(d.mean)) fail(`${what}: exponential mean ${d.mean} ms`)
      return
    case "LogNormal":
      if (!positive(d.median) || !positive(d.sigma)) fail(`${what}: log-normal median ${d.median}, σ ${d.sigma}`)
      return
    case "Mixture":
      if (d.components.length === 0) fail(`${what}: a mixture of nothing`)
      for (const c of d.components) {
        if (!positive(c.weight)) fail(`${what}: mixture weight ${c.weight}`)
        checkDistribution(c.distribution, what, fail)
      }
      if (d.components.every((c) => c.weight === 0)) fail(`${what}: mixture weights are all 0`)
  }
}
