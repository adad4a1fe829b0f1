/**
 * The closed-loop driver of the store benchmark, the same for every target
 * that answers with promises (shardkv and Redis in client threads, the
 * postMessage and comlink workers from the main thread): `inflight` loops
 * share one OperationStream, each issuing its next operation as soon as its
 * previous one completes.
 *
 * A run is either a time window (a warm-up whose operations are not
 * counted, then `durationMs` measured) or a fixed number of operations, all
 * measured, as YCSB's operationcount. Every measured operation's latency goes
 * into an HdrHistogram; a read-modify-write counts as one operation, its
 * latency the read's and the write's together (as YCSB reports it).
 *
 * Bounded: a run rejects when it outlasts its plan by RUN_GRACE_MS (a lost
 * reply must not hang the benchmark), an operations run after
 * OPERATIONS_RUN_LIMIT_MS.
 */
import { performance } from 'node:perf_hooks'
import { assert } from '../errors.js'
import { RUN_GRACE_MS, withTimeout } from './drive.js'
import { encodeHistogram, newHistogram, recordMs } from './store-latency.js'
import type { RunRequest, TargetSettings } from './store-targets.js'
import { OperationStream, recordNames, valueOfBytes, type Operation, type WorkloadSpec } from './store-workloads.js'

/** A key-value store as the driver sees it: a client of shardkv, Redis, or a baseline. */
export interface KvStoreClient {
  read(key: string): Promise<unknown>
  /**
   * A read with nothing else in flight (the single-read probe), when the
   * target has a separate one-call path for it: gRPC's unary Get rather
   * than a message on the Pipeline stream.
   */
  readAlone?(key: string): Promise<unknown>
  /** An update or an insert. */
  write(key: string, value: string): Promise<unknown>
  close(): Promise<void>
}

export type RunWindow =
  | {
      readonly kind: 'duration'
      readonly warmupMs: number
      readonly durationMs: number
      /** The warm-up of the first workload after the load phase (see AFTER_LOAD_WARMUP_MS); warmupMs when absent. */
      readonly afterLoadWarmupMs?: number
    }
  | { readonly kind: 'operations'; readonly operations: number }

export interface RunPlan {
  readonly window: RunWindow
  readonly inflight: number
  readonly workload: WorkloadSpec
  readonly records: number
  readonly valueBytes: number
  readonly seed: number
  /** This driver among `threads` (the insert stripe of workload D). */
  readonly thread: number
  readonly threads: number
}

export interface RunResult {
  /** Operations measured: inside the window, or all of an operations run. */
  readonly completed: number
  /** The measured time: the window, or an operations run's wall time. */
  readonly elapsedMs: number
  /** Operations completed in all, warm-up included (the CPU-per-op denominator). */
  readonly completedTotal: number
  /** The measured operations' latencies (store-latency.ts encoding). */
  readonly histogram: string
}

/** Most operations kept outstanding by one driver: the main-thread baselines' 1024 per client thread x 16 threads. */
export const MAX_INFLIGHT = 16_384
/** Longest an operations run may take. */
export const OPERATIONS_RUN_LIMIT_MS = 30 * 60_000
/** Longest a load phase may take. */
export const LOAD_LIMIT_MS = 10 * 60_000

export async function driveRun(plan: RunPlan, store: KvStoreClient): Promise<RunResult> {
  assert(Number.isInteger(plan.inflight) && plan.inflight >= 1 && plan.inflight <= MAX_INFLIGHT, `inflight ${plan.inflight} out of 1..${MAX_INFLIGHT}`)
  const stream = new OperationStream(plan)
  const value = valueOfBytes(plan.valueBytes)
  const target: KvStoreClient = plan.inflight === 1 && store.readAlone !== undefined ? { ...store, read: store.readAlone } : store
  const histogram = newHistogram()
  const window = plan.window
  const startMs = performance.now()
  const measuredFromMs = window.kind === 'duration' ? startMs + window.warmupMs : startMs
  const deadlineMs = window.kind === 'duration' ? measuredFromMs + window.durationMs : Number.POSITIVE_INFINITY
  let unissued = window.kind === 'operations' ? window.operations : Number.POSITIVE_INFINITY
  let completed = 0
  let completedTotal = 0
  let lastEndMs = startMs
  const loop = async (): Promise<void> => {
    for (let opStartMs = performance.now(); opStartMs < deadlineMs && unissued > 0; opStartMs = performance.now()) {
      unissued--
      await execute(target, stream.next(), value)
      const endMs = performance.now()
      completedTotal++
      lastEndMs = endMs
      if (endMs >= measuredFromMs && endMs < deadlineMs) {
        completed++
        recordMs(histogram, endMs - opStartMs)
      }
    }
  }
  const limitMs = window.kind === 'duration' ? window.warmupMs + window.durationMs + RUN_GRACE_MS : OPERATIONS_RUN_LIMIT_MS
  await withTimeout(Promise.all(Array.from({ length: plan.inflight }, loop)), limitMs, `workload ${plan.workload.name} run`)
  const elapsedMs = window.kind === 'duration' ? window.durationMs : lastEndMs - startMs
  return { completed, elapsedMs, completedTotal, histogram: encodeHistogram(histogram) }
}

async function execute(store: KvStoreClient, operation: Operation, value: string): Promise<void> {
  switch (operation.kind) {
    case 'read':
      await store.read(operation.key)
      return
    case 'update':
    case 'insert':
      await store.write(operation.key, value)
      return
    case 'readModifyWrite':
      await store.read(operation.key)
      await store.write(operation.key, value)
      return
    default: {
      const never: never = operation.kind
      throw new Error(`unknown operation ${String(never)}`)
    }
  }
}

export interface LoadShare {
  readonly records: number
  readonly valueBytes: number
  readonly inflight: number
  /** This loader writes the records n with n % threads === thread. */
  readonly thread: number
  readonly threads: number
}

/** The load phase's share of one driver: writes its records, `inflight` at a time; resolves with how many. */
export async function loadRecords(share: LoadShare, store: KvStoreClient): Promise<number> {
  const names = recordNames(share.records)
  const value = valueOfBytes(share.valueBytes)
  let next = share.thread
  let written = 0
  const loop = async (): Promise<void> => {
    for (; next < names.length; written++) {
      const key = names[next]!
      next += share.threads
      await store.write(key, value)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(share.inflight, MAX_INFLIGHT)) }, loop))
  return written
}

/** Thread `thread`'s plan: the same workload and window; an operations run's count split among the threads. */
export function planFor(settings: TargetSettings, request: RunRequest, inflight: number, thread: number, threads: number): RunPlan {
  const { window } = request
  const threadWindow: RunWindow = window.kind === 'duration' ? window : { kind: 'operations', operations: shareOf(window.operations, thread, threads) }
  return { window: threadWindow, inflight, workload: request.workload, records: settings.records, valueBytes: settings.valueBytes, seed: settings.seed, thread, threads }
}

/** Part `index` of `total` split into `parts` as evenly as whole numbers allow. */
export function shareOf(total: number, index: number, parts: number): number {
  return Math.floor(total / parts) + (index < total % parts ? 1 : 0)
}

/** How long the main thread waits for a run: the drivers' own bound, and a grace of its own. */
export function runLimitMs(window: RunWindow): number {
  return (window.kind === 'duration' ? window.warmupMs + window.durationMs + RUN_GRACE_MS : OPERATIONS_RUN_LIMIT_MS) + RUN_GRACE_MS
}
