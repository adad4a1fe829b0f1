/**
 * The store benchmark's chart: a hand-written SVG (no dependency), pure
 * from the report. One row per workload (and the single-read probe), two
 * panels per row: throughput (ops/s) and p99 latency (µs), each a group of
 * bars per sweep value (one group without --sweep), a bar per target.
 *
 * Both axes are logarithmic: the Map's tens of millions of ops/s and
 * Redis's tens of thousands would leave one of them invisible on a linear
 * axis. Every bar carries its value, so nothing has to be read off the axis.
 */
import type { StoreBenchReport, TargetMeasurement } from './store-report.js'
import { TARGET_LABELS, TARGET_NAMES, type TargetName } from './store-targets.js'

const COLORS: Readonly<Record<TargetName, string>> = {
  shardkv: '#1f77b4',
  unreplicated: '#2ca02c',
  map: '#7f7f7f',
  postmessage: '#ff7f0e',
  comlink: '#9467bd',
  redis: '#d62728',
}

const WIDTH = 1000
const MARGIN = 20
const HEADER_HEIGHT = 70
const ROW_HEIGHT = 225
const PANEL_GAP = 40
const AXIS_WIDTH = 50
const PLOT_TOP = 48
const PLOT_BOTTOM = 40
const BAR_GAP = 2
const GROUP_GAP = 14
const FONT = 'font-family="Helvetica, Arial, sans-serif"'

type Metric = 'throughput' | 'p99'

interface Row {
  readonly title: string
  /** Per sweep point: its label and the targets' measurements. */
  readonly groups: readonly { readonly label: string; readonly measurements: readonly TargetMeasurement[] }[]
}

export function renderStoreChart(report: StoreBenchReport): string {
  const rows = rowsOf(report)
  const targets = TARGET_NAMES.filter((name) => rows.some((row) => row.groups.some((group) => group.measurements.some((measurement) => measurement.target === name))))
  const height = HEADER_HEIGHT + rows.length * ROW_HEIGHT + MARGIN
  const panelWidth = (WIDTH - 2 * MARGIN - PANEL_GAP) / 2
  const throughputScale = logScale(rows, 'throughput')
  const p99Scale = logScale(rows, 'p99')
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT} font-size="11">`,
    `<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    text(MARGIN, 24, title(report), 'start', 15, 'bold'),
    legend(targets, MARGIN, 48),
  ]
  rows.forEach((row, index) => {
    const top = HEADER_HEIGHT + index * ROW_HEIGHT
    parts.push(text(MARGIN, top + 14, row.title, 'start', 12, 'bold'))
    parts.push(panel(row, targets, 'throughput', throughputScale, MARGIN, top, panelWidth))
    parts.push(panel(row, targets, 'p99', p99Scale, MARGIN + panelWidth + PANEL_GAP, top, panelWidth))
  })
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}

function title(report: StoreBenchReport): string {
  const first = report.points[0]
  const shape = first === undefined ? '' : `, ${first.config.groups} groups, ${first.config.clientThreads} client thread(s) x ${first.config.inflight} in flight`
  const sweep = first?.sweep === null || first === undefined ? '' : `, sweep ${first.sweep.flag}`
  return `shardkv bench store: ${report.environment.cpus} CPUs, node ${report.environment.node}${shape}${sweep}`
}

function rowsOf(report: StoreBenchReport): Row[] {
  const names = [...(report.points[0]?.workloads.map((workload) => workload.workload) ?? []), 'single-read']
  return names.map((name) => ({
    title: name === 'single-read' ? 'single read (workload C, 1 in flight)' : `workload ${name}: ${report.points[0]!.workloads.find((workload) => workload.workload === name)!.description}`,
    groups: report.points.map((point) => ({
      label: point.sweep === null ? '' : `${point.sweep.flag}=${point.sweep.value}`,
      measurements: (name === 'single-read' ? point.singleRead : point.workloads.find((workload) => workload.workload === name))?.targets ?? [],
    })),
  }))
}

function valueOf(measurement: TargetMeasurement, metric: Metric): number | null {
  return metric === 'throughput' ? measurement.opsPerSecond : (measurement.latency?.p99Us ?? null)
}

interface LogScale {
  readonly minExponent: number
  readonly maxExponent: number
}

