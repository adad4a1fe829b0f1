/**
 * One measurement as a pure state machine, shared by every driver of the
 * runtime benchmark (an actor on the ring, a plain worker, the main thread),
 * so the three transports are measured by the same rules:
 *
 * - `begin` opens the run: a warm-up (replies not counted) and then the
 *   measured window of `durationMs`;
 * - ping-pong keeps 1 request in flight and samples each round trip;
 *   pipelined keeps `inflight` in flight and counts replies;
 * - a reply that arrives inside the window counts; from the first reply
 *   after the window no new request is sent, and the run is done when every
 *   outstanding reply is back (so the next run starts on a quiet channel).
 *
 * Times are milliseconds on the caller's monotonic clock (`ctx.now()` in an
 * actor, `performance.now()` elsewhere); the machine keeps no clock of its own.
 */
import { assert } from '../errors.js'

export type LoadMode = 'ping-pong' | 'pipelined'

export interface LoadPlan {
  readonly mode: LoadMode
  /** Requests kept outstanding in pipelined mode (ping-pong always keeps 1). */
  readonly inflight: number
  readonly warmupMs: number
  readonly durationMs: number
  /** Round-trip samples kept (a uniform reservoir sample beyond this). */
  readonly sampleCapacity: number
}

export interface LoadResult {
  /** Replies received inside the measured window. */
  readonly completed: number
  /** Length of the measured window. */
  readonly elapsedMs: number
  /** Round trips measured (ping-pong only). */
  readonly roundTrips: number
  /** A uniform sample of at most `sampleCapacity` round-trip times, µs (ping-pong only). */
  readonly roundTripSamplesUs: Float64Array
}

/** Most requests one run keeps in flight: well beyond what any transport here needs to saturate. */
export const MAX_INFLIGHT = 65_536

/**
 * Keeps a uniform random sample of at most `capacity` values from a stream
 * of unknown length (Vitter's algorithm R), so memory stays bounded however
 * long a run lasts.
 */
export class ReservoirSampler {
  private readonly values: Float64Array
  private seen = 0

  constructor(
    capacity: number,
    private readonly random: () => number,
  ) {
    assert(Number.isInteger(capacity) && capacity > 0, `sampler capacity ${capacity} must be a positive integer`)
    this.values = new Float64Array(capacity)
  }

  /** How many values were offered. */
  get count(): number {
    return this.seen
  }

  add(value: number): void {
    if (this.seen < this.values.length) {
      this.values[this.seen] = value
    } else {
      const slot = Math.floor(this.random() * (this.seen + 1))
      if (slot < this.values.length) this.values[slot] = value
    }
    this.seen++
  }

  /** A copy of the kept values (unsorted). */
  samples(): Float64Array {
    return this.values.slice(0, Math.min(this.seen, this.values.length))
  }
}

export class LoadRun {
  private readonly sampler: ReservoirSampler
  private measuredFromMs = 0
  private deadlineMs = 0
  private lastSentMs = 0
  private outstanding = 0
  private completed = 0
  private started = false
  private stopped = false

  constructor(
    private readonly plan: LoadPlan,
    random: () => number,
  ) {
    checkPlan(plan)
    this.sampler = new ReservoirSampler(plan.sampleCapacity, random)
  }

  /** Opens the run at `nowMs`; returns how many requests to send now. */
  begin(nowMs: number): number {
    assert(!this.started, 'a LoadRun begins once')
    this.started = true
    this.measuredFromMs = nowMs + this.plan.warmupMs
    this.deadlineMs = this.measuredFromMs + this.plan.durationMs
    this.lastSentMs = nowMs
    this.outstanding = this.plan.mode === 'ping-pong' ? 1 : this.plan.inflight
    return this.outstanding
  }

  /** A reply arrived at `nowMs`; returns how many requests to send now (0 or 1). */
  reply(nowMs: number): number {
    assert(this.started && this.outstanding > 0, 'a reply with no request outstanding')
    this.outstanding--
    if (nowMs >= this.measuredFromMs && nowMs < this.deadlineMs) {
      this.completed++
      if (this.plan.mode === 'ping-pong') this.sampler.add((nowMs - this.lastSentMs) * 1000)
    }
    if (nowMs >= this.deadlineMs) this.stopped = true
    if (this.stopped) return 0
    this.outstanding++
    this.lastSentMs = nowMs
    return 1
  }

  /** True once the window has closed and every reply is back. */
  get done(): boolean {
    return this.stopped && this.outstanding === 0
  }

  result(): LoadResult {
    assert(this.done, 'a LoadRun has a result only when done')
    return {
      completed: this.completed,
      elapsedMs: this.plan.durationMs,
      roundTrips: this.sampler.count,
      roundTripSamplesUs: this.sampler.samples(),
    }
  }
}

function checkPlan(plan: LoadPlan): void {
  assert(plan.mode === 'ping-pong' || plan.mode === 'pipelined', `unknown load mode ${String(plan.mode)}`)
  assert(Number.isInteger(plan.inflight) && plan.inflight >= 1 && plan.inflight <= MAX_INFLIGHT, `inflight ${plan.inflight} out of 1..${MAX_INFLIGHT}`)
  assert(plan.warmupMs >= 0 && plan.durationMs > 0, `bad load window: warm-up ${plan.warmupMs} ms, duration ${plan.durationMs} ms`)
}
