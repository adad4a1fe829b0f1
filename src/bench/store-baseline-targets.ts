/**
 * The store benchmark's in-process baselines (targets of store-targets.ts):
 *
 * - `postmessage` / `comlink`: one worker holding a Map
 *   (store-baseline-worker.ts), driven from the main thread by the same
 *   closed-loop driver at the same total depth as the client threads
 *   (inflight * clientThreads);
 * - `map`: a plain Map on the main thread, synchronously: the physical limit
 *   of one thread. No per-op latency (sub-µs and synchronous: the clock would
 *   cost more than the op), so its percentiles are n/a.
 */
import { performance } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import { releaseProxy, wrap } from 'comlink'
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs'
import { withTimeout } from './drive.js'
import type { BaselineChannel, BaselineWorkerData, MapApi, MapReply, MapRequest } from './store-baseline-worker.js'
import { driveRun, loadRecords, LOAD_LIMIT_MS, planFor, runLimitMs, type KvStoreClient, type RunPlan, type RunResult } from './store-drive.js'
import { encodeHistogram, newHistogram } from './store-latency.js'
import type { BenchTarget, TargetSettings } from './store-targets.js'
import { OperationStream, recordNames, valueOfBytes } from './store-workloads.js'

/** A baseline worker driven from the main thread at the total depth of the client threads. */
export async function startMainThreadTarget(channel: BaselineChannel, settings: TargetSettings): Promise<BenchTarget> {
  const workerData: BaselineWorkerData = { channel }
  const worker = new Worker(new URL('./store-baseline-worker.js', import.meta.url), { workerData })
  const failed = new Promise<never>((_, reject) => {
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`${channel} baseline worker exited with code ${code}`)))
  })
  failed.catch(() => {})
  const { store, release } = channel === 'comlink' ? comlinkStore(worker) : postMessageStore(worker)
  const inflight = settings.inflight * settings.clientThreads
  const bounded = <T>(work: Promise<T>, limitMs: number, what: string): Promise<T> => withTimeout(Promise.race([work, failed]), limitMs, what)
  return {
    name: channel,
    load: async () => {
      await bounded(loadRecords({ records: settings.records, valueBytes: settings.valueBytes, inflight, thread: 0, threads: 1 }, store), LOAD_LIMIT_MS, `${channel} load`)
    },
    run: async (request) => [await bounded(driveRun(planFor(settings, request, request.single ? 1 : inflight, 0, 1), store), runLimitMs(request.window), `${channel} run`)],
    externalCpuMicros: () => 0,
    close: async () => {
      release()
      worker.removeAllListeners('exit')
      await worker.terminate()
    },
  }
}

function postMessageStore(worker: Worker): { store: KvStoreClient; release: () => void } {
  const pending = new Map<number, (value: string | undefined) => void>()
  worker.on('message', (reply: MapReply) => {
    const resolve = pending.get(reply.id)
    pending.delete(reply.id)
    resolve?.(reply.value)
  })
  let nextId = 0
  const request = (message: MapRequest): Promise<string | undefined> =>
    new Promise((resolve) => {
      pending.set(message.id, resolve)
      worker.postMessage(message)
    })
  const store: KvStoreClient = {
    read: (key) => request({ id: nextId++, key }),
    write: (key, value) => request({ id: nextId++, key, value }),
    close: async () => {},
  }
  return { store, release: () => pending.clear() }
}

function comlinkStore(worker: Worker): { store: KvStoreClient; release: () => void } {
  const remote = wrap<MapApi>(nodeEndpoint(worker))
  const store: KvStoreClient = {
    read: (key) => remote.get(key),
    write: (key, value) => remote.put(key, value),
    close: async () => {},
  }
  return { store, release: () => remote[releaseProxy]() }
}

/** How often the Map loop reads the clock: every this many ops. */
const MAP_CLOCK_STRIDE = 256

export function mapTarget(settings: TargetSettings): BenchTarget {
  const map = new Map<string, string>()
  const value = valueOfBytes(settings.valueBytes)
  return {
    name: 'map',
    load: async () => {
      for (const key of recordNames(settings.records)) map.set(key, value)
    },
    run: async (request) => [runMap(map, planFor(settings, request, 1, 0, 1), value)],
    externalCpuMicros: () => 0,
    close: async () => map.clear(),
  }
}

/** The workload on a Map, synchronously; a read-modify-write is a get and a set. */
function runMap(map: Map<string, string>, plan: RunPlan, value: string): RunResult {
  const stream = new OperationStream(plan)
  const window = plan.window
  let sink = 0
  const step = (): void => {
    const operation = stream.next()
    if (operation.kind === 'read' || operation.kind === 'readModifyWrite') sink += map.get(operation.key)?.length ?? 0
    if (operation.kind !== 'read') map.set(operation.key, value)
  }
  const startMs = performance.now()
  let completed = 0
  let completedTotal = 0
  if (window.kind === 'operations') {
    for (; completed < window.operations; completed++) step()
    completedTotal = completed
  } else {
    const measuredFromMs = startMs + window.warmupMs
    const deadlineMs = measuredFromMs + window.durationMs
    for (let nowMs = startMs; nowMs < deadlineMs; nowMs = performance.now()) {
      for (let op = 0; op < MAP_CLOCK_STRIDE; op++) step()
      completedTotal += MAP_CLOCK_STRIDE
      if (nowMs >= measuredFromMs) completed += MAP_CLOCK_STRIDE
    }
  }
  // The reads' results are used, so the engine cannot drop them.
  if (sink < 0) throw new Error('unreachable')
  const elapsedMs = window.kind === 'duration' ? window.durationMs : performance.now() - startMs
  return { completed, elapsedMs, completedTotal, histogram: encodeHistogram(newHistogram()) }
}
