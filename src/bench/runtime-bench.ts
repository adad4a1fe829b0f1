/**
 * The runtime benchmark (`shardkv bench runtime`): round-trip latency and
 * pipelined throughput, main <-> worker and worker <-> worker, for the ring
 * transport and its two baselines (raw postMessage, comlink), all in one run
 * so the report can give ratios; then the idle cost of 12 actors.
 *
 * Every scenario runs the three transports back to back (ring, postMessage,
 * comlink) before the next scenario starts, so slow drift of the machine
 * (other load, frequency scaling) hits all three alike.
 */
import { loadavg } from 'node:os'
import { benchEnvironment } from './environment.js'
import { setTimeout as sleep } from 'node:timers/promises'
import { ActorSystem } from '../runtime/system.js'
import { BENCH_ACTORS_MODULE } from './bench-actors.js'
import { ComlinkContender, PostMessageContender } from './baseline-contenders.js'
import type { Contender, ContenderOptions } from './contender.js'
import type { LoadMode, LoadPlan, LoadResult } from './load.js'
import { RingContender } from './ring-contender.js'
import {
  buildReport,
  PATH_LABELS,
  PATHS,
  summarizeLatency,
  summarizeThroughput,
  TARGETS,
  type BenchConfigSummary,
  type IdleSummary,
  type LatencySummary,
  type Measurements,
  type PathName,
  type RuntimeBenchReport,
  type ThroughputSummary,
  type TransportName,
} from './report.js'

export interface RuntimeBenchConfig {
  /** Measured window of each measurement. */
  readonly durationMs: number
  /** Warm-up before each window; undefined: a quarter of the window, at most 250 ms. */
  readonly warmupMs: number | undefined
  /** Requests kept outstanding per echo worker in the pipelined measurements. */
  readonly inflight: number
  /** Echo workers driven concurrently (and as many driver workers). */
  readonly workers: number
  /** The ring's spin before sleeping; undefined: the runtime's default. */
  readonly spinMicros: number | undefined
  /** Window of the idle-cost measurement. */
  readonly idleMs: number
  readonly skipIdle: boolean
}

export interface BenchProgress {
  readonly step: number
  readonly steps: number
  readonly label: string
}

/** Round-trip samples kept per run (reservoir): plenty for a stable p99. */
const SAMPLE_CAPACITY = 50_000
const MAX_DEFAULT_WARMUP_MS = 250
/** Idle actors are given this long after start-up before their CPU is measured. */
const IDLE_SETTLE_MS = 500

interface Scenario {
  readonly mode: LoadMode
  readonly path: PathName
}

const SCENARIOS: readonly Scenario[] = [
  { mode: 'ping-pong', path: 'mainToWorker' },
  { mode: 'ping-pong', path: 'workerToWorker' },
  { mode: 'pipelined', path: 'mainToWorker' },
  { mode: 'pipelined', path: 'workerToWorker' },
]

export async function runRuntimeBench(config: RuntimeBenchConfig, onProgress: (progress: BenchProgress) => void = () => {}): Promise<RuntimeBenchReport> {
  const warmupMs = config.warmupMs ?? Math.min(MAX_DEFAULT_WARMUP_MS, Math.floor(config.durationMs / 4))
  const steps = 1 + SCENARIOS.length * 3 + (config.skipIdle ? 0 : 1)
  let step = 0
  const progress = (label: string): void => onProgress({ step: ++step, steps, label })

  const loadAverageAtStart = loadavg()[0]!
  progress('starting workers')
  const contenders = await startContenders({ workers: config.workers, spinMicros: config.spinMicros })
  const latency = emptyTable<LatencySummary>()
  const throughput = emptyTable<ThroughputSummary>()
  try {
    for (const scenario of SCENARIOS) {
      const plan: LoadPlan = { mode: scenario.mode, inflight: config.inflight, warmupMs, durationMs: config.durationMs, sampleCapacity: SAMPLE_CAPACITY }
      for (const contender of contenders) {
        progress(`${scenario.mode} ${PATH_LABELS[scenario.path]}, ${contender.transport}`)
        const results = await runScenario(contender, scenario.path, plan)
        if (scenario.mode === 'ping-pong') latency[scenario.path][contender.transport] = summarizeRoundTrips(results)
        else throughput[scenario.path][contender.transport] = summarizeThroughput(results)
      }
    }
  } finally {
    await Promise.all(contenders.map((contender) => contender.close()))
  }

  let idle: IdleSummary | null = null
  if (!config.skipIdle) {
    progress(`idle cost of ${TARGETS.idleActors} actors`)
    idle = await measureIdle(TARGETS.idleActors, config.idleMs, config.spinMicros)
  }
  const measurements: Measurements = { pingPong: complete(latency), pipelined: complete(throughput), idle }
  return buildReport(benchEnvironment(loadAverageAtStart), summarizeConfig(config, warmupMs), measurements)
}

