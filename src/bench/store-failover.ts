/**
 * Failover, as a user sees it: a group's leader is killed, and how long until
 * the next write on that group's shards succeeds.
 *
 * One trial: wait until every group is whole (each member running, one
 * leader); write a key of the trial's group (so the client routes to that
 * leader); kill the leader; then write the key again and time it from the
 * kill to the write's success. The client's own retry (attempt timeouts,
 * leader hints, backoff) is part of the figure: that is what an application
 * waits. Trials rotate over the groups. The supervisor restarts the killed
 * node, and the next trial waits for it to be back.
 *
 * The yardstick is the election timeout (a follower campaigns after hearing
 * no leader for a random DEFAULT_ELECTION_TIMEOUT_MIN..MAX_TICKS ticks).
 */
import { performance } from 'node:perf_hooks'
import { DEFAULT_TICK_MS } from '../actors/storage-node.js'
import type { Cluster } from '../cluster.js'
import { ShardKVError } from '../errors.js'
import { DEFAULT_ELECTION_TIMEOUT_MAX_TICKS, DEFAULT_ELECTION_TIMEOUT_MIN_TICKS } from '../paxos/index.js'

/** How long a trial waits for its group to be whole again (restart, catch-up, election). */
export const SETTLE_LIMIT_MS = 20_000
const SETTLE_POLL_MS = 5
/** Keys tried per group to find one of its shards. */
const KEY_SEARCH_LIMIT = 100_000
/** Times a trial may find its group leaderless right after settling, before the measurement gives up. */
const MAX_ATTEMPTS_PER_TRIAL = 5

export interface FailoverMeasurement {
  readonly trials: number
  /** Kill to the next successful write on the killed leader's shards, per trial, ms. */
  readonly samplesMs: readonly number[]
  readonly p50Ms: number | null
  readonly p95Ms: number | null
  readonly maxMs: number | null
  readonly electionTimeoutMs: { readonly min: number; readonly max: number }
  /** p50 over the shortest election timeout: the yardstick (<= 3). */
  readonly p50InElectionTimeouts: number | null
}

export const ELECTION_TIMEOUT_MS = {
  min: DEFAULT_ELECTION_TIMEOUT_MIN_TICKS * DEFAULT_TICK_MS,
  max: DEFAULT_ELECTION_TIMEOUT_MAX_TICKS * DEFAULT_TICK_MS,
} as const

/** Runs `trials` failovers on `cluster` (every group needs 3 or more replicas); `onTrial` after each. */
export async function measureFailover(cluster: Cluster, trials: number, onTrial: (done: number) => void = () => {}): Promise<FailoverMeasurement> {
  const config = await cluster.query()
  const gids = Object.keys(config.groups).map(Number).filter((gid) => config.shards.includes(gid))
  if (gids.length === 0) throw new ShardKVError('ERR_UNKNOWN_GROUP', 'failover: no group owns a shard; join one first')
  const kv = cluster.client()
  const samplesMs: number[] = []
  for (let trial = 0, attempts = 0; trial < trials; trial++) {
    const gid = gids[trial % gids.length]!
    const key = keyOwnedBy(cluster, config.shards, gid, trial)
    await settle(cluster)
    await kv.put(key, `before-${trial}`)
    const leader = leaderOf(cluster, gid)
    if (leader === undefined) {
      // It lost its leader between the settle and the write (a slow tick on busy cores): settle again.
      if (++attempts > trials * MAX_ATTEMPTS_PER_TRIAL) throw new ShardKVError('ERR_TIMEOUT', `failover: group ${gid} kept losing its leader before a kill`)
      trial--
      continue
    }
    const killedAtMs = performance.now()
    await cluster.faults.kill(leader)
    await kv.put(key, `after-${trial}`)
    samplesMs.push(performance.now() - killedAtMs)
    onTrial(trial + 1)
  }
  return summarize(samplesMs)
}

export function summarize(samplesMs: readonly number[]): FailoverMeasurement {
  const sorted = [...samplesMs].sort((a, b) => a - b)
  const at = (quantile: number): number | null => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil(quantile * sorted.length) - 1)]!)
  const p50Ms = at(0.5)
  return {
    trials: samplesMs.length,
    samplesMs: [...samplesMs],
    p50Ms,
    p95Ms: at(0.95),
    maxMs: sorted.length === 0 ? null : sorted[sorted.length - 1]!,
    electionTimeoutMs: ELECTION_TIMEOUT_MS,
    p50InElectionTimeouts: p50Ms === null ? null : p50Ms / ELECTION_TIMEOUT_MS.min,
  }
}

function keyOwnedBy(cluster: Cluster, shards: readonly number[], gid: number, trial: number): string {
  for (let n = 0; n < KEY_SEARCH_LIMIT; n++) {
    const key = `failover-${trial}-${n}`
    if (shards[cluster.shardOf(key)] === gid) return key
  }
  throw new ShardKVError('ERR_UNKNOWN_GROUP', `failover: found no key of group ${gid} in ${KEY_SEARCH_LIMIT} tries`)
}

function leaderOf(cluster: Cluster, gid: number): string | undefined {
  return cluster.actors().find((actor) => actor.gid === gid && actor.role === 'leader')?.id
}

/** Waits until every storage node runs and every group has exactly one leader. */
async function settle(cluster: Cluster): Promise<void> {
  const deadlineMs = performance.now() + SETTLE_LIMIT_MS
  for (;;) {
    const storage = cluster.actors().filter((actor) => actor.kind === 'storage')
    const leaders = new Map<number, number>()
    for (const actor of storage) if (actor.role === 'leader') leaders.set(actor.gid!, (leaders.get(actor.gid!) ?? 0) + 1)
    const groups = new Set(storage.map((actor) => actor.gid!))
    const whole = storage.every((actor) => actor.role !== 'down') && [...groups].every((gid) => leaders.get(gid) === 1)
    if (whole) return
    if (performance.now() > deadlineMs) {
      throw new ShardKVError('ERR_TIMEOUT', `failover: the groups were not whole again (every node up, one leader each) within ${SETTLE_LIMIT_MS} ms`)
    }
    await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS))
  }
}
