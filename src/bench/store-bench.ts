/**
 * `shardkv bench store`: YCSB workloads on shardkv and its baselines, in the
 * same process and the same run, so the results are ratios.
 *
 * For each point of the sweep (one point without --sweep), `rounds` times
 * over, for each target in turn (shardkv first, then the --compare
 * baselines, one at a time so a target's threads never tax another's):
 *
 *   1. start it (a cluster, a Redis server, a worker...);
 *   2. the load phase: write every record;
 *   3. one run per workload, in the order given, on the same data (D's
 *      inserts grow it, which is why YCSB runs D last);
 *   4. the single-read probe: workload C, one op in flight (not the Map);
 *   5. for shardkv on a replicated embedded cluster, in the last round, the
 *      failover trials (store-failover.ts): last, since they kill leaders;
 *   6. close it.
 *
 * With several rounds each measurement reported is the median round's (by
 * throughput; by time for a load phase), and carries every round's figure:
 * alternating the targets spreads a shared machine's noisy spells over all
 * of them instead of one.
 *
 * CPU per op is process.cpuUsage() (every thread of this process: the
 * cluster's actors, the client threads, the main thread) over the run,
 * plus the Redis server's own CPU for Redis, divided by the ops completed.
 */
import { loadavg } from 'node:os'
import { benchEnvironment } from './environment.js'
import { flagName } from '../cli-flags.js'
import { performance } from 'node:perf_hooks'
import type { RunWindow } from './store-drive.js'
import type { Distribution } from './store-key-choosers.js'
import { checkStoreTargets, measureLoad, measureTarget, measureWorkload, type FailoverResult, type StoreBenchPoint, type StoreBenchReport, type TargetMeasurement, type LoadMeasurement } from './store-report.js'
import { MIN_FAILOVER_REPLICAS, startTarget, type BaselineName, type BenchTarget, type ClusterShape, type RunRequest, type SkippedTarget, type SystemUnderTest, type TargetName, type TargetSettings } from './store-targets.js'
import { WORKLOADS, type WorkloadSpec } from './store-workloads.js'

export const SWEEP_FLAGS = ['groups', 'shards', 'clientThreads', 'inflight', 'records', 'valueBytes'] as const
export type SweepFlag = (typeof SWEEP_FLAGS)[number]

export interface Sweep {
  readonly flag: SweepFlag
  readonly values: readonly number[]
}

export interface StoreBenchConfig {
  readonly cluster: ClusterShape
  readonly clientThreads: number
  readonly inflight: number
  readonly records: number
  readonly valueBytes: number
  readonly window: RunWindow
  /** Already carrying the --distribution override, if any. */
  readonly workloads: readonly WorkloadSpec[]
  readonly distribution: Distribution | null
  readonly compare: readonly BaselineName[]
  /** Leader kills timed on shardkv (0: none). */
  readonly failoverTrials: number
  /** Rounds of every target; each figure is the median round's. */
  readonly rounds: number
  readonly seed: number
  readonly sweep: Sweep | null
  /** Where shardkv runs; the embedded cluster by default. */
  readonly system?: (shape: ClusterShape) => Promise<SystemUnderTest>
}

export interface StoreBenchProgress {
  readonly step: number
  readonly steps: number
  readonly label: string
  /** How long this step should take when it is a timed window; null otherwise. */
  readonly windowMs: number | null
}

/** The single-read probe's window: short, it only needs a stable median. */
const PROBE_MAX_DURATION_MS = 500
const PROBE_MAX_WARMUP_MS = 100
const PROBE_MAX_OPERATIONS = 10_000