async function startContenders(options: ContenderOptions): Promise<Contender[]> {
  const started: Contender[] = []
  try {
    started.push(await RingContender.start(options))
    started.push(await PostMessageContender.start(options))
    started.push(await ComlinkContender.start(options))
    return started
  } catch (error) {
    await Promise.all(started.map((contender) => contender.close()))
    throw error
  }
}

function runScenario(contender: Contender, path: PathName, plan: LoadPlan): Promise<LoadResult[]> {
  return path === 'mainToWorker' ? contender.fromMain(plan) : contender.betweenWorkers(plan)
}

function summarizeRoundTrips(results: readonly LoadResult[]): LatencySummary {
  const samples = new Float64Array(results.reduce((sum, result) => sum + result.roundTripSamplesUs.length, 0))
  let offset = 0
  for (const result of results) {
    samples.set(result.roundTripSamplesUs, offset)
    offset += result.roundTripSamplesUs.length
  }
  return summarizeLatency(samples, results.reduce((sum, result) => sum + result.roundTrips, 0))
}

/**
 * Process CPU (all threads, user + system) of `actors` idle actors over
 * `windowMs`, as a percentage of one core. Nothing else runs meanwhile: the
 * contenders' workers are gone and the main thread sleeps.
 */
export async function measureIdle(actors: number, windowMs: number, spinMicros: number | undefined): Promise<IdleSummary> {
  const system = new ActorSystem(spinMicros === undefined ? {} : { spinMicros })
  try {
    for (let index = 0; index < actors; index++) {
      await system.spawn({ id: `idle-${index}`, kind: 'bench-echo', module: BENCH_ACTORS_MODULE, exportName: 'EchoActor' })
    }
    await sleep(IDLE_SETTLE_MS)
    const wallStart = process.hrtime.bigint()
    const cpuStart = process.cpuUsage()
    await sleep(windowMs)
    const cpu = process.cpuUsage(cpuStart)
    const wallMicros = Number(process.hrtime.bigint() - wallStart) / 1000
    return { actors, windowMs, cpuPercentOfCore: ((cpu.user + cpu.system) / wallMicros) * 100 }
  } finally {
    await system.close()
  }
}

type Table<T> = Record<PathName, Partial<Record<TransportName, T>>>

function emptyTable<T>(): Table<T> {
  return { mainToWorker: {}, workerToWorker: {} }
}

/** Every cell is filled once all scenarios ran; a hole is a bug here. */
function complete<T>(table: Table<T>): Record<PathName, Record<TransportName, T>> {
  const result = {} as Record<PathName, Record<TransportName, T>>
  for (const path of PATHS) {
    const row = table[path]
    if (row.ring === undefined || row.postMessage === undefined || row.comlink === undefined) {
      throw new Error(`runtime bench: a ${path} measurement is missing`)
    }
    result[path] = { ring: row.ring, postMessage: row.postMessage, comlink: row.comlink }
  }
  return result
}


function summarizeConfig(config: RuntimeBenchConfig, warmupMs: number): BenchConfigSummary {
  return {
    durationMs: config.durationMs,
    warmupMs,
    inflight: config.inflight,
    workers: config.workers,
    spinMicros: config.spinMicros ?? null,
    idleMs: config.idleMs,
    skipIdle: config.skipIdle,
  }
}
