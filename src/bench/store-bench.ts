/**
 * `shardkv bench store`: the embedded cluster under a default workload,
 * against two baselines from the same run.
 *
 * 1. start a cluster and put every key (the load phase);
 * 2. shardkv: `clientThreads` piscina workers, each with ONE long-lived task
 *    that connects with `cluster.endpoint()` and runs every workload in turn
 *    (store-load.ts), `inflight` ops outstanding per thread;
 * 3. the cluster closes (its spinning receivers would tax the baselines);
 * 4. postMessage: one worker holding a Map behind raw `postMessage`, driven
 *    from the main thread at the same total depth (inflight * clientThreads);
 * 5. Map: a plain Map on the main thread running the same op mix.
 */
import { cpus, loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { createCluster, type Cluster } from '../cluster.js'
import type { KvClient } from '../client/kv-client.js'
import type { BenchEnvironment } from './report.js'
import { driveStore, SAMPLE_CAPACITY, type StoreLoadPlan, type StoreLoadResult } from './store-drive.js'
import type { ClientThreadTask } from './store-load.js'
import { checkStoreTargets, measureWorkload, summarizeStoreRuns, type StoreBenchReport, type StoreThroughput } from './store-report.js'
import { keyNames, nextIsRead, READY_ID, valueOfBytes, type MapReply, type MapRequest, type MapWorkerData, type Workload } from './store-workload.js'

export interface StoreBenchConfig {
  readonly groups: number
  readonly replicas: number
  readonly masters: number
  readonly shards: number
  readonly clientThreads: number
  readonly inflight: number
  readonly keys: number
  readonly valueBytes: number
  readonly durationMs: number
  readonly workloads: readonly Workload[]
}

export type StoreBenchProgress = (label: string) => void

/** Longest a start-up step (a worker coming up, a client thread reaching a barrier) may take. */
const STARTUP_LIMIT_MS = 30_000
/** Warm-up before each window: a quarter of it, at most this. */
const MAX_WARMUP_MS = 250

export async function runStoreBench(config: StoreBenchConfig, onProgress: StoreBenchProgress = () => {}): Promise<StoreBenchReport> {
  const loadAverageAtStart = loadavg()[0]!
  const warmupMs = Math.min(MAX_WARMUP_MS, Math.floor(config.durationMs / 4))
  const plans = config.workloads.map((workload) => planFor(config, workload, warmupMs, config.inflight))
  onProgress('starting the cluster')
  const cluster = await createCluster({ groups: config.groups, replicas: config.replicas, masters: config.masters, shards: config.shards })
  let loadPhaseMs: number
  let shardkvRuns: StoreLoadResult[][]
  try {
    onProgress(`loading ${config.keys} keys`)
    loadPhaseMs = await loadKeys(cluster.client(), config)
    shardkvRuns = await runClientThreads(cluster, plans, config, onProgress)
  } finally {
    await cluster.close()
  }
  const postMessageInflight = config.inflight * config.clientThreads
  const postMessagePlans = config.workloads.map((workload) => planFor(config, workload, warmupMs, postMessageInflight))
  const postMessageRuns = await runPostMessageBaseline(postMessagePlans, config, onProgress)
  const mapRuns = config.workloads.map((workload, index) => {
    onProgress(`[${index + 1}/${config.workloads.length}] ${workload.name}: Map`)
    return runMapBaseline(plans[index]!, config.valueBytes)
  })
  const workloads = config.workloads.map((workload, index) =>
    measureWorkload(workload, summarizeStoreRuns(shardkvRuns.map((thread) => thread[index]!)), summarizeStoreRuns([postMessageRuns[index]!]), mapRuns[index]!),
  )
  return {
    benchmark: 'store',
    environment: environment(loadAverageAtStart),
    config: {
      groups: config.groups,
      replicas: config.replicas,
      masters: config.masters,
      shards: config.shards,
      clientThreads: config.clientThreads,
      inflight: config.inflight,
      postMessageInflight,
      keys: config.keys,
      valueBytes: config.valueBytes,
      durationMs: config.durationMs,
      warmupMs,
      workloads: config.workloads.map((workload) => workload.name),
    },
    loadPhaseMs,
    workloads,
    targets: checkStoreTargets(workloads),
  }
}

function planFor(config: StoreBenchConfig, workload: Workload, warmupMs: number, inflight: number): StoreLoadPlan {
  return { readPercent: workload.readPercent, keys: config.keys, inflight, warmupMs, durationMs: config.durationMs, sampleCapacity: SAMPLE_CAPACITY }
}

/** Puts every key, `inflight` at a time; resolves with the time it took (ms). */
async function loadKeys(client: KvClient, config: StoreBenchConfig): Promise<number> {
  const keys = keyNames(config.keys)
  const value = valueOfBytes(config.valueBytes)
  const startMs = performance.now()
  let next = 0
  const loop = async (): Promise<void> => {
    while (next < keys.length) await client.put(keys[next++]!, value)
  }
  try {
    await Promise.all(Array.from({ length: Math.min(config.inflight, keys.length) }, loop))
  } finally {
    client.close()
  }
  return performance.now() - startMs
}

/** One long-lived piscina task per client thread; resolves with each thread's results, per workload. */
async function runClientThreads(cluster: Cluster, plans: readonly StoreLoadPlan[], config: StoreBenchConfig, onProgress: StoreBenchProgress): Promise<StoreLoadResult[][]> {
  const threads = config.clientThreads
  const pool = new Piscina({ filename: new URL('./store-load.js', import.meta.url).href, minThreads: threads, maxThreads: threads, concurrentTasksPerWorker: 1 })
  const barrier = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT)
  const arrivals = new Int32Array(barrier)
  const progress = setInterval(() => {
    const workload = Math.ceil(Atomics.load(arrivals, 0) / threads)
    if (workload > 0) onProgress(`[${workload}/${plans.length}] ${config.workloads[workload - 1]!.name}: shardkv`)
  }, 100)
  try {
    const tasks = Array.from({ length: threads }, () => {
      const task: ClientThreadTask = { endpoint: cluster.endpoint(), plans, valueBytes: config.valueBytes, threads, barrier, barrierTimeoutMs: STARTUP_LIMIT_MS }
      return pool.run(task) as Promise<StoreLoadResult[]>
    })
    return await Promise.all(tasks)
  } finally {
    clearInterval(progress)
    await pool.destroy()
  }
}