export async function runStoreBench(config: StoreBenchConfig, onProgress: (progress: StoreBenchProgress) => void = () => {}): Promise<StoreBenchReport> {
  const loadAverageAtStart = loadavg()[0]!
  const values = config.sweep === null ? [null] : config.sweep.values
  const targets: TargetName[] = ['shardkv', ...config.compare]
  const stepsPerTarget = (name: TargetName): number => 1 + config.workloads.length + (name === 'map' ? 0 : 1) + (name === 'shardkv' && config.failoverTrials > 0 ? 1 : 0)
  const steps = values.length * config.rounds * targets.reduce((sum, name) => sum + stepsPerTarget(name), 0) - (config.rounds - 1) * values.length * (config.failoverTrials > 0 ? 1 : 0)
  let step = 0
  const progress = (label: string, windowMs: number | null): void => onProgress({ step: ++step, steps, label, windowMs })
  const points: StoreBenchPoint[] = []
  for (const value of values) {
    const settings = settingsAt(config, value)
    const prefix = value === null ? '' : `${flagName(config.sweep!.flag).slice(2)}=${value} `
    points.push(await runPoint(config, settings, targets, (label, windowMs) => progress(`${prefix}${label}`, windowMs), value))
  }
  return {
    benchmark: 'store',
    environment: benchEnvironment(loadAverageAtStart),
    config: {
      window: config.window,
      workloads: config.workloads.map((workload) => workload.name),
      distribution: config.distribution,
      compare: config.compare,
      failoverTrials: config.failoverTrials,
      rounds: config.rounds,
      seed: config.seed,
    },
    points,
    targets: checkStoreTargets(points[0], config.system !== undefined),
  }
}

/** The settings of one sweep point: the base settings with the swept flag set to `value`. */
export function settingsAt(config: StoreBenchConfig, value: number | null): TargetSettings {
  const base: TargetSettings = {
    cluster: config.cluster,
    records: config.records,
    valueBytes: config.valueBytes,
    clientThreads: config.clientThreads,
    inflight: config.inflight,
    seed: config.seed,
  }
  if (value === null || config.sweep === null) return base
  const flag = config.sweep.flag
  if (flag === 'groups' || flag === 'shards') return { ...base, cluster: { ...base.cluster, [flag]: value } }
  return { ...base, [flag]: value }
}

type Progress = (label: string, windowMs: number | null) => void

async function runPoint(config: StoreBenchConfig, settings: TargetSettings, names: readonly TargetName[], progress: Progress, sweepValue: number | null): Promise<StoreBenchPoint> {
  const rounds: RoundResult[] = []
  for (let round = 1; round <= config.rounds; round++) {
    const label = config.rounds === 1 ? progress : (text: string, windowMs: number | null) => progress(`round ${round}/${config.rounds} ${text}`, windowMs)
    rounds.push(await runRound(config, settings, names, label, round === config.rounds))
  }
  const last = rounds.at(-1)!
  return {
    sweep: sweepValue === null ? null : { flag: flagName(config.sweep!.flag).slice(2), value: sweepValue },
    config: { ...settings.cluster, clientThreads: settings.clientThreads, inflight: settings.inflight, mainThreadInflight: settings.inflight * settings.clientThreads, records: settings.records, valueBytes: settings.valueBytes },
    load: medianLoads(rounds.map((round) => round.load)),
    workloads: config.workloads.map((workload, index) => measureWorkload(workload, medianRuns(rounds.map((round) => round.byWorkload[index]!)))),
    singleRead: measureWorkload({ ...probeWorkload(config), name: 'single-read', description: 'workload C, one op in flight' }, medianRuns(rounds.map((round) => round.singleRead))),
    failover: last.failover,
    skipped: last.skipped,
  }
}

interface RoundResult {
  readonly byWorkload: readonly TargetMeasurement[][]
  readonly singleRead: readonly TargetMeasurement[]
  readonly load: readonly LoadMeasurement[]
  readonly skipped: readonly SkippedTarget[]
  readonly failover: FailoverResult | null
}

/** Per target, the median of its rounds by throughput, with every round's throughput (one round: as measured). */
function medianRuns(rounds: readonly (readonly TargetMeasurement[])[]): TargetMeasurement[] {
  return medianPerTarget(rounds, (run) => run.opsPerSecond ?? -1, (median, runs) => ({ ...median, roundsOpsPerSecond: runs.map((run) => run.opsPerSecond) }))
}

/** Per target, the median load phase by time, with every round's time (one round: as measured). */
function medianLoads(rounds: readonly (readonly LoadMeasurement[])[]): LoadMeasurement[] {
  return medianPerTarget(rounds, (run) => run.elapsedMs, (median, runs) => ({ ...median, roundsElapsedMs: runs.map((run) => run.elapsedMs) }))
}

