/**
 * The store benchmark's report: pure functions from the drivers' results to
 * throughput, latency percentiles, CPU per op, ratios, target checks, the
 * text table and the JSON document. No I/O, no clock.
 *
 * Ratios are shardkv / baseline of ops/s: above 1 favours shardkv.
 */
import { formatRatio, ratio, type BenchEnvironment, type TargetCheck } from './report.js'
import type { RunResult } from './store-drive.js'
import type { FailoverMeasurement } from './store-failover.js'
import { encodeHistogram, mergeEncoded, percentilesOf, type Histogram, type LatencyPercentiles } from './store-latency.js'
import { TARGET_LABELS, type BaselineName, type ClusterShape, type SkippedTarget, type TargetName } from './store-targets.js'
import type { WorkloadSpec } from './store-workloads.js'

export interface TargetMeasurement {
  readonly target: TargetName
  /** Measured operations over the measured time, all drivers together; null when nothing was measured. */
  readonly opsPerSecond: number | null
  readonly completed: number
  /** Null for the Map (not timed per op) or when nothing completed. */
  readonly latency: LatencyPercentiles | null
  /** Process CPU (all threads, plus a server process's) over the whole run, warm-up included, per op completed, µs. */
  readonly cpuUsPerOp: number | null
  /** The merged HdrHistogram of latencies in ns, compressed base64 (hdr-histogram-js decodeFromCompressedBase64). */
  readonly histogram: string | null
  /** With --rounds above 1: every round's opsPerSecond, in round order; this measurement is the median round's. */
  readonly roundsOpsPerSecond?: readonly (number | null)[]
}

export interface WorkloadMeasurement {
  /** A YCSB workload letter, or `single-read`: workload C with one op in flight on one driver. */
  readonly workload: string
  readonly description: string
  readonly distribution: string
  readonly targets: readonly TargetMeasurement[]
  /** shardkv ops/s / the baseline's, for each baseline measured. */
  readonly shardkvOver: Partial<Record<BaselineName, number | null>>
}

export interface LoadMeasurement {
  readonly target: TargetName
  readonly records: number
  readonly elapsedMs: number
  readonly recordsPerSecond: number | null
  /** With --rounds above 1: every round's elapsedMs, in round order; this measurement is the median round's. */
  readonly roundsElapsedMs?: readonly number[]
}

export interface StorePointConfig extends ClusterShape {
  readonly clientThreads: number
  readonly inflight: number
  /** In flight against the postMessage and comlink workers: inflight * clientThreads, the same total depth. */
  readonly mainThreadInflight: number
  readonly records: number
  readonly valueBytes: number
}

export interface StoreBenchPoint {
  /** The swept flag (as on the command line: `client-threads`) and its value at this point; null without --sweep. */
  readonly sweep: { readonly flag: string; readonly value: number } | null
  readonly config: StorePointConfig
  readonly load: readonly LoadMeasurement[]
  readonly workloads: readonly WorkloadMeasurement[]
  /** Single-read latency (one op in flight), per target but the Map. */
  readonly singleRead: WorkloadMeasurement
  /** Leader kills on shardkv (store-failover.ts); null when none were asked for (--failover 0). */
  readonly failover: FailoverResult | null
  readonly skipped: readonly SkippedTarget[]
}

export type FailoverResult = FailoverMeasurement | { readonly skipped: string }

export interface StoreBenchConfigSummary {
  readonly window: { readonly kind: 'duration'; readonly warmupMs: number; readonly durationMs: number; readonly afterLoadWarmupMs?: number } | { readonly kind: 'operations'; readonly operations: number }
  readonly workloads: readonly string[]
  /** The --distribution override; null: each workload's own. */
  readonly distribution: string | null
  readonly compare: readonly string[]
  readonly failoverTrials: number
  /** Rounds of every target (--rounds); above 1, each figure is the median round's. */
  readonly rounds: number
  readonly seed: number
}

