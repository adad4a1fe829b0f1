/**
 * One chaos run: start an embedded cluster, run the workload while the seeded
 * fault plan plays, stop the faults, let the cluster settle, read every key
 * back, and check the recorded history (linearizability, lost writes).
 *
 * Every phase is bounded: the run by `durationMs`, each operation by the
 * cluster's `opTimeoutMs`, draining the operations in flight by one more
 * opTimeoutMs, settling and the final reads by `settleTimeoutMs` each, the
 * check by CHECK_BUDGET_MS.
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { checkLinearizability, describeEntry, describeViolation, type LinearizabilityResult } from '../check/linearizability.js'
import { HistoryRecorder, outcomeUnknown, type HistoryEntry, type KvValue } from '../check/history.js'
import { lostWrites } from '../check/lost-writes.js'
import { UsageError } from '../cli-flags.js'
import { createCluster, type Cluster, type ClusterActor } from '../cluster.js'
import { ShardKVError } from '../errors.js'
import { Prng } from '../runtime/prng.js'
import type { ChaosReport, OperationCounts, Verdict } from './chaos-report.js'
import { minorityBudget, planFaults, type FailureDomain } from './fault-plan.js'
import { FaultRunner } from './fault-runner.js'
import { runRecorded, Workload, type LiveCounts } from './workload.js'

export interface ChaosOptions {
  readonly seed: number
  readonly durationMs: number
  readonly faultIntervalMs: number
  readonly clients: number
  readonly inflight: number
  readonly keys: number
  /** Bound of settling after the faults stop, and again of the final reads. */
  readonly settleTimeoutMs: number
  /** Cluster shape; undefined takes createCluster's default. */
  readonly groups: number | undefined
  readonly replicas: number | undefined
  readonly masters: number | undefined
  readonly shards: number | undefined
  readonly opTimeoutMs: number
  /** Called with a one-line status a few times a second. */
  readonly onProgress?: (text: string) => void
}

/** Wall-clock budget of the linearizability check; past it the verdict is 'unknown'. */
export const CHECK_BUDGET_MS = 60_000
const FINAL_READ_CLIENT = 'final'
const FINAL_READ_PARALLELISM = 32
const POLL_MS = 50
const PROGRESS_MS = 250

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const cluster = await startCluster(options)
  try {
    return await runOn(cluster, options)
  } finally {
    await cluster.close()
  }
}

async function runOn(cluster: Cluster, options: ChaosOptions): Promise<ChaosReport> {
  const progress = options.onProgress ?? (() => {})
  const domains = failureDomains(cluster.actors())
  const shards = (await cluster.query()).shards.length
  const root = new Prng(options.seed)
  const plan = planFaults(root.fork(), { durationMs: options.durationMs, faultIntervalMs: options.faultIntervalMs, domains })
  const restarts = countEvents(cluster)
  const recorder = new HistoryRecorder({ clock: () => performance.now() })
  const keys = Array.from({ length: options.keys }, (_, index) => `chaos-${index}`)
  const workload = new Workload(recorder, { clients: options.clients, inflight: options.inflight, keys })
  const runner = new FaultRunner(cluster, domains, plan)

  const startMs = performance.now()
  const ticker = setInterval(() => progress(runningStatus(options, performance.now() - startMs, workload.counts, runner.total)), PROGRESS_MS)
  workload.start(cluster, root.fork())
  const faultsDone = runner.run()
  try {
    await sleep(options.durationMs)
    runner.stop()
    await faultsDone
    progress('chaos: draining operations in flight')
    await workload.stop(options.opTimeoutMs + 1_000)
  } finally {
    clearInterval(ticker)
  }
  progress('chaos: waiting for the cluster to settle')
  const settle = await waitSettled(cluster, domains, options.settleTimeoutMs)
  progress('chaos: reading every key')
  const finalReads = await readEveryKey(cluster, recorder, keys, options.settleTimeoutMs)
  progress('chaos: checking the history')
  const history = recorder.entries()
  const linearizability = checkLinearizability(history, { timeBudgetMs: CHECK_BUDGET_MS })
  const lost = lostWrites(history, finalReads.values)

  const linearizable = verdictOf(linearizability)
  const notes = notesFor(domains, settle.settled, finalReads.values.size, keys.length)
  return {
    seed: options.seed,
    durationMs: options.durationMs,
    faultIntervalMs: options.faultIntervalMs,
    cluster: { groups: domains.length - 1, replicas: domains[1]?.members.length ?? 0, masters: domains[0]!.members.length, shards, opTimeoutMs: options.opTimeoutMs },
    workload: { clients: options.clients, inflightPerClient: options.inflight, keys: options.keys },
    operations: countOperations(history.filter((entry) => entry.clientId !== FINAL_READ_CLIENT)),
    viewReads: workload.viewReads,
    faults: { injected: runner.injected, total: runner.total, skipped: runner.skipped, restarts: restarts.restarts, escalations: restarts.escalations },
    settle,
    finalReads: { keys: keys.length, read: finalReads.values.size, attempts: finalReads.attempts },
    linearizable,
    linearizabilityDetail: detailOf(linearizability),
    lostWrites: {
      lost: lost.lost,
      checked: lost.checked,
      unchecked: lost.unchecked,
      examples: lost.examples.map((example) => `${example.reason}: ${describeEntry(example.entry)}`),
    },
    notes,
    passed: linearizable === 'yes' && lost.lost === 0 && finalReads.values.size === keys.length,
  }
}

