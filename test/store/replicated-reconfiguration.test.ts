/**
 * 6.824 shardkv-style scenarios on a real cluster of replicated groups
 * (issue #4): joins, moves and leaves while clients run and replicas die,
 * judged from what the clients saw. Every operation is recorded
 * (HistoryRecorder); at the end every key is read back and the history must
 * be linearizable and lose no acknowledged write (src/check/).
 *
 * The workload is the chaos command's (seeded choice of put / append / get,
 * unique delimited pieces); SHARDKV_TEST_SEED overrides its seed, and every
 * history assertion names the seed it ran with.
 */
import { performance } from 'node:perf_hooks'
import t, { type Test } from 'tap'
import { join, leave, move, initialConfig, type Config } from '../../src/actors/shard-config.js'
import { readEveryKey } from '../../src/chaos/chaos-run.js'
import { Workload } from '../../src/chaos/workload.js'
import { HistoryRecorder } from '../../src/check/history.js'
import { checkLinearizability, describeEntry, describeViolation, type LinearizabilityResult } from '../../src/check/linearizability.js'
import { lostWrites } from '../../src/check/lost-writes.js'
import type { Cluster, LeaderEvent } from '../../src/cluster.js'
import type { KvClient } from '../../src/client/kv-client.js'
import { ShardKVError } from '../../src/errors.js'
import { Prng } from '../../src/runtime/prng.js'
import type { UnreliableOptions } from '../../src/runtime/faults.js'
import { awaitLeader, keysByOwner, keysForEveryShard, killLeader, leaderOf, membersOf, startCluster, untilDone } from '../support/cluster.js'

const SHARDS = 8
/** Three-node groups, one master unless the masters are the point: few threads on busy cores. */
const OPTIONS = { shards: SHARDS, groups: 2, replicas: 3, masters: 1 } as const
const SEED = Number(process.env.SHARDKV_TEST_SEED ?? 4)
/** Two keys per shard: every shard, the moved one included, carries recorded traffic. */
const KEYS_PER_SHARD = 2
const CLIENTS = 3
const INFLIGHT_PER_CLIENT = 2
/** Operations that must succeed between two steps, so that each step runs under traffic. */
const OPS_BETWEEN_STEPS = 40
/** Bound of waiting for those operations; a cluster that stops serving fails here. */
const PROGRESS_TIMEOUT_MS = 15_000
/** Bound of the final reads, and of the linearizability search. */
const FINAL_READS_MS = 10_000
const CHECK_BUDGET_MS = 20_000
/** The default operation timeout: an admin call must outlast an election and a hand-off. */
const OP_TIMEOUT_MS = 10_000

interface RecordedLoad {
  readonly recorder: HistoryRecorder
  readonly workload: Workload
  readonly keys: readonly string[]
  readonly seed: number
}

function startRecordedLoad(cluster: Cluster, seed: number): RecordedLoad {
  const recorder = new HistoryRecorder({ clock: () => performance.now() })
  const keys = keysForEveryShard(cluster, SHARDS, KEYS_PER_SHARD, 'lin')
  const workload = new Workload(recorder, { clients: CLIENTS, inflight: INFLIGHT_PER_CLIENT, keys })
  workload.start(cluster, new Prng(seed))
  return { recorder, workload, keys, seed }
}

