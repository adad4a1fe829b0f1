/**
 * The runtime benchmark's report: pure functions from measurements to
 * numbers (percentiles, ratios, target checks), to a text table and to the
 * JSON document. No I/O and no clock here, so every number is testable.
 *
 * Ratios are always ring / baseline of the row's value. For throughput
 * (higher is better) a ratio above 1 favours the ring; for latency (lower
 * is better) a ratio below 1 does. Each row says which.
 */

export const TRANSPORTS = ['ring', 'postMessage', 'comlink'] as const
export type TransportName = (typeof TRANSPORTS)[number]

export const PATHS = ['mainToWorker', 'workerToWorker'] as const
export type PathName = (typeof PATHS)[number]

export const PATH_LABELS: Readonly<Record<PathName, string>> = {
  mainToWorker: 'main<->worker',
  workerToWorker: 'worker<->worker',
}

export interface LatencySummary {
  /** Round trips measured (all of them, not only the sampled ones). */
  readonly roundTrips: number
  /** Samples the percentiles were computed from. */
  readonly samples: number
  readonly p50Us: number | null
  readonly p99Us: number | null
}

export interface ThroughputSummary {
  readonly completed: number
  readonly elapsedMs: number
  readonly requestsPerSecond: number | null
}

export interface IdleSummary {
  readonly actors: number
  readonly windowMs: number
  /** Process CPU (user + system, all threads) over the window, as % of one core. */
  readonly cpuPercentOfCore: number
}

export interface Measurements {
  readonly pingPong: Readonly<Record<PathName, Readonly<Record<TransportName, LatencySummary>>>>
  readonly pipelined: Readonly<Record<PathName, Readonly<Record<TransportName, ThroughputSummary>>>>
  /** Null when skipped. */
  readonly idle: IdleSummary | null
}

export interface ReportRow {
  readonly id: string
  readonly label: string
  readonly unit: 'µs' | 'req/s'
  readonly better: 'lower' | 'higher'
  readonly values: Readonly<Record<TransportName, number | null>>
  readonly ringOverPostMessage: number | null
  readonly ringOverComlink: number | null
}

export interface TargetCheck {
  readonly id: string
  readonly description: string
  readonly comparison: '>=' | '<=' | '<'
  readonly threshold: number
  /** The measured value; null when not measured (skipped) or not computable. */
  readonly value: number | null
  /** Null when not measured. */
  readonly met: boolean | null
}

export interface BenchEnvironment {
  readonly node: string
  readonly platform: string
  readonly arch: string
  readonly cpus: number
  readonly cpuModel: string
  /**
   * The 1-minute load average when the run began and ended. Spinning
   * receivers need a free core each: other load on the machine changes the
   * ring's numbers (and the baselines') a lot, so the report says how busy
   * the machine was.
   */
  readonly loadAverage1mAtStart: number
  readonly loadAverage1mAtEnd: number
}

export interface BenchConfigSummary {
  readonly durationMs: number
  readonly warmupMs: number
  readonly inflight: number
  readonly workers: number
  /** Null: the runtime's default. */
  readonly spinMicros: number | null
  readonly idleMs: number
  readonly skipIdle: boolean
}

export interface RuntimeBenchReport {
  readonly benchmark: 'runtime'
  readonly environment: BenchEnvironment
  readonly config: BenchConfigSummary
  readonly measurements: Measurements
  readonly rows: readonly ReportRow[]
  readonly targets: readonly TargetCheck[]
}

/** The targets. */
export const TARGETS = {
  pipelinedOverPostMessage: 3,
  pipelinedOverComlink: 10,
  pingPongP50Us: 10,
  idleActors: 12,
  idleCpuPercent: 2,
} as const

/**
 * Nearest-rank percentile: the smallest sample with at least `percent` % of
 * the samples at or below it. `sorted` must be ascending; null when empty.
 */
