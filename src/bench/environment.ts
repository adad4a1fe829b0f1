/**
 * The machine a benchmark run measured on. Spinning receivers need a free
 * core each, so other load changes every figure: the load average at the
 * start and end of a run goes into its report.
 */
import { cpus, loadavg } from 'node:os'
import type { BenchEnvironment } from './report.js'

export function benchEnvironment(loadAverageAtStart: number): BenchEnvironment {
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