async function runPostMessageBaseline(plans: readonly StoreLoadPlan[], config: StoreBenchConfig, onProgress: StoreBenchProgress): Promise<StoreLoadResult[]> {
  const workerData: MapWorkerData = { keys: config.keys, valueBytes: config.valueBytes }
  const worker = new Worker(new URL('./store-map-worker.js', import.meta.url), { workerData })
  try {
    const pending = new Map<number, () => void>()
    const ready = new Promise<void>((resolve) => pending.set(READY_ID, resolve))
    worker.on('message', (reply: MapReply) => {
      const resolve = pending.get(reply.id)
      pending.delete(reply.id)
      resolve?.()
    })
    const failed = new Promise<never>((_, reject) => worker.once('error', reject))
    await Promise.race([ready, failed])
    const keys = keyNames(config.keys)
    const value = valueOfBytes(config.valueBytes)
    let nextId = 0
    const request = (message: MapRequest): Promise<void> =>
      new Promise<void>((resolve) => {
        pending.set(message.id, resolve)
        worker.postMessage(message)
      })
    const ops = {
      get: (keyIndex: number) => request({ id: nextId++, key: keys[keyIndex]! }),
      put: (keyIndex: number) => request({ id: nextId++, key: keys[keyIndex]!, value }),
    }
    const results: StoreLoadResult[] = []
    for (const [index, plan] of plans.entries()) {
      onProgress(`[${index + 1}/${plans.length}] ${config.workloads[index]!.name}: postMessage`)
      results.push(await Promise.race([driveStore(plan, ops, 'postMessage baseline'), failed]))
    }
    return results
  } finally {
    await worker.terminate()
  }
}

/** The same op mix on a plain Map on this thread, synchronously; the clock is read every CLOCK_STRIDE ops. */
export function runMapBaseline(plan: StoreLoadPlan, valueBytes: number): StoreThroughput {
  const CLOCK_STRIDE = 256
  const keys = keyNames(plan.keys)
  const value = valueOfBytes(valueBytes)
  const map = new Map<string, string>(keys.map((key) => [key, value]))
  const measuredFromMs = performance.now() + plan.warmupMs
  const deadlineMs = measuredFromMs + plan.durationMs
  let completed = 0
  let sink = 0
  for (let nowMs = performance.now(); nowMs < deadlineMs; nowMs = performance.now()) {
    for (let op = 0; op < CLOCK_STRIDE; op++) {
      const key = keys[Math.floor(Math.random() * plan.keys)]!
      if (nextIsRead(plan.readPercent, Math.random)) sink += map.get(key)?.length ?? 0
      else map.set(key, value)
    }
    if (nowMs >= measuredFromMs) completed += CLOCK_STRIDE
  }
  // The reads' results are used, so the engine cannot drop them.
  if (sink < 0) throw new Error('unreachable')
  return { completed, opsPerSecond: (completed * 1000) / plan.durationMs }
}

function environment(loadAverageAtStart: number): BenchEnvironment {
  const processors = cpus()
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpus: processors.length,
    cpuModel: processors[0]?.model.trim() ?? 'unknown',
    loadAverage1mAtStart: loadAverageAtStart,
    loadAverage1mAtEnd: loadavg()[0]!,
  }
}