/** Per target (in the first round's order), its median round by `rank`, marked by `withRounds` with all of them. */
function medianPerTarget<M extends { readonly target: TargetName }>(rounds: readonly (readonly M[])[], rank: (run: M) => number, withRounds: (median: M, runs: readonly M[]) => M): M[] {
  if (rounds.length === 1) return [...rounds[0]!]
  return rounds[0]!.map(({ target }) => {
    const runs = rounds.map((round) => round.find((measurement) => measurement.target === target)).filter((run) => run !== undefined)
    const sorted = [...runs].sort((a, b) => rank(a) - rank(b))
    return withRounds(sorted[Math.floor((sorted.length - 1) / 2)]!, runs)
  })
}

/** Every target once: start, load, workloads, single read, failover (when asked and `failoverNow`), close. */
async function runRound(config: StoreBenchConfig, settings: TargetSettings, names: readonly TargetName[], progress: Progress, failoverNow: boolean): Promise<RoundResult> {
  const byWorkload = config.workloads.map((): TargetMeasurement[] => [])
  const singleRead: TargetMeasurement[] = []
  const load: LoadMeasurement[] = []
  const skipped: SkippedTarget[] = []
  let failover: FailoverResult | null = null
  const system = config.system
  for (const name of names) {
    progress(`${name}: start and load ${settings.records} records`, null)
    const started = await startTarget(name, settings, system === undefined ? undefined : () => system(settings.cluster))
    if ('skipped' in started) {
      skipped.push(started)
      continue
    }
    try {
      const loadStartMs = performance.now()
      await started.load()
      load.push(measureLoad(name, settings.records, performance.now() - loadStartMs))
      for (const [index, workload] of config.workloads.entries()) {
        // Only a cluster settles after its load; the baselines start their first workload with the usual warm-up.
        const window = index === 0 && (name === 'shardkv' || name === 'unreplicated') ? afterLoad(config.window) : config.window
        progress(`${name}: workload ${workload.name}`, windowMsOf(window))
        byWorkload[index]!.push(await measureRun(started, { workload, window, single: false }))
      }
      if (name !== 'map') {
        const window = probeWindow(config.window)
        progress(`${name}: single read`, windowMsOf(window))
        singleRead.push(await measureRun(started, { workload: probeWorkload(config), window, single: true }))
      }
      if (name === 'shardkv' && config.failoverTrials > 0 && failoverNow) {
        const trials = config.failoverTrials
        progress(`${name}: failover, ${trials} leader kills`, null)
        failover =
          started.failover === undefined
            ? { skipped: system === undefined ? `needs groups of ${MIN_FAILOVER_REPLICAS} or more replicas (--replicas)` : 'shardkv runs elsewhere (--target): the bench cannot kill its leaders' }
            : await started.failover(trials, () => {})
      }
    } finally {
      await started.close()
    }
  }
  return { byWorkload, singleRead, load, skipped, failover }
}

async function measureRun(target: BenchTarget, request: RunRequest): Promise<TargetMeasurement> {
  const cpuBefore = process.cpuUsage()
  const externalBefore = target.externalCpuMicros()
  const runs = await target.run(request)
  const cpu = process.cpuUsage(cpuBefore)
  const externalAfter = target.externalCpuMicros()
  const cpuMicros = externalBefore === null || externalAfter === null ? null : cpu.user + cpu.system + externalAfter - externalBefore
  return measureTarget(target.name, runs, cpuMicros, target.name !== 'map')
}

function probeWorkload(config: StoreBenchConfig): WorkloadSpec {
  return config.distribution === null ? WORKLOADS.C : { ...WORKLOADS.C, distribution: config.distribution }
}

function probeWindow(window: RunWindow): RunWindow {
  return window.kind === 'duration'
    ? { kind: 'duration', warmupMs: Math.min(PROBE_MAX_WARMUP_MS, window.warmupMs), durationMs: Math.min(PROBE_MAX_DURATION_MS, window.durationMs) }
    : { kind: 'operations', operations: Math.min(PROBE_MAX_OPERATIONS, window.operations) }
}

/** The first workload's window: the load phase has just ended. */
function afterLoad(window: RunWindow): RunWindow {
  return window.kind === 'duration' && window.afterLoadWarmupMs !== undefined ? { ...window, warmupMs: window.afterLoadWarmupMs } : window
}

function windowMsOf(window: RunWindow): number | null {
  return window.kind === 'duration' ? window.warmupMs + window.durationMs : null
}

