/**
 * A closed-loop driver for promise-based stores: `inflight` loops, each
 * issuing its next op as soon as its previous one completes, for a warm-up
 * and then a measured window. An op completing inside the window counts and
 * its latency is offered to a reservoir sample. Used by the shardkv client
 * threads and by the postMessage baseline, so both are driven alike.
 *
 * Bounded: every loop stops issuing at the window's end, and the run as a
 * whole rejects when it outlasts the window by RUN_GRACE_MS (a lost reply
 * must not hang the benchmark).
 */
import { performance } from 'node:perf_hooks'
import { RUN_GRACE_MS, withTimeout } from './drive.js'
import { ReservoirSampler, MAX_INFLIGHT } from './load.js'
import { assert } from '../errors.js'
import { nextIsRead } from './store-workload.js'

export interface StoreLoadPlan {
  readonly readPercent: number
  readonly keys: number
  readonly inflight: number
  readonly warmupMs: number
  readonly durationMs: number
  readonly sampleCapacity: number
}

export interface StoreLoadResult {
  /** Ops completed inside the measured window. */
  readonly completed: number
  readonly elapsedMs: number
  /** A uniform sample of the latencies of the completed ops, µs. */
  readonly latencySamplesUs: Float64Array
}

export interface StoreOps {
  get(keyIndex: number): Promise<unknown>
  put(keyIndex: number): Promise<unknown>
}

/** Latency samples kept per run: enough for a stable p99. */
export const SAMPLE_CAPACITY = 20_000

export async function driveStore(plan: StoreLoadPlan, ops: StoreOps, label: string): Promise<StoreLoadResult> {
  assert(Number.isInteger(plan.inflight) && plan.inflight >= 1 && plan.inflight <= MAX_INFLIGHT, `inflight ${plan.inflight} out of 1..${MAX_INFLIGHT}`)
  assert(plan.keys >= 1 && plan.durationMs > 0 && plan.warmupMs >= 0, `bad store load plan ${JSON.stringify(plan)}`)
  const sampler = new ReservoirSampler(plan.sampleCapacity, Math.random)
  const measuredFromMs = performance.now() + plan.warmupMs
  const deadlineMs = measuredFromMs + plan.durationMs
  let completed = 0
  const loop = async (): Promise<void> => {
    for (let startMs = performance.now(); startMs < deadlineMs; startMs = performance.now()) {
      const keyIndex = Math.floor(Math.random() * plan.keys)
      await (nextIsRead(plan.readPercent, Math.random) ? ops.get(keyIndex) : ops.put(keyIndex))
      const endMs = performance.now()
      if (endMs >= measuredFromMs && endMs < deadlineMs) {
        completed++
        sampler.add((endMs - startMs) * 1000)
      }
    }
  }
  const loops = Array.from({ length: plan.inflight }, loop)
  await withTimeout(Promise.all(loops), plan.warmupMs + plan.durationMs + RUN_GRACE_MS, label)
  return { completed, elapsedMs: plan.durationMs, latencySamplesUs: sampler.samples() }
}