/** createCluster, with a rejected shape option turned into a usage error (exit 2). */
async function startCluster(options: ChaosOptions): Promise<Cluster> {
  const shape = { groups: options.groups, replicas: options.replicas, masters: options.masters, shards: options.shards }
  const given = Object.fromEntries(Object.entries(shape).filter(([, value]) => value !== undefined))
  try {
    return await createCluster({ ...given, opTimeoutMs: options.opTimeoutMs })
  } catch (error) {
    if (error instanceof ShardKVError && error.code === 'ERR_INVALID_OPTION') throw new UsageError(`shardkv chaos: ${error.message}`)
    throw error
  }
}

/** The masters first, then each group by gid. */
export function failureDomains(actors: readonly ClusterActor[]): FailureDomain[] {
  const masters = actors.filter((actor) => actor.kind === 'master').map((actor) => actor.id)
  const groups = new Map<number, string[]>()
  for (const actor of actors) {
    if (actor.kind !== 'storage' || actor.gid === undefined) continue
    const members = groups.get(actor.gid) ?? []
    members.push(actor.id)
    groups.set(actor.gid, members)
  }
  const ordered = [...groups].sort(([a], [b]) => a - b)
  return [{ name: 'masters', members: masters }, ...ordered.map(([gid, members]) => ({ name: `group ${gid}`, members }))]
}

function countEvents(cluster: Cluster): { restarts: number; escalations: number } {
  const counts = { restarts: 0, escalations: 0 }
  cluster.on('restart', () => counts.restarts++)
  cluster.on('escalate', () => counts.escalations++)
  return counts
}

/** Waits, at most `boundMs`, until no actor is down and every domain has a leader. */
async function waitSettled(cluster: Cluster, domains: readonly FailureDomain[], boundMs: number): Promise<{ settled: boolean; waitedMs: number }> {
  const startMs = performance.now()
  for (;;) {
    const waitedMs = performance.now() - startMs
    if (isSettled(cluster.actors(), domains)) return { settled: true, waitedMs: Math.round(waitedMs) }
    if (waitedMs >= boundMs) return { settled: false, waitedMs: Math.round(waitedMs) }
    await sleep(POLL_MS)
  }
}

function isSettled(actors: readonly ClusterActor[], domains: readonly FailureDomain[]): boolean {
  const roleOf = new Map(actors.map((actor) => [actor.id, actor.role]))
  if (actors.some((actor) => actor.role === 'down')) return false
  return domains.every((domain) => domain.members.some((id) => roleOf.get(id) === 'leader'))
}

/** Reads every key, retrying each until it answers, all within `boundMs`; keys not read are left out of the map. */
export async function readEveryKey(cluster: Cluster, recorder: HistoryRecorder, keys: readonly string[], boundMs: number): Promise<{ values: Map<string, KvValue | undefined>; attempts: number }> {
  const client = cluster.client()
  const deadlineMs = performance.now() + boundMs
  const values = new Map<string, KvValue | undefined>()
  const counts: LiveCounts = { ok: 0, failed: 0, unknown: 0 }
  let next = 0
  const reader = async (): Promise<void> => {
    while (next < keys.length) {
      const key = keys[next++]!
      while (performance.now() < deadlineMs) {
        const result = await runRecorded(recorder, client, FINAL_READ_CLIENT, 'get', key, '', counts)
        if (!result.ok) continue
        values.set(key, result.value)
        break
      }
    }
  }
  await Promise.all(Array.from({ length: FINAL_READ_PARALLELISM }, reader))
  client.close()
  return { values, attempts: counts.ok + counts.failed + counts.unknown }
}

function countOperations(entries: readonly HistoryEntry[]): OperationCounts {
  const unknown = entries.filter(outcomeUnknown).length
  const failed = entries.filter((entry) => !outcomeUnknown(entry) && entry.error !== undefined).length
  return { total: entries.length, ok: entries.length - unknown - failed, failed, unknown }
}

function verdictOf(result: LinearizabilityResult): Verdict {
  switch (result.result) {
    case 'ok':
      return 'yes'
    case 'illegal':
      return 'no'
    case 'unknown':
      return 'unknown'
    default: {
      const never: never = result
      throw new Error(`unknown check result ${JSON.stringify(never)}`)
    }
  }
}

function detailOf(result: LinearizabilityResult): string | null {
  if (result.result === 'illegal') return describeViolation(result.violation)
  if (result.result === 'unknown') return `undecided within the check budget: ${result.undecidedKeyCount} keys (${result.undecidedKeys.join(', ')})`
  return null
}

function notesFor(domains: readonly FailureDomain[], settled: boolean, read: number, keys: number): string[] {
  const notes: string[] = []
  const unfaultable = domains.filter((domain) => minorityBudget(domain.members.length) === 0).map((domain) => domain.name)
  if (unfaultable.length > 0) {
    notes.push(
      `${unfaultable.join(', ')} ${unfaultable.length === 1 ? 'has' : 'have'} fewer than 3 members, so no minority to fault: never killed, paused or partitioned` +
        ' (with one replica a kill loses that copy\'s data by design); only the transport was made unreliable there',
    )
  }
  if (!settled) notes.push('the cluster did not settle (every actor up, every group and the masters with a leader) within --settle-timeout-ms')
  if (read < keys) notes.push(`${keys - read} keys could not be read back within --settle-timeout-ms: their writes are unchecked, and the run fails`)
  return notes
}

function runningStatus(options: ChaosOptions, elapsedMs: number, counts: LiveCounts, faults: number): string {
  const seconds = Math.min(options.durationMs, elapsedMs) / 1000
  return `chaos seed ${options.seed}: ${seconds.toFixed(0)}/${options.durationMs / 1000} s, ${counts.ok + counts.failed + counts.unknown} ops (${counts.ok} ok, ${counts.failed} failed, ${counts.unknown} unknown), ${faults} faults`
}
