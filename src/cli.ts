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
import { readFileSync } from 'node:fs'
import { formatFlagHelp, parseFlags, UsageError, USAGE_EXIT_CODE, wantsHelp, type FlagSpecs, type FlagValues } from './cli-flags.js'

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

interface GroupCommand {
  readonly name: string
  readonly summary: string
  readonly subcommands: readonly Command[]
  /** Run when the group is given flags but no subcommand. */
  readonly defaultSubcommand?: string
}

/** A leaf of any flag specs: `run` is called through `runLeaf`, which parses with the same specs. */
type Command = LeafCommand<FlagSpecs> | GroupCommand

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
  groups: { kind: 'integer', description: 'Replica groups of the embedded cluster.', default: 3, min: 1, max: 64 },
  replicas: { kind: 'integer', description: 'Storage nodes per group.', default: 1, min: 1, max: 1 },
  masters: { kind: 'integer', description: 'Shard-master replicas.', default: 1, min: 1, max: 1 },
  shards: { kind: 'integer', description: 'Hash slots.', default: 64, min: 1, max: 4096 },
  clientThreads: { kind: 'integer', description: 'Worker threads each running a shardkv client and its load loop.', default: 1, min: 1, max: 16 },
  inflight: { kind: 'integer', description: 'Operations kept outstanding per client thread.', default: 256, min: 1, max: 1024 },
  keys: { kind: 'integer', description: 'Distinct keys, all put in the load phase.', default: 10_000, min: 1, max: 1_000_000 },
  valueBytes: { kind: 'integer', description: 'Size of every value put.', default: 100, min: 1, max: 1_048_576, unit: 'bytes' },
  durationMs: { kind: 'integer', description: 'Measured window per workload and contender.', default: 2000, min: 50, max: 600_000, unit: 'ms' },
  workloads: { kind: 'string', description: 'Comma-separated: read, write or R/W read/put percentages.', default: 'read,95/5,50/50' },
  json: { kind: 'boolean', description: 'Print one JSON document on stdout instead of the table.' },
} as const satisfies FlagSpecs

const benchStore = leaf({
  name: 'store',
  summary: 'The embedded cluster under read/put workloads vs a postMessage Map worker and a plain Map.',
  flags: STORE_BENCH_FLAGS,
  async run(values, io) {
    const { parseWorkloads } = await import('./bench/store-workload.js')
    const { runStoreBench } = await import('./bench/store-bench.js')
    const { formatStoreReport } = await import('./bench/store-report.js')
    const workloads = parseWorkloads(values.workloads)
    const progress = progressLine(io)
    const report = await runStoreBench({ ...values, workloads }, (label) => progress.show(label)).finally(() => progress.clear())
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

interface ProgressLine {
  show(text: string): void
  clear(): void
}

/** One line on stderr, redrawn in place; nothing at all when stderr is not a terminal. */
function progressLine(io: CliIo): ProgressLine {
  if (!io.errIsTTY) return { show: () => {}, clear: () => {} }
  let drawn = false
  return {
    show: (text) => {
      io.err(`\r\x1b[2K${text}`)
      drawn = true
    },
    clear: () => {
      if (drawn) io.err('\r\x1b[2K')
      drawn = false
    },
  }
}