/** Waits (bounded) until `more` further operations succeeded. */
async function afterMoreOps(load: RecordedLoad, more = OPS_BETWEEN_STEPS): Promise<void> {
  const target = load.workload.counts.ok + more
  const startMs = performance.now()
  while (load.workload.counts.ok < target) {
    if (performance.now() - startMs > PROGRESS_TIMEOUT_MS) {
      throw new Error(`seed ${load.seed}: the store completed no ${more} operations within ${PROGRESS_TIMEOUT_MS} ms (counts ${JSON.stringify(load.workload.counts)})`)
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Stops the load, reads every key back, and asserts the history linearizable with no acknowledged write lost. */
async function checkHistory(t: Test, cluster: Cluster, load: RecordedLoad): Promise<void> {
  await load.workload.stop(OP_TIMEOUT_MS + 1_000)
  const finalReads = await readEveryKey(cluster, load.recorder, load.keys, FINAL_READS_MS)
  t.equal(finalReads.values.size, load.keys.length, `seed ${load.seed}: every key reads back after the run`)
  const history = load.recorder.entries()
  const linearizable = checkLinearizability(history, { timeBudgetMs: CHECK_BUDGET_MS })
  t.equal(linearizable.result, 'ok', `seed ${load.seed}: the history of ${history.length} operations is linearizable${detailOf(linearizable)}`)
  const lost = lostWrites(history, finalReads.values)
  const examples = lost.examples.map((example) => `${example.reason}: ${describeEntry(example.entry)}`).join('\n')
  t.equal(lost.lost, 0, `seed ${load.seed}: no acknowledged write is lost, doubled or reordered${lost.lost === 0 ? '' : `\n${examples}`}`)
  t.ok(lost.checked >= OPS_BETWEEN_STEPS, `seed ${load.seed}: the lost-write check had acknowledged writes to check (${lost.checked} checked, ${lost.unchecked} unchecked)`)
  t.comment(`seed ${load.seed}: ${JSON.stringify(load.workload.counts)} operations, ${lost.checked} writes checked`)
}

function detailOf(result: LinearizabilityResult): string {
  if (result.result === 'illegal') return `\n${describeViolation(result.violation)}`
  if (result.result === 'unknown') return `: undecided within ${CHECK_BUDGET_MS} ms for ${result.undecidedKeyCount} keys (${result.undecidedKeys.join(', ')})`
  return ''
}

/** Kills the leader of `group` and waits until a leader elected since leads; returns the killed id. */
async function killLeaderAndNote(t: Test, cluster: Cluster, group: number | 'master'): Promise<string> {
  const { killed, next } = await killLeader(cluster, group)
  t.comment(`${group === 'master' ? 'master' : `group ${group}`}: leader ${killed} killed, ${next} took over`)
  return killed
}

/**
 * Join a group, move a shard to it, kill its leader, kill a follower of
 * another group, let group 1 leave; all under recorded load, with the
 * transport unreliable during the steps when `transport` is given.
 */
async function reconfigureUnderFaults(t: Test, transport?: UnreliableOptions): Promise<void> {
  const cluster = await startCluster(t, { ...OPTIONS, opTimeoutMs: OP_TIMEOUT_MS })
  let expected = await cluster.query()
  const load = startRecordedLoad(cluster, SEED)
  await afterMoreOps(load)
  if (transport !== undefined) cluster.faults.unreliable(transport)

  const joined = await cluster.join()
  expected = join(expected, joined, membersOf(cluster, joined))
  await afterMoreOps(load)

  const movedShard = expected.shards.indexOf(1)
  await cluster.move(movedShard, joined)
  expected = move(expected, movedShard, joined)
  // The new owner's leader dies while the shard may still be on its way.
  await killLeaderAndNote(t, cluster, joined)
  await afterMoreOps(load)

  const leader2 = await awaitLeader(cluster, 2)
  const follower2 = membersOf(cluster, 2).find((id) => id !== leader2)!
  await cluster.faults.kill(follower2)
  await afterMoreOps(load)

  await untilDone(() => cluster.leave(1))
  expected = leave(expected, 1)
  await afterMoreOps(load)
  cluster.faults.reliable()
  await afterMoreOps(load)

  t.same(await cluster.query(), expected, `join of ${joined}, move of shard ${movedShard} to it, leave of 1: exactly that configuration`)
  t.same(cluster.actors().filter((actor) => actor.id.startsWith('g1-')), [], "the departed group's nodes are stopped")
  await checkHistory(t, cluster, load)
}

t.test('join/leave/move under load with replicated groups, with leaders and followers killed: linearizable, no acknowledged write lost', async (t) => {
  await reconfigureUnderFaults(t)
})

t.test('the same with an unreliable transport (drops, duplicates, delays) during the reconfigurations', async (t) => {
  await reconfigureUnderFaults(t, { drop: 0.05, duplicate: 0.05, delayMs: 10 })
})

/**
 * Kills the master leader as soon as a group the master does not know yet
 * elects a leader: join() sends its Join right then (or, when the group
 * elected before its last node was spawned, once that spawn is done).
 */
function killMasterLeaderWhenJoinStarts(t: Test, cluster: Cluster, known: Config): Promise<string> {
  return new Promise((resolve, reject) => {
    const onLeader = (event: LeaderEvent): void => {
      if (event.group === 'master' || Object.hasOwn(known.groups, event.group)) return
      cluster.off('leader', onLeader)
      killLeaderAndNote(t, cluster, 'master').then(resolve, reject)
    }
    cluster.on('leader', onLeader)
  })
}

t.test('master replicas: the master leader killed during Join and Leave; configurations stay one numbered sequence, and the store keeps serving', async (t) => {
  const cluster = await startCluster(t, { ...OPTIONS, masters: 3, opTimeoutMs: OP_TIMEOUT_MS })
  const load = startRecordedLoad(cluster, SEED)
  await afterMoreOps(load)

  // join() retries its Join on the other replicas under one request id until
  // opTimeoutMs, so no second Join is needed (nor safe: another join() call
  // would start another group); leave() may be called again after ERR_TIMEOUT.
  const killedAtJoin = killMasterLeaderWhenJoinStarts(t, cluster, await cluster.query())
  const joinStartMs = performance.now()
  const joined = await cluster.join()
  t.comment(`join of group ${joined} took ${Math.round(performance.now() - joinStartMs)} ms across the master failover`)
  await killedAtJoin
  await afterMoreOps(load)
  const leaving = untilDone(() => cluster.leave(1))
  await killLeaderAndNote(t, cluster, 'master')
  await leaving
  await afterMoreOps(load)

  const latest = await cluster.query()
  let expected = initialConfig(SHARDS)
  const steps = [(c: Config) => join(c, 1, namedMembers(1)), (c: Config) => join(c, 2, namedMembers(2)), (c: Config) => join(c, joined, namedMembers(joined)), (c: Config) => leave(c, 1)]
  t.equal(latest.num, steps.length, 'one configuration per join and leave: the killed leaders applied nothing twice, and lost nothing')
  t.same(await cluster.query(0), expected, 'configuration 0 is the initial one')
  for (let num = 1; num <= Math.min(latest.num, steps.length); num++) {
    expected = steps[num - 1]!(expected)
    t.same(await cluster.query(num), expected, `configuration ${num} follows from ${num - 1} by exactly one step`)
  }
  t.ok(leaderOf(cluster, 'master') !== undefined, 'the masters have a leader at the end')
  await checkHistory(t, cluster, load)
})

/** Members of group `gid` as cluster.ts names them (g<gid>-n<i>): a departed group's nodes are gone from actors(). */
function namedMembers(gid: number): string[] {
  return Array.from({ length: OPTIONS.replicas }, (_, index) => `g${gid}-n${index + 1}`)
}

/** Runs `operation`; resolves to 'ok' or the error code, with how long it took. */
async function timed(operation: () => Promise<unknown>): Promise<{ outcome: string; tookMs: number }> {
  const startMs = performance.now()
  const outcome = await operation().then(
    () => 'ok',
    (error: unknown) => (error instanceof ShardKVError ? error.code : String(error)),
  )
  return { outcome, tookMs: Math.round(performance.now() - startMs) }
}

/** A shard of group 1 to move and a key of it; a key of each other shard: group 1's (the source's) and all of them. */
function pickMovedShard(cluster: Cluster, config: Config): { movedKey: string; movedShard: number; sourceKeys: string[]; otherKeys: string[] } {
  const { owned, others } = keysByOwner(cluster, config, 1, 'serve')
  const movedKey = owned[0]!
  const sourceKeys = owned.slice(1)
  return { movedKey, movedShard: cluster.shardOf(movedKey), sourceKeys, otherKeys: [...sourceKeys, ...others] }
}

/**
 * Appends `<round>;` to every key, a round at a time, until `windowMs` has
 * passed since `startMs`; returns the appends that failed and the rounds run.
 */
async function appendRounds(kv: KvClient, keys: readonly string[], startMs: number, windowMs: number): Promise<{ failures: string[]; rounds: number }> {
  const failures: string[] = []
  let rounds = 0
  while (performance.now() - startMs < windowMs) {
    const results = await Promise.all(keys.map((key) => timed(() => kv.append(key, `${rounds};`))))
    results.forEach(({ outcome, tookMs }, index) => outcome !== 'ok' && failures.push(`${keys[index]} round ${rounds}: ${outcome} after ${tookMs} ms`))
    rounds++
  }
  return { failures, rounds }
}

/** Every key holds `before-<key>` and then each round's append, once and in order. */
async function checkAppended(t: Test, kv: KvClient, keys: readonly string[], rounds: number): Promise<void> {
  const appended = Array.from({ length: rounds }, (_, round) => `${round};`).join('')
  for (const key of keys) t.equal(await untilDone(() => kv.get(key)), `before-${key}${appended}`, `${key} holds every append, once, in order`)
}

t.test("shards not involved in a migration keep serving while it waits on the destination's paused leader", async (t) => {
  const opTimeoutMs = 3_000
  const pauseMs = 2_000
  const cluster = await startCluster(t, { ...OPTIONS, opTimeoutMs })
  const kv = cluster.client()
  const { movedKey, movedShard, otherKeys } = pickMovedShard(cluster, await cluster.query())
  await Promise.all([movedKey, ...otherKeys].map((key) => kv.put(key, `before-${key}`)))

  const pausedAtMs = performance.now()
  cluster.faults.pause(await awaitLeader(cluster, 2), pauseMs)
  await cluster.move(movedShard, 2)
  // A fresh client asks the master first, so it goes straight to group 2: it is answered once the shard has arrived.
  const arrival = timed(() => untilDone(() => cluster.client().get(movedKey)))
  const { failures, rounds } = await appendRounds(kv, otherKeys, pausedAtMs, pauseMs)

  t.same(failures, [], `every other shard (of both groups) served every append within ${opTimeoutMs} ms while shard ${movedShard} moved to group 2`)
  t.ok(rounds > 1, `the appends ran in rounds through the pause (${rounds})`)
  t.comment(`shard ${movedShard} answered by its new owner ${(await arrival).tookMs} ms after the move`)
  t.equal((await arrival).outcome, 'ok', 'the moved shard is served by group 2 once it elects a new leader')
  t.equal(await kv.get(movedKey), `before-${movedKey}`, 'the moved key arrived with its value')
  t.equal((await cluster.query()).shards[movedShard], 2, `shard ${movedShard} belongs to group 2`)
  await checkAppended(t, kv, otherKeys, rounds)
})

t.test("the source group serves its other shards all through a migration stalled by the destination group's pause", async (t) => {
  // The migration cannot finish while every node of group 2 is paused, and
  // the window is longer than an operation's timeout: had group 1 stopped
  // serving while its hand-off waits, an append here would time out.
  const opTimeoutMs = 2_000
  const pauseMs = 3 * opTimeoutMs
  const cluster = await startCluster(t, { ...OPTIONS, opTimeoutMs })
  const kv = cluster.client()
  const { movedKey, movedShard, sourceKeys } = pickMovedShard(cluster, await cluster.query())
  await Promise.all([movedKey, ...sourceKeys].map((key) => kv.put(key, `before-${key}`)))

  const pausedAtMs = performance.now()
  for (const id of membersOf(cluster, 2)) cluster.faults.pause(id, pauseMs)
  await cluster.move(movedShard, 2)
  const { failures, rounds } = await appendRounds(kv, sourceKeys, pausedAtMs, pauseMs - opTimeoutMs)

  t.same(failures, [], `group 1's other shards served every append for ${pauseMs - opTimeoutMs} ms while shard ${movedShard} waited on paused group 2`)
  t.ok(rounds > 1, `the appends ran in rounds through the window (${rounds})`)
  t.equal(await untilDone(() => kv.get(movedKey)), `before-${movedKey}`, 'after the pause the moved key is served by group 2 with its value')
  t.equal((await cluster.query()).shards[movedShard], 2, `shard ${movedShard} belongs to group 2`)
  await checkAppended(t, kv, sourceKeys, rounds)
})
