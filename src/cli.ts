/**
 * The `shardkv` command. A tree of commands: a group (`bench`) dispatches to
 * its subcommands and may name a default one; a leaf declares its flags
 * (see cli-flags.ts) and runs. `--help` works at every level. Exit codes:
 * 0 success, 1 the command failed, 2 a usage mistake (unknown command or
 * flag, bad value).
 *
 * `main` takes its arguments and output streams as parameters, so tests run
 * it in-process; bin/shardkv.js passes the real ones.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { DISTRIBUTIONS, type Distribution } from './bench/store-key-choosers.js'
import { chaosCommand } from './chaos/chaos-command.js'
import { flagName, formatFlagHelp, parseFlags, UsageError, USAGE_EXIT_CODE, wantsHelp, type FlagSpecs, type FlagValues } from './cli-flags.js'
import { adminCommand } from './grpc/cli-admin.js'
import { keyValueCommands } from './grpc/cli-kv.js'
import { serveCommand } from './grpc/cli-serve.js'
import { progressLine } from './cli-progress.js'
import { CLUSTER_SHAPE_FLAGS } from './cluster-flags.js'

export interface CliIo {
  /** Writes to stdout (results only: a `--json` run writes one JSON document there and nothing else). */
  out(text: string): void
  /** Writes to stderr (errors, help on a usage mistake, progress). */
  err(text: string): void
  /** True when stderr is a terminal: only then is a progress line drawn. */
  readonly errIsTTY: boolean
}

interface LeafCommand<S extends FlagSpecs> {
  readonly name: string
  readonly summary: string
  readonly flags: S
  run(values: FlagValues<S>, io: CliIo): Promise<number>
}

export interface GroupCommand {
  readonly name: string
  readonly summary: string
  readonly subcommands: readonly Command[]
  /** Run when the group is given flags but no subcommand. */
  readonly defaultSubcommand?: string
}

/** A leaf that parses its own arguments, operands as well as flags (`shardkv get KEY --addr ...`), and prints its own help. */
export interface ArgsCommand {
  readonly name: string
  readonly summary: string
  runArgs(args: readonly string[], path: string, io: CliIo): Promise<number>
}

/** A leaf of any flag specs: `run` is called through `runLeaf`, which parses with the same specs. */
export type Command = LeafCommand<FlagSpecs> | GroupCommand | ArgsCommand

function leaf<S extends FlagSpecs>(command: LeafCommand<S>): LeafCommand<FlagSpecs> {
  return command as unknown as LeafCommand<FlagSpecs>
}

const RUNTIME_BENCH_FLAGS = {
  durationMs: { kind: 'integer', description: 'Measured window of each measurement.', default: 2000, min: 50, max: 600_000, unit: 'ms' },
  warmupMs: { kind: 'integer', description: 'Warm-up before each window.', defaultText: 'a quarter of the window, at most 250', min: 0, max: 60_000, unit: 'ms' },
  inflight: { kind: 'integer', description: 'Requests kept outstanding per echo worker when pipelined.', default: 256, min: 1, max: 16_384 },
  workers: { kind: 'integer', description: 'Echo workers driven concurrently (and as many driver workers).', default: 1, min: 1, max: 16 },
  spinMicros: { kind: 'integer', description: "The ring receivers' spin before sleeping.", defaultText: "the runtime's", min: 0, max: 10_000, unit: 'µs' },
  idleMs: { kind: 'integer', description: 'Window of the idle-cost measurement.', default: 2000, min: 100, max: 600_000, unit: 'ms' },
  skipIdle: { kind: 'boolean', description: 'Skip the idle-cost measurement.' },
  json: { kind: 'boolean', description: 'Print one JSON document on stdout instead of the table.' },
} as const satisfies FlagSpecs