export interface StoreBenchReport {
  readonly benchmark: 'store'
  readonly environment: BenchEnvironment
  readonly config: StoreBenchConfigSummary
  readonly points: readonly StoreBenchPoint[]
  /** Checked on the first point. */
  readonly targets: readonly TargetCheck[]
}

/** The targets. */
export const STORE_TARGETS = {
  readOnlyOverPostMessage: 3,
  readOnlyOverRedis: 3,
  singleReadP50Us: 20,
  /** Issue #4: writes with majority replication keep at least a third of the unreplicated throughput. */
  writesOverUnreplicated: 1 / 3,
  /** Issue #4: kill to the next successful write, p50, in (shortest) election timeouts. */
  failoverP50InElectionTimeouts: 3,
} as const

/** Issue #6, for shardkv served over gRPC (`--target grpc://`): against Redis over loopback. */
export const NETWORK_TARGETS = {
  /** Read-only throughput through Pipeline streams, over Redis's (ioredis, pipelined). */
  readOnlyOverRedis: 1,
  /** A unary Get's p50, over a Redis GET's. */
  singleReadP50OverRedis: 2,
} as const

/** One target's runs (one per driver) as ops/s, percentiles and CPU per op. */
export function measureTarget(target: TargetName, runs: readonly RunResult[], cpuMicros: number | null, timed: boolean): TargetMeasurement {
  const completed = runs.reduce((sum, run) => sum + run.completed, 0)
  const completedTotal = runs.reduce((sum, run) => sum + run.completedTotal, 0)
  const elapsedMs = Math.max(0, ...runs.map((run) => run.elapsedMs))
  const histogram = timed ? mergeEncoded(runs.map((run) => run.histogram)) : null
  return {
    target,
    opsPerSecond: elapsedMs > 0 && completed > 0 ? (completed * 1000) / elapsedMs : null,
    completed,
    latency: histogram === null ? null : percentilesOf(histogram),
    cpuUsPerOp: cpuMicros === null || completedTotal === 0 ? null : cpuMicros / completedTotal,
    histogram: histogram === null ? null : encodeMerged(histogram),
  }
}

function encodeMerged(histogram: Histogram): string | null {
  return histogram.totalCount === 0 ? null : encodeHistogram(histogram)
}

export function measureWorkload(workload: Pick<WorkloadSpec, 'description' | 'distribution'> & { readonly name: string }, targets: readonly TargetMeasurement[]): WorkloadMeasurement {
  const shardkv = targets.find((measurement) => measurement.target === 'shardkv')
  const shardkvOver: Partial<Record<BaselineName, number | null>> = {}
  for (const measurement of targets) {
    if (measurement.target !== 'shardkv') shardkvOver[measurement.target] = ratio(shardkv?.opsPerSecond ?? null, measurement.opsPerSecond)
  }
  return { workload: workload.name, description: workload.description, distribution: workload.distribution, targets, shardkvOver }
}

export function measureLoad(target: TargetName, records: number, elapsedMs: number): LoadMeasurement {
  return { target, records, elapsedMs, recordsPerSecond: elapsedMs > 0 ? (records * 1000) / elapsedMs : null }
}

