/**
 * The store benchmark's report: pure functions from measurements to ratios,
 * target checks, a text table and the JSON document. No I/O, no clock.
 *
 * Ratios are shardkv / baseline of ops/s (higher favours shardkv).
 */
import { formatRatio, formatValue, ratio, summarizeLatency, type BenchEnvironment, type TargetCheck } from './report.js'
import type { StoreLoadResult } from './store-drive.js'

export interface StoreThroughput {
  readonly opsPerSecond: number | null
  readonly completed: number
}

export interface StoreLatencyThroughput extends StoreThroughput {
  readonly p50Us: number | null
  readonly p99Us: number | null
}

export interface WorkloadMeasurement {
  readonly workload: string
  readonly readPercent: number
  readonly shardkv: StoreLatencyThroughput
  readonly postMessage: StoreLatencyThroughput
  /** A plain Map on the main thread: no latency worth reporting (sub-µs, synchronous). */
  readonly map: StoreThroughput
  readonly shardkvOverPostMessage: number | null
  readonly shardkvOverMap: number | null
}

export interface StoreBenchConfigSummary {
  readonly groups: number
  readonly replicas: number
  readonly masters: number
  readonly shards: number
  readonly clientThreads: number
  readonly inflight: number
  /** In flight against the postMessage worker: inflight * clientThreads, the same total depth. */
  readonly postMessageInflight: number
  readonly keys: number
  readonly valueBytes: number
  readonly durationMs: number
  readonly warmupMs: number
  readonly workloads: readonly string[]
}

export interface StoreBenchReport {
  readonly benchmark: 'store'
  readonly environment: BenchEnvironment
  readonly config: StoreBenchConfigSummary
  /** Milliseconds the load phase (a put of every key) took on shardkv. */
  readonly loadPhaseMs: number
  readonly workloads: readonly WorkloadMeasurement[]
  readonly targets: readonly TargetCheck[]
}

/** The target: read-only shardkv ops/s at least this many times the postMessage Map worker's. */
export const READ_ONLY_OVER_POSTMESSAGE_TARGET = 3

/** Ops/s and latency over concurrent runs (client threads): rates add up, samples pool. */
export function summarizeStoreRuns(runs: readonly StoreLoadResult[]): StoreLatencyThroughput {
  let completed = 0
  let opsPerSecond: number | null = runs.length === 0 ? null : 0
  for (const run of runs) {
    completed += run.completed
    opsPerSecond = opsPerSecond !== null && run.elapsedMs > 0 ? opsPerSecond + (run.completed * 1000) / run.elapsedMs : null
  }
  const pooled = new Float64Array(runs.reduce((sum, run) => sum + run.latencySamplesUs.length, 0))
  let offset = 0
  for (const run of runs) {
    pooled.set(run.latencySamplesUs, offset)
    offset += run.latencySamplesUs.length
  }
  const latency = summarizeLatency(pooled, completed)
  return { opsPerSecond, completed, p50Us: latency.p50Us, p99Us: latency.p99Us }
}

export function measureWorkload(
  workload: { readonly name: string; readonly readPercent: number },
  shardkv: StoreLatencyThroughput,
  postMessage: StoreLatencyThroughput,
  map: StoreThroughput,
): WorkloadMeasurement {
  return {
    workload: workload.name,
    readPercent: workload.readPercent,
    shardkv,
    postMessage,
    map,
    shardkvOverPostMessage: ratio(shardkv.opsPerSecond, postMessage.opsPerSecond),
    shardkvOverMap: ratio(shardkv.opsPerSecond, map.opsPerSecond),
  }
}

/** The read-only target, checked on the first workload with 100 % reads; skipped when there is none. */
export function checkStoreTargets(workloads: readonly WorkloadMeasurement[]): TargetCheck[] {
  const readOnly = workloads.find((measurement) => measurement.readPercent === 100)
  const value = readOnly === undefined ? null : readOnly.shardkvOverPostMessage
  return [
    {
      id: 'readOnly.shardkvOverPostMessage',
      description: 'read-only ops/s: shardkv / postMessage',
      comparison: '>=',
      threshold: READ_ONLY_OVER_POSTMESSAGE_TARGET,
      value,
      met: value === null ? null : value >= READ_ONLY_OVER_POSTMESSAGE_TARGET,
    },
  ]
}

export function formatStoreReport(report: StoreBenchReport): string {
  const { environment: env, config } = report
  const lines = [
    `shardkv store benchmark: node ${env.node}, ${env.platform}/${env.arch}, ${env.cpus} CPUs (${env.cpuModel}), ` +
      `load average ${env.loadAverage1mAtStart.toFixed(2)} at start, ${env.loadAverage1mAtEnd.toFixed(2)} at end`,
    `cluster: ${config.groups} group(s) x ${config.replicas} replica(s), ${config.masters} master(s), ${config.shards} shards; ` +
      `${config.clientThreads} client thread(s) x ${config.inflight} in flight (postMessage: ${config.postMessageInflight} in flight)`,
    `${config.keys} keys of ${config.valueBytes} B (loaded in ${report.loadPhaseMs.toFixed(0)} ms); window ${config.durationMs} ms (+${config.warmupMs} ms warm-up) per workload and contender`,
    '',
    formatStoreTable(report.workloads),
    '',
    'targets:',
    ...report.targets.map(formatStoreTarget),
  ]
  return lines.join('\n')
}

export function formatStoreTable(workloads: readonly WorkloadMeasurement[]): string {
  const header = ['workload', 'shardkv ops/s', 'p50 µs', 'p99 µs', 'postMessage ops/s', 'p50 µs', 'p99 µs', 'Map ops/s', 'shardkv/postMessage', 'shardkv/Map']
  const body = workloads.map((w) => [
    w.workload,
    formatValue(w.shardkv.opsPerSecond, 'req/s'),
    formatValue(w.shardkv.p50Us, 'µs'),
    formatValue(w.shardkv.p99Us, 'µs'),
    formatValue(w.postMessage.opsPerSecond, 'req/s'),
    formatValue(w.postMessage.p50Us, 'µs'),
    formatValue(w.postMessage.p99Us, 'µs'),
    formatValue(w.map.opsPerSecond, 'req/s'),
    formatRatio(w.shardkvOverPostMessage),
    formatRatio(w.shardkvOverMap),
  ])
  const table = [header, ...body]
  const widths = header.map((_, column) => Math.max(...table.map((cells) => cells[column]!.length)))
  const render = (cells: readonly string[]): string => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ')
  return [render(header), render(widths.map((width) => '-'.repeat(width))), ...body.map(render)].join('\n')
}

function formatStoreTarget(target: TargetCheck): string {
  const status = target.met === null ? 'skipped' : target.met ? 'met' : 'NOT MET'
  const value = target.value === null ? 'n/a' : `${target.value.toFixed(2)}x`
  return `  [${status.padEnd(7)}] ${target.description} ${target.comparison} ${target.threshold}: ${value}`
}
