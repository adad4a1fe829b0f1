/**
 * `shardkv chaos`: the command-line face of chaos-run.ts. Exit 0 only when
 * the history is linearizable, no acknowledged write was lost and every key
 * was read back; 1 otherwise; 2 on a usage mistake (cli.ts).
 *
 * The run itself is imported on first use, so `shardkv --help` does not load
 * the cluster.
 */
import { randomInt } from 'node:crypto'
import type { ArgsCommand } from '../cli.js'
import { progressLine } from '../cli-progress.js'
import { formatFlagHelp, parseFlags, UsageError, wantsHelp, type FlagSpecs } from '../cli-flags.js'

const MAX_SEED = 4_294_967_295

export const CHAOS_FLAGS = {
  seed: { kind: 'integer', description: 'Seed of the fault schedule and of the workload choices; printed so a run can be repeated.', defaultText: 'random', min: 0, max: MAX_SEED },
  duration: { kind: 'integer', description: 'How long the workload runs under faults.', default: 60, min: 1, max: 86_400, unit: 's' },
  faultIntervalMs: { kind: 'integer', description: 'One fault is drawn every interval.', default: 1000, min: 50, max: 600_000, unit: 'ms' },
  clients: { kind: 'integer', description: 'Concurrent clients.', default: 8, min: 1, max: 256 },
  inflight: { kind: 'integer', description: 'Operations each client keeps in flight.', default: 4, min: 1, max: 64 },
  keys: { kind: 'integer', description: 'Keys the workload spreads over.', default: 200, min: 1, max: 100_000 },
  groups: { kind: 'integer', description: 'Replica groups.', defaultText: "createCluster's", min: 1, max: 64 },
  replicas: { kind: 'integer', description: 'Storage nodes per group.', defaultText: "createCluster's", min: 1, max: 7 },
  masters: { kind: 'integer', description: 'Shard-master replicas.', defaultText: "createCluster's", min: 1, max: 7 },
  shards: { kind: 'integer', description: 'Hash slots.', defaultText: "createCluster's", min: 1, max: 4096 },
  opTimeoutMs: { kind: 'integer', description: 'Bound of every client operation; past it the outcome is unknown.', default: 5000, min: 100, max: 600_000, unit: 'ms' },
  settleTimeoutMs: { kind: 'integer', description: 'Bound of the wait for the cluster to settle after the faults stop, and again of reading every key back.', default: 30_000, min: 100, max: 600_000, unit: 'ms' },
  json: { kind: 'boolean', description: 'Print one JSON document on stdout instead of the text report.' },
} as const satisfies FlagSpecs

const SUMMARY = 'Run a workload under a seeded schedule of kills, pauses, partitions and an unreliable transport; check linearizability and lost writes.'

export const chaosCommand: ArgsCommand = {
  name: 'chaos',
  summary: SUMMARY,
  async runArgs(args, path, io) {
    if (wantsHelp(args)) {
      io.out(`Usage: ${path} [flags]\n\n${SUMMARY}\nExit status: 0 when linearizable with 0 lost writes, 1 otherwise, 2 on a usage mistake.\n\nFlags:\n${formatFlagHelp(CHAOS_FLAGS)}\n`)
      return 0
    }
    const values = parseFlags(CHAOS_FLAGS, args, path)
    const seed = values.seed ?? randomInt(0, MAX_SEED + 1)
    const { runChaos } = await import('./chaos-run.js')
    const { formatChaosReport } = await import('./chaos-report.js')
    const progress = progressLine(io)
    const report = await runChaos({
      seed,
      durationMs: values.duration * 1000,
      faultIntervalMs: values.faultIntervalMs,
      clients: values.clients,
      inflight: values.inflight,
      keys: values.keys,
      settleTimeoutMs: values.settleTimeoutMs,
      groups: values.groups,
      replicas: values.replicas,
      masters: values.masters,
      shards: values.shards,
      opTimeoutMs: values.opTimeoutMs,
      onProgress: progress.show,
    })
      .catch((error: unknown) => {
        progress.clear()
        if (!(error instanceof UsageError)) io.err(`shardkv chaos: the run with seed ${seed} stopped early\n`)
        throw error
      })
      .finally(() => progress.clear())
    io.out(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatChaosReport(report))
    return report.passed ? 0 : 1
  },
}