/** The targets of issues #3-#5 on an embedded cluster; over the network (`overNetwork`), issue #6's. */
export function checkStoreTargets(point: StoreBenchPoint | undefined, overNetwork = false): TargetCheck[] {
  const readOnly = point?.workloads.find((measurement) => measurement.workload === 'C')
  const singleShardkv = point?.singleRead.targets.find((measurement) => measurement.target === 'shardkv')
  const updateHeavy = point?.workloads.find((measurement) => measurement.workload === 'A')
  if (overNetwork) {
    const singleRedis = point?.singleRead.targets.find((measurement) => measurement.target === 'redis')
    return [
      check('grpc.C.shardkvOverRedis', 'workload C over gRPC Pipeline streams ops/s: shardkv / Redis (ioredis, pipelined)', '>=', NETWORK_TARGETS.readOnlyOverRedis, readOnly?.shardkvOver.redis ?? null),
      check(
        'grpc.singleRead.p50OverRedis',
        'single read, nothing else in flight: unary Get p50 / Redis GET p50',
        '<=',
        NETWORK_TARGETS.singleReadP50OverRedis,
        ratio(singleShardkv?.latency?.p50Us ?? null, singleRedis?.latency?.p50Us ?? null),
      ),
    ]
  }
  return [
    check('C.shardkvOverPostMessage', 'workload C (read only) ops/s: shardkv / postMessage', '>=', STORE_TARGETS.readOnlyOverPostMessage, readOnly?.shardkvOver.postmessage ?? null),
    check('C.shardkvOverRedis', 'workload C (read only) ops/s: shardkv / Redis (ioredis, pipelined)', '>=', STORE_TARGETS.readOnlyOverRedis, readOnly?.shardkvOver.redis ?? null),
    check('singleRead.shardkv.p50Us', 'single read, nothing else in flight: shardkv p50 (µs)', '<=', STORE_TARGETS.singleReadP50Us, singleShardkv?.latency?.p50Us ?? null),
    check('A.shardkvOverUnreplicated', 'workload A (50% updates) ops/s: replicated / unreplicated', '>=', STORE_TARGETS.writesOverUnreplicated, updateHeavy?.shardkvOver.unreplicated ?? null),
    check('load.shardkvOverUnreplicated', 'load phase (100% writes) records/s: replicated / unreplicated', '>=', STORE_TARGETS.writesOverUnreplicated, loadOverUnreplicated(point)),
    check(
      'failover.p50ElectionTimeouts',
      'failover, leader killed to the next write on its shards: p50 in election timeouts',
      '<=',
      STORE_TARGETS.failoverP50InElectionTimeouts,
      point?.failover === null || point?.failover === undefined || 'skipped' in point.failover ? null : point.failover.p50InElectionTimeouts,
    ),
  ]
}

function loadOverUnreplicated(point: StoreBenchPoint | undefined): number | null {
  const rateOf = (target: TargetName): number | null => point?.load.find((load) => load.target === target)?.recordsPerSecond ?? null
  return ratio(rateOf('shardkv'), rateOf('unreplicated'))
}

function check(id: string, description: string, comparison: TargetCheck['comparison'], threshold: number, value: number | null): TargetCheck {
  const met = value === null ? null : comparison === '>=' ? value >= threshold : comparison === '<=' ? value <= threshold : value < threshold
  return { id, description, comparison, threshold, value, met }
}

export function formatStoreReport(report: StoreBenchReport): string {
  const { environment: env, config } = report
  const window = config.window.kind === 'duration' ? `window ${config.window.durationMs} ms (+${warmups(config.window)})` : `${config.window.operations} operations`
  const lines = [
    `shardkv store benchmark (YCSB): node ${env.node}, ${env.platform}/${env.arch}, ${env.cpus} CPUs (${env.cpuModel}), ` +
      `load average ${env.loadAverage1mAtStart.toFixed(2)} at start, ${env.loadAverage1mAtEnd.toFixed(2)} at end`,
    `workloads ${config.workloads.join(',')} (${config.distribution ?? 'each workload its own distribution'}), ${window} per workload and target, seed ${config.seed}` +
      (config.rounds > 1 ? `; ${config.rounds} rounds of every target, each figure the median round's` : ''),
  ]
  for (const point of report.points) lines.push('', ...formatPoint(point))
  lines.push('', 'targets:', ...report.targets.map(formatTarget))
  return lines.join('\n')
}