const benchRuntime = leaf({
  name: 'runtime',
  summary: 'Ring transport vs raw postMessage vs comlink: latency, throughput, idle cost.',
  flags: RUNTIME_BENCH_FLAGS,
  async run(values, io) {
    const { runRuntimeBench } = await import('./bench/runtime-bench.js')
    const { formatReport } = await import('./bench/report.js')
    const progress = progressLine(io)
    const report = await runRuntimeBench(
      {
        durationMs: values.durationMs,
        warmupMs: values.warmupMs,
        inflight: values.inflight,
        workers: values.workers,
        spinMicros: values.spinMicros,
        idleMs: values.idleMs,
        skipIdle: values.skipIdle,
      },
      (step) => progress.show(`[${step.step}/${step.steps}] ${step.label}`),
    ).finally(() => progress.clear())
    io.out(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`)
    return 0
  },
})

const STORE_BENCH_FLAGS = {
  workload: { kind: 'string', description: 'YCSB workloads, run in this order on the same data (YCSB runs D, which inserts, last): a list of A, B, C, D, F.', default: 'A,B,C,F,D' },
  distribution: { kind: 'string', choices: DISTRIBUTIONS, description: 'Key chooser of every workload (zipfian: plain YCSB zipfian, theta 0.99).', defaultText: "each workload's own: latest for D, zipfian for the others" },
  records: { kind: 'integer', description: 'Records written in the load phase.', default: 10_000, min: 1, max: 1_000_000 },
  operations: { kind: 'integer', description: 'Operations per workload and target, all measured (instead of a time window).', defaultText: 'none: each run lasts --duration-ms', min: 1, max: 1_000_000_000 },
  durationMs: { kind: 'integer', description: 'Measured window per workload and target.', defaultText: '1000, unless --operations is given', min: 50, max: 600_000, unit: 'ms' },
  warmupMs: { kind: 'integer', description: 'Unmeasured warm-up before each window.', defaultText: 'a quarter of the window, at most 250', min: 0, max: 60_000, unit: 'ms' },
  valueBytes: { kind: 'integer', description: 'Size of every value written.', default: 100, min: 1, max: 1_048_576, unit: 'bytes' },
  target: { kind: 'string', description: 'shardkv to drive: grpc://host:port for a running "shardkv serve" (Pipeline streams; token from $SHARDKV_AUTH_TOKEN); the cluster-shape flags then do not apply.', defaultText: 'an embedded cluster' },
  groups: { kind: 'integer', description: 'Replica groups of the embedded cluster.', default: 3, min: 1, max: 64 },
  ...CLUSTER_SHAPE_FLAGS,
  clientThreads: { kind: 'integer', description: 'Client threads (a piscina pool) driving shardkv and Redis.', default: 1, min: 1, max: 16 },
  inflight: { kind: 'integer', description: 'Operations outstanding per client thread; the postMessage and comlink baselines get inflight x client-threads.', default: 256, min: 1, max: 1024 },
  compare: {
    kind: 'string',
    description: 'Baselines run after shardkv: a list of unreplicated (the same cluster, 1 replica per group, 1 master), map, postmessage, comlink, redis (redis only if redis-server is on PATH), or none.',
    default: 'unreplicated,map,postmessage,comlink,redis',
  },
  failover: { kind: 'integer', description: 'Leader kills timed at the end of the shardkv run (kill to the next successful write on its shards); 0 for none. Needs --replicas 3 or more.', default: 5, min: 0, max: 1000 },
  rounds: {
    kind: 'integer',
    description: 'Rounds of every target in turn, each started afresh; each figure is the median round (by throughput), so a noisy machine skews a ratio less.',
    default: 1,
    min: 1,
    max: 21,
  },
  seed: { kind: 'integer', description: 'Seed of the operation and key choosers.', default: 1, min: 0, max: 4_294_967_295 },
  sweep: { kind: 'string', description: 'FLAG=V1,V2,...: everything once per value of one of groups, shards, client-threads, inflight, records, value-bytes.', defaultText: 'none' },
  chart: { kind: 'string', description: 'Also write an SVG chart of throughput and p99 per target (and per sweep value) to this file.' },
  json: { kind: 'boolean', description: 'Print one JSON document on stdout instead of the table.' },
} as const satisfies FlagSpecs

const benchStore = leaf({
  name: 'store',
  summary: 'YCSB workloads (A, B, C, D, F) on the embedded cluster vs Map, postMessage, comlink and Redis baselines.',
  flags: STORE_BENCH_FLAGS,
  async run(values, io) {
    const { parseWorkloads } = await import('./bench/store-workloads.js')
    const { parseCompare, parseSweep, resolveWindow } = await import('./bench/store-options.js')
    const { runStoreBench, SWEEP_FLAGS } = await import('./bench/store-bench.js')
    const { formatStoreReport } = await import('./bench/store-report.js')
    const distribution = values.distribution as Distribution | undefined
    const sweepFlags = Object.fromEntries(SWEEP_FLAGS.map((key) => [key, flagName(key).slice(2)])) as Record<(typeof SWEEP_FLAGS)[number], string>
    const validate = (key: (typeof SWEEP_FLAGS)[number], text: string): number => parseFlags({ [key]: STORE_BENCH_FLAGS[key] }, [flagName(key), text], 'shardkv bench store --sweep')[key] as number
    const config = {
      cluster: { groups: values.groups, replicas: values.replicas, masters: values.masters, shards: values.shards },
      clientThreads: values.clientThreads,
      inflight: values.inflight,
      records: values.records,
      valueBytes: values.valueBytes,
      window: resolveWindow(values),
      workloads: parseWorkloads(values.workload, distribution),
      distribution: distribution ?? null,
      compare: parseCompare(values.compare),
      failoverTrials: values.failover,
      rounds: values.rounds,
      seed: values.seed,
      sweep: values.sweep === undefined ? null : parseSweep(values.sweep, sweepFlags, validate),
      system: values.target === undefined ? undefined : (await import('./grpc/bench-target.js')).grpcBenchSystem(values.target),
    }
    const progress = progressBar(io)
    const report = await runStoreBench(config, (step) => progress.show(step)).finally(() => progress.clear())
    if (values.chart !== undefined) {
      const { renderStoreChart } = await import('./bench/store-chart.js')
      writeFileSync(values.chart, renderStoreChart(report))
    }
    io.out(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatStoreReport(report)}\n`)
    return 0
  },
})