export function percentile(sorted: ArrayLike<number>, percent: number): number | null {
  if (!(percent >= 0 && percent <= 100)) throw new RangeError(`percentile must be in 0..100, got ${percent}`)
  if (sorted.length === 0) return null
  const rank = Math.ceil((percent / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}

/** p50 and p99 of round-trip samples (µs), in any order. */
export function summarizeLatency(samplesUs: Float64Array, roundTrips: number): LatencySummary {
  const sorted = samplesUs.slice().sort()
  return { roundTrips, samples: sorted.length, p50Us: percentile(sorted, 50), p99Us: percentile(sorted, 99) }
}

/** Requests per second over concurrent runs: the sum of each run's own rate; null with no run. */
export function summarizeThroughput(runs: readonly { readonly completed: number; readonly elapsedMs: number }[]): ThroughputSummary {
  let completed = 0
  let elapsedMs = 0
  let requestsPerSecond: number | null = runs.length === 0 ? null : 0
  for (const run of runs) {
    completed += run.completed
    elapsedMs = Math.max(elapsedMs, run.elapsedMs)
    requestsPerSecond = run.elapsedMs > 0 && requestsPerSecond !== null ? requestsPerSecond + (run.completed * 1000) / run.elapsedMs : null
  }
  return { completed, elapsedMs, requestsPerSecond }
}

/** `numerator / denominator`, or null when either is missing or the denominator is not positive. */
export function ratio(numerator: number | null, denominator: number | null): number | null {
  if (numerator === null || denominator === null || !(denominator > 0) || !Number.isFinite(numerator)) return null
  return numerator / denominator
}

export function buildRows(measurements: Measurements): ReportRow[] {
  const rows: ReportRow[] = []
  for (const [key, statistic] of [['p50Us', 'p50'], ['p99Us', 'p99']] as const) {
    for (const path of PATHS) {
      rows.push(row(`pingPong.${statistic}.${path}`, `ping-pong ${statistic} ${PATH_LABELS[path]}`, 'µs', 'lower', (transport) => measurements.pingPong[path][transport][key]))
    }
  }
  for (const path of PATHS) {
    rows.push(row(`pipelined.${path}`, `pipelined ${PATH_LABELS[path]}`, 'req/s', 'higher', (transport) => measurements.pipelined[path][transport].requestsPerSecond))
  }
  return rows
}

function row(id: string, label: string, unit: ReportRow['unit'], better: ReportRow['better'], valueOf: (transport: TransportName) => number | null): ReportRow {
  const values = { ring: valueOf('ring'), postMessage: valueOf('postMessage'), comlink: valueOf('comlink') }
  return {
    id,
    label,
    unit,
    better,
    values,
    ringOverPostMessage: ratio(values.ring, values.postMessage),
    ringOverComlink: ratio(values.ring, values.comlink),
  }
}

export function checkTargets(measurements: Measurements): TargetCheck[] {
  const checks: TargetCheck[] = []
  for (const path of PATHS) {
    const rates = measurements.pipelined[path]
    const label = PATH_LABELS[path]
    checks.push(
      check(`pipelined.${path}.ringOverPostMessage`, `pipelined ${label}: ring / postMessage`, '>=', TARGETS.pipelinedOverPostMessage, ratio(rates.ring.requestsPerSecond, rates.postMessage.requestsPerSecond)),
      check(`pipelined.${path}.ringOverComlink`, `pipelined ${label}: ring / comlink`, '>=', TARGETS.pipelinedOverComlink, ratio(rates.ring.requestsPerSecond, rates.comlink.requestsPerSecond)),
    )
  }
  for (const path of PATHS) {
    checks.push(check(`pingPong.p50.${path}.ring`, `ping-pong p50 ${PATH_LABELS[path]}: ring (µs)`, '<=', TARGETS.pingPongP50Us, measurements.pingPong[path].ring.p50Us))
  }
  const idle = measurements.idle
  checks.push(check('idle.cpuPercentOfCore', `idle: ${TARGETS.idleActors} actors (% of one core)`, '<', TARGETS.idleCpuPercent, idle === null ? null : idle.cpuPercentOfCore))
  return checks
}

function check(id: string, description: string, comparison: TargetCheck['comparison'], threshold: number, value: number | null): TargetCheck {
  let met: boolean | null = null
  if (value !== null) {
    met = comparison === '>=' ? value >= threshold : comparison === '<=' ? value <= threshold : value < threshold
  }
  return { id, description, comparison, threshold, value, met }
}

export function buildReport(environment: BenchEnvironment, config: BenchConfigSummary, measurements: Measurements): RuntimeBenchReport {
  return { benchmark: 'runtime', environment, config, measurements, rows: buildRows(measurements), targets: checkTargets(measurements) }
}

/** The report as text: a header, the table with ratios, idle cost, and the targets. */
export function formatReport(report: RuntimeBenchReport): string {
  const { environment: env, config } = report
  const spin = config.spinMicros === null ? 'runtime default' : `${config.spinMicros} µs`
  const lines = [
    `shardkv runtime benchmark: node ${env.node}, ${env.platform}/${env.arch}, ${env.cpus} CPUs (${env.cpuModel}), ` +
      `load average ${env.loadAverage1mAtStart.toFixed(2)} at start, ${env.loadAverage1mAtEnd.toFixed(2)} at end`,
    `window ${config.durationMs} ms (+${config.warmupMs} ms warm-up) per measurement, ${config.inflight} in flight, ${config.workers} echo worker(s), spin ${spin}`,
    '',
    formatTable(report.rows),
    '',
    report.measurements.idle === null
      ? 'idle: skipped'
      : `idle: ${report.measurements.idle.actors} actors use ${formatPercent(report.measurements.idle.cpuPercentOfCore)} of one core (process CPU over ${report.measurements.idle.windowMs} ms)`,
    '',
    'targets:',
    ...report.targets.map(formatTarget),
  ]
  return lines.join('\n')
}

export function formatTable(rows: readonly ReportRow[]): string {
  const header = ['measurement', 'unit', 'ring', 'postMessage', 'comlink', 'ring/postMessage', 'ring/comlink', 'better']
  const body = rows.map((r) => [
    r.label,
    r.unit,
    formatValue(r.values.ring, r.unit),
    formatValue(r.values.postMessage, r.unit),
    formatValue(r.values.comlink, r.unit),
    formatRatio(r.ringOverPostMessage),
    formatRatio(r.ringOverComlink),
    r.better,
  ])
  const table = [header, ...body]
  const widths = header.map((_, column) => Math.max(...table.map((cells) => cells[column]!.length)))
  const render = (cells: readonly string[]): string =>
    cells.map((cell, column) => (column <= 1 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ').trimEnd()
  return [render(header), render(widths.map((width) => '-'.repeat(width))), ...body.map(render)].join('\n')
}

function formatTarget(target: TargetCheck): string {
  const status = target.met === null ? 'skipped' : target.met ? 'met' : 'NOT MET'
  const value = target.value === null ? 'n/a' : formatNumber(target.value)
  return `  [${status.padEnd(7)}] ${target.description} ${target.comparison} ${target.threshold}: ${value}`
}

export function formatValue(value: number | null, unit: ReportRow['unit']): string {
  if (value === null) return 'n/a'
  return unit === 'req/s' ? Math.round(value).toLocaleString('en-US') : value.toFixed(1)
}

export function formatRatio(value: number | null): string {
  if (value === null) return 'n/a'
  return `${value >= 10 ? value.toFixed(1) : value.toFixed(2)}x`
}

function formatPercent(value: number): string {
  return `${value.toFixed(2)} %`
}

function formatNumber(value: number): string {
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2)
}