function formatPoint(point: StoreBenchPoint): string[] {
  const { config } = point
  const lines: string[] = []
  if (point.sweep !== null) lines.push(`== --sweep ${point.sweep.flag}=${point.sweep.value} ==`)
  lines.push(
    `cluster: ${config.groups} group(s) x ${config.replicas} replica(s), ${config.masters} master(s), ${config.shards} shards; ` +
      `${config.clientThreads} client thread(s) x ${config.inflight} in flight (postMessage, comlink: ${config.mainThreadInflight})`,
    `${config.records} records of ${config.valueBytes} B; load phase: ` +
      point.load.map((load) => `${TARGET_LABELS[load.target]} ${load.elapsedMs.toFixed(0)} ms`).join(', '),
  )
  for (const skipped of point.skipped) lines.push(`${TARGET_LABELS[skipped.name]} skipped: ${skipped.skipped}`)
  lines.push('', formatStoreTable([...point.workloads, point.singleRead]))
  if (point.failover !== null) lines.push('', formatFailover(point.failover))
  return lines
}

const COLUMNS = ['workload', 'target', 'ops/s', 'p50 µs', 'p95 µs', 'p99 µs', 'p99.9 µs', 'CPU µs/op', 'shardkv/target'] as const

export function formatStoreTable(workloads: readonly WorkloadMeasurement[]): string {
  const body: string[][] = []
  for (const workload of workloads) {
    for (const [index, measurement] of workload.targets.entries()) {
      const latency = measurement.latency
      body.push([
        index === 0 ? workload.workload : '',
        TARGET_LABELS[measurement.target],
        measurement.opsPerSecond === null ? 'n/a' : Math.round(measurement.opsPerSecond).toLocaleString('en-US'),
        formatUs(latency?.p50Us),
        formatUs(latency?.p95Us),
        formatUs(latency?.p99Us),
        formatUs(latency?.p999Us),
        formatUs(measurement.cpuUsPerOp),
        measurement.target === 'shardkv' ? '' : formatRatio(workload.shardkvOver[measurement.target] ?? null),
      ])
    }
  }
  const table = [[...COLUMNS], ...body]
  const widths = COLUMNS.map((_, column) => Math.max(...table.map((cells) => cells[column]!.length)))
  const render = (cells: readonly string[]): string => cells.map((cell, column) => (column <= 1 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ').trimEnd()
  return [render(COLUMNS), render(widths.map((width) => '-'.repeat(width))), ...body.map(render)].join('\n')
}

function formatFailover(failover: FailoverResult): string {
  if ('skipped' in failover) return `failover skipped: ${failover.skipped}`
  const { min, max } = failover.electionTimeoutMs
  const ms = (value: number | null): string => (value === null ? 'n/a' : `${value.toFixed(0)} ms`)
  const timeouts = failover.p50InElectionTimeouts === null ? '' : ` (${failover.p50InElectionTimeouts.toFixed(2)} election timeouts of ${min} ms; they run ${min}..${max} ms)`
  return `failover, leader killed to the next write on its shards, ${failover.trials} trials: p50 ${ms(failover.p50Ms)}${timeouts}, p95 ${ms(failover.p95Ms)}, max ${ms(failover.maxMs)}`
}

function formatUs(value: number | null | undefined): string {
  if (value === null || value === undefined) return 'n/a'
  return value >= 100 ? value.toFixed(0) : value.toFixed(1)
}

function formatTarget(target: TargetCheck): string {
  const status = target.met === null ? 'skipped' : target.met ? 'met' : 'NOT MET'
  const value =
    target.value === null
      ? 'n/a'
      : target.id.endsWith('Us')
        ? `${target.value.toFixed(1)} µs`
        : target.id.endsWith('ElectionTimeouts')
          ? target.value.toFixed(2)
          : `${target.value.toFixed(2)}x`
  const threshold = Number.isInteger(target.threshold) ? String(target.threshold) : target.threshold.toFixed(2)
  return `  [${status.padEnd(7)}] ${target.description} ${target.comparison} ${threshold}: ${value}`
}

function warmups(window: { readonly warmupMs: number; readonly afterLoadWarmupMs?: number }): string {
  const afterLoad = window.afterLoadWarmupMs ?? window.warmupMs
  return afterLoad === window.warmupMs ? `${window.warmupMs} ms warm-up` : `${window.warmupMs} ms warm-up, ${afterLoad} ms for shardkv after the load phase`
}