const ROOT: GroupCommand = {
  name: 'shardkv',
  summary: 'A sharded, replicated key-value store on worker threads.',
  subcommands: [
    {
      name: 'bench',
      summary: 'Benchmarks (ratios against baselines from the same run).',
      subcommands: [benchStore, benchRuntime],
      defaultSubcommand: 'store',
    },
    chaosCommand,
    serveCommand,
    ...keyValueCommands,
    adminCommand,
  ],
}

/** Runs the command line `args` (without node and script); resolves with the exit code. */
export async function main(args: readonly string[], io: CliIo): Promise<number> {
  try {
    return await dispatch(ROOT, 'shardkv', args, io)
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n`)
      return error.exitCode
    }
    io.err(`shardkv: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    return 1
  }
}

async function dispatch(command: Command, path: string, args: readonly string[], io: CliIo): Promise<number> {
  if ('runArgs' in command) return command.runArgs(args, path, io)
  if (!('subcommands' in command)) return runLeaf(command, path, args, io)
  const [first, ...rest] = args
  if (first === 'help' && command === ROOT) return dispatch(command, path, [...rest, '--help'], io)
  if (first === '--version' && command === ROOT && rest.length === 0) {
    io.out(`${version()}\n`)
    return 0
  }
  const sub = command.subcommands.find((candidate) => candidate.name === first)
  if (sub !== undefined) return dispatch(sub, `${path} ${sub.name}`, rest, io)
  if (first !== undefined && !first.startsWith('-')) throw new UsageError(`${path}: unknown command "${first}". Run "${path} --help" for the list.`)
  if (wantsHelp(args)) {
    io.out(groupHelp(command, path))
    return 0
  }
  const fallback = command.subcommands.find((candidate) => candidate.name === command.defaultSubcommand)
  if (fallback !== undefined) return dispatch(fallback, `${path} ${fallback.name}`, args, io)
  if (first !== undefined) throw new UsageError(`${path}: unknown flag ${first.split('=')[0]}. Run "${path} --help" for usage.`)
  io.err(groupHelp(command, path))
  return USAGE_EXIT_CODE
}

async function runLeaf(command: LeafCommand<FlagSpecs>, path: string, args: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(args)) {
    io.out(`Usage: ${path} [flags]\n\n${command.summary}\n\nFlags:\n${formatFlagHelp(command.flags)}\n`)
    return 0
  }
  return command.run(parseFlags(command.flags, args, path), io)
}

function groupHelp(command: GroupCommand, path: string): string {
  const width = Math.max(...command.subcommands.map((sub) => sub.name.length))
  const lines = command.subcommands.map((sub) => {
    const isDefault = sub.name === command.defaultSubcommand ? ' (default)' : ''
    return `  ${sub.name.padEnd(width)}   ${sub.summary}${isDefault}`
  })
  const usage = command.defaultSubcommand === undefined ? `${path} <command> [flags]` : `${path} [command] [flags]`
  const extra = command === ROOT ? '\n  --version   Print the version.' : ''
  return `Usage: ${usage}\n\n${command.summary}\n\nCommands:\n${lines.join('\n')}\n\nFlags:\n  --help, -h  Show this help; "${path} <command> --help" shows a command's.${extra}\n`
}

function version(): string {
  const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return packageJson.version
}


interface ProgressStep {
  readonly step: number
  readonly steps: number
  readonly label: string
  /** How long the step should take, to fill its share of the bar as it runs; null: unknown. */
  readonly windowMs: number | null
}

const PROGRESS_BAR_WIDTH = 30
const PROGRESS_REDRAW_MS = 100

/** A progress bar on stderr, redrawn in place while a step's window runs; nothing at all when stderr is not a terminal. */
function progressBar(io: CliIo): { show(step: ProgressStep): void; clear(): void } {
  const line = progressLine(io)
  if (!io.errIsTTY) return { show: () => {}, clear: () => {} }
  let current: ProgressStep | undefined
  let startedMs = 0
  const draw = (): void => {
    if (current === undefined) return
    const within = current.windowMs === null ? 0 : Math.min(1, (Date.now() - startedMs) / current.windowMs)
    const done = (current.step - 1 + within) / current.steps
    const filled = Math.round(done * PROGRESS_BAR_WIDTH)
    line.show(`[${'#'.repeat(filled)}${'.'.repeat(PROGRESS_BAR_WIDTH - filled)}] ${current.step}/${current.steps} ${current.label}`)
  }
  const timer = setInterval(draw, PROGRESS_REDRAW_MS)
  timer.unref()
  return {
    show: (step) => {
      current = step
      startedMs = Date.now()
      draw()
    },
    clear: () => {
      clearInterval(timer)
      line.clear()
    },
  }
}