/** Whole decades around every value of `metric` in the chart. */
function logScale(rows: readonly Row[], metric: Metric): LogScale {
  const values = rows.flatMap((row) => row.groups.flatMap((group) => group.measurements.map((measurement) => valueOf(measurement, metric)))).filter((value): value is number => value !== null && value > 0)
  if (values.length === 0) return { minExponent: 0, maxExponent: 1 }
  const minExponent = Math.floor(Math.log10(Math.min(...values)))
  const maxExponent = Math.max(minExponent + 1, Math.ceil(Math.log10(Math.max(...values))))
  return { minExponent, maxExponent }
}

function panel(row: Row, targets: readonly TargetName[], metric: Metric, scale: LogScale, left: number, top: number, width: number): string {
  const plotLeft = left + AXIS_WIDTH
  const plotWidth = width - AXIS_WIDTH
  const plotTop = top + PLOT_TOP
  const plotHeight = ROW_HEIGHT - PLOT_TOP - PLOT_BOTTOM
  const y = (value: number): number => plotTop + plotHeight * (1 - (Math.log10(value) - scale.minExponent) / (scale.maxExponent - scale.minExponent))
  const parts = [text(left + width / 2, top + 32, metric === 'throughput' ? 'throughput, ops/s (log)' : 'p99 latency, µs (log)', 'middle', 11)]
  for (let exponent = scale.minExponent; exponent <= scale.maxExponent; exponent++) {
    const lineY = y(10 ** exponent)
    parts.push(`<line x1="${plotLeft}" y1="${fixed(lineY)}" x2="${plotLeft + plotWidth}" y2="${fixed(lineY)}" stroke="#dddddd"/>`)
    parts.push(text(plotLeft - 4, lineY + 4, compact(10 ** exponent), 'end', 10))
  }
  const groupWidth = plotWidth / row.groups.length
  const barWidth = Math.max(4, (groupWidth - GROUP_GAP) / targets.length - BAR_GAP)
  row.groups.forEach((group, groupIndex) => {
    const groupLeft = plotLeft + groupIndex * groupWidth + GROUP_GAP / 2
    targets.forEach((target, targetIndex) => {
      const measurement = group.measurements.find((candidate) => candidate.target === target)
      const value = measurement === undefined ? null : valueOf(measurement, metric)
      const x = groupLeft + targetIndex * (barWidth + BAR_GAP)
      if (value === null || value <= 0) {
        if (measurement !== undefined) parts.push(text(x + barWidth / 2, plotTop + plotHeight - 3, 'n/a', 'middle', 9))
        return
      }
      const barTop = y(value)
      parts.push(`<rect x="${fixed(x)}" y="${fixed(barTop)}" width="${fixed(barWidth)}" height="${fixed(plotTop + plotHeight - barTop)}" fill="${COLORS[target]}"><title>${escape(`${TARGET_LABELS[target]}: ${compact(value)}`)}</title></rect>`)
      parts.push(text(x + barWidth / 2, barTop - 3, compact(value), 'middle', 9))
    })
    if (group.label !== '') parts.push(text(groupLeft + (groupWidth - GROUP_GAP) / 2, plotTop + plotHeight + 14, group.label, 'middle', 10))
  })
  parts.push(`<line x1="${plotLeft}" y1="${plotTop + plotHeight}" x2="${plotLeft + plotWidth}" y2="${plotTop + plotHeight}" stroke="#333333"/>`)
  return `<g>\n${parts.join('\n')}\n</g>`
}

function legend(targets: readonly TargetName[], left: number, top: number): string {
  const items = targets.map((target, index) => {
    const x = left + index * 120
    return `<rect x="${x}" y="${top - 9}" width="10" height="10" fill="${COLORS[target]}"/>\n${text(x + 14, top, TARGET_LABELS[target], 'start', 11)}`
  })
  return `<g>\n${items.join('\n')}\n</g>`
}

function text(x: number, y: number, content: string, anchor: 'start' | 'middle' | 'end', size: number, weight: 'normal' | 'bold' = 'normal'): string {
  return `<text x="${fixed(x)}" y="${fixed(y)}" text-anchor="${anchor}" font-size="${size}" font-weight="${weight}">${escape(content)}</text>`
}

/** 1234567 -> 1.2M, 45678 -> 45.7k, 12.3 -> 12.3. */
export function compact(value: number): string {
  const units: readonly [number, string][] = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ]
  for (const [size, suffix] of units) if (value >= size) return `${trim(value / size)}${suffix}`
  return trim(value)
}

function trim(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)
}

function fixed(value: number): string {
  return value.toFixed(1)
}

function escape(content: string): string {
  return content.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}
