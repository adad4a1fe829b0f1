/**
 * The store benchmark's flags that need more than a range check: the run
 * window (a duration or an operation count, not both), the --compare list
 * and the --sweep flag. Pure: a mistake is a UsageError naming the flag.
 */
import { UsageError } from '../cli-flags.js'
import type { Sweep, SweepFlag } from './store-bench.js'
import type { RunWindow } from './store-drive.js'
import { BASELINE_NAMES, type BaselineName } from './store-targets.js'

export const DEFAULT_DURATION_MS = 1000
/** Warm-up by default: a quarter of the window, at most this. */
export const MAX_DEFAULT_WARMUP_MS = 250
/**
 * Default warm-up of shardkv's first workload after the load phase (at most
 * the window, so a short trial run stays short; the baselines keep the usual
 * warm-up, they have nothing to settle): a replicated
 * cluster is still settling then (followers working off the load's backlog,
 * snapshots of the new data, code paths the load did not run being
 * compiled in each of its threads). With 250 ms, workload A run first came
 * out at 23-24k ops/s and run second at 39-44k.
 */
export const AFTER_LOAD_WARMUP_MS = 1000
/** Most values one --sweep takes: each is a whole run of every target. */
export const MAX_SWEEP_VALUES = 16

export interface WindowFlags {
  readonly operations: number | undefined
  readonly durationMs: number | undefined
  readonly warmupMs: number | undefined
}

export function resolveWindow(flags: WindowFlags): RunWindow {
  if (flags.operations !== undefined) {
    if (flags.durationMs !== undefined) throw new UsageError('--operations and --duration-ms are exclusive: a run is a number of operations or a time window')
    if (flags.warmupMs !== undefined) throw new UsageError('--warmup-ms applies to a time window, not to --operations (every operation is measured)')
    return { kind: 'operations', operations: flags.operations }
  }
  const durationMs = flags.durationMs ?? DEFAULT_DURATION_MS
  if (flags.warmupMs !== undefined) return { kind: 'duration', durationMs, warmupMs: flags.warmupMs, afterLoadWarmupMs: flags.warmupMs }
  const warmupMs = Math.min(MAX_DEFAULT_WARMUP_MS, Math.floor(durationMs / 4))
  return { kind: 'duration', durationMs, warmupMs, afterLoadWarmupMs: Math.max(warmupMs, Math.min(AFTER_LOAD_WARMUP_MS, durationMs)) }
}

/** `map,redis` -> the baselines; `none` -> no baseline. */
export function parseCompare(text: string): BaselineName[] {
  if (text.trim() === 'none') return []
  const seen = new Set<BaselineName>()
  for (const entry of text.split(',').map((name) => name.trim().toLowerCase())) {
    if (!isBaselineName(entry)) throw new UsageError(`--compare: unknown baseline "${entry}" (expected a list of ${BASELINE_NAMES.join(', ')}, or none)`)
    if (seen.has(entry)) throw new UsageError(`--compare: ${entry} is given more than once`)
    seen.add(entry)
  }
  return [...seen]
}

function isBaselineName(name: string): name is BaselineName {
  return (BASELINE_NAMES as readonly string[]).includes(name)
}

/**
 * `client-threads=1,2,4` -> { flag: 'clientThreads', values: [1, 2, 4] }.
 * `validate(flag, text)` checks one value as the flag itself would (range
 * and all) and returns it: a sweep cannot reach a value its flag refuses.
 */
export function parseSweep(text: string, flags: Readonly<Record<SweepFlag, string>>, validate: (flag: SweepFlag, text: string) => number): Sweep {
  const match = /^([a-z-]+)=(.+)$/.exec(text.trim())
  const flagNames = Object.values(flags)
  if (match === null) throw new UsageError(`--sweep: expected FLAG=V1,V2,... with FLAG one of ${flagNames.join(', ')}, got "${text}"`)
  const flag = (Object.keys(flags) as SweepFlag[]).find((key) => flags[key] === match[1])
  if (flag === undefined) throw new UsageError(`--sweep: cannot sweep "${match[1]}" (one of ${flagNames.join(', ')})`)
  const texts = match[2]!.split(',').map((value) => value.trim())
  if (texts.length > MAX_SWEEP_VALUES) throw new UsageError(`--sweep: at most ${MAX_SWEEP_VALUES} values, got ${texts.length}`)
  const values = texts.map((value) => validate(flag, value))
  if (new Set(values).size !== values.length) throw new UsageError(`--sweep: a value of ${match[1]} is given more than once`)
  return { flag, values }
}
