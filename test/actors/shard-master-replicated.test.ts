/**
 * The replicated shard master in the deterministic simulator: 1, 3 and 5
 * replicas driven by scripted admin clients, with leaders crashed in the
 * middle of mutations, random crashes, drops, duplicates, delays and
 * partitions. Every assertion names its seed; a failing seed replays exactly.
 */
import t from 'tap'
import type { MasterReply, RoleReport } from '../../src/actors/messages.js'
import type { Message } from '../../src/runtime/actor.js'
import { ShardMasterActor } from '../../src/actors/shard-master.js'
import { Prng } from '../../src/runtime/prng.js'
import { historyProblems, MasterSim, type AdminClient } from '../support/master-sim.js'

const CHAOS_SEEDS = 20
const SCRIPTED_SEEDS = 5
/** Virtual time one admin operation may take before the run counts it as stuck. */
const OP_BUDGET_MS = 20_000
const CONVERGE_MS = 10_000
/** Small bounds so that a short script exercises batches, truncation and snapshot transfer. */
const SMALL_LOG = { maxBatch: 8, maxInflightSlots: 4, snapshotEvery: 8, maxLogSlots: 32, maxSlotsPerMessage: 8 }

type ScriptOp = Parameters<AdminClient['mutate']>[0]

/** Joins, leaves and moves that each succeed when applied once, in order: new gids only, leaves and moves of present groups. */
function script(seed: number, length: number, shards: number): ScriptOp[] {
  const prng = new Prng(seed * 31 + 7)
  const present: number[] = []
  let nextGid = 1
  const ops: ScriptOp[] = []
  while (ops.length < length) {
    const choice = present.length < 2 ? 0 : prng.int(3)
    if (choice === 0 && present.length < 5) {
      ops.push({ type: 'Join', gid: nextGid, members: [`group-${nextGid}`] })
      present.push(nextGid++)
    } else if (choice === 1) {
      const [gid] = present.splice(prng.int(present.length), 1)
      ops.push({ type: 'Leave', gid: gid! })
    } else {
      ops.push({ type: 'Move', shard: prng.int(shards), gid: prng.pick(present) })
    }
  }
  return ops
}

interface RunOptions {
  readonly seed: number
  readonly replicas: number
  /** Script indexes whose first attempt is followed by crashing the leader. */
  readonly crashLeaderAt: readonly number[]
  readonly chaos: boolean
  readonly ops: number
}

/** Runs a script, then lets the cluster settle; returns what went wrong. */
function runScript(options: RunOptions): { problems: string[]; crashes: number; virtualMs: number } {
  const { seed, replicas } = options
  const minority = Math.floor((replicas - 1) / 2)
  const cluster = new MasterSim({
    seed,
    replicas,
    paxos: SMALL_LOG,
    simulator: options.chaos
      ? { dropRate: 0.05, duplicateRate: 0.05, minDelayMs: 1, maxDelayMs: 20, randomFaults: { crashesPerSecond: 2, minRestartDelayMs: 50, maxRestartDelayMs: 600, maxDownActors: minority } }
      : { minDelayMs: 1, maxDelayMs: 5 },
  })
  const { sim } = cluster
  const admin = cluster.admin('admin')
  const problems: string[] = []
  let crashed: string | undefined
  const crashLeader = (): void => {
    // Long enough for the leader to receive and propose the op, maybe to replicate it, not to answer.
    sim.runFor(6)
    const [leader] = cluster.leaders()
    if (leader === undefined || cluster.ids.some((id) => !sim.isRunning(id))) return
    crashed = leader
    sim.crash(leader)
  }
  for (const [index, op] of script(seed, options.ops, 10).entries()) {
    const result = admin.mutate(op, OP_BUDGET_MS, options.crashLeaderAt.includes(index) ? crashLeader : undefined)
    if (result === undefined) problems.push(`op ${index} ${JSON.stringify(op)} not acknowledged in ${OP_BUDGET_MS} ms`)
    if (crashed !== undefined && !sim.isRunning(crashed)) sim.restart(crashed)
    crashed = undefined
    const acknowledgedNum = result !== undefined && 'num' in result ? result.num : -1
    const config = admin.query(OP_BUDGET_MS)
    if (config === undefined) problems.push(`query after op ${index} not answered`)
    else if (config.num < acknowledgedNum) problems.push(`query after op ${index} read configuration ${config.num}, below acknowledged ${acknowledgedNum}`)
  }

  sim.setRandomFaults(undefined)
  sim.heal()
  sim.setFaults({ dropRate: 0, duplicateRate: 0 })
  if (!sim.runUntil(() => cluster.converged(), CONVERGE_MS)) {
    problems.push(`replicas did not converge: ${JSON.stringify([...cluster.states()].map(([id, state]) => [id, state.configs.length]))}`)
  }
  const [anyState] = cluster.states().values()
  if (anyState !== undefined) problems.push(...historyProblems(anyState, admin.acknowledged))
  for (const { actorId, error } of sim.actorErrors) problems.push(`${actorId} threw: ${String(error)}`)
  return { problems: problems.slice(0, 10), crashes: sim.stats.crashes, virtualMs: sim.now() }
}

for (const replicas of [3, 5]) {
  t.test(`${replicas} replicas, leader crashed in the middle of Join/Leave/Move: one numbered sequence on every replica, each acknowledged mutation applied once`, async (t) => {
    for (let seed = 1; seed <= SCRIPTED_SEEDS; seed++) {
      const { problems } = runScript({ seed, replicas, crashLeaderAt: [2, 5, 9], chaos: false, ops: 12 })
      t.same(problems, [], `seed ${seed} (${replicas} replicas)`)
    }
  })

  t.test(`${replicas} replicas over ${CHAOS_SEEDS} seeds with random crashes, drops, duplicates and delays: same guarantees`, async (t) => {
    let crashes = 0
    for (let seed = 1; seed <= CHAOS_SEEDS; seed++) {
      const result = runScript({ seed: 1000 + seed, replicas, crashLeaderAt: [3, 9, 15], chaos: true, ops: 24 })
      crashes += result.crashes
      t.same(result.problems, [], `seed ${1000 + seed} (${replicas} replicas): ${result.crashes} crashes in ${result.virtualMs} virtual ms`)
    }
    t.ok(crashes > CHAOS_SEEDS * 4, `${crashes} crashes injected in all`)
  })
}

t.test('a minority partition cannot change the configuration; the majority elects and serves; healing converges (seed 11)', async (t) => {
  const cluster = new MasterSim({ seed: 11, replicas: 5, paxos: SMALL_LOG })
  const { sim } = cluster
  const adminA = cluster.admin('admin-a')
  const adminB = cluster.admin('admin-b')
  t.match(adminA.mutate({ type: 'Join', gid: 1, members: ['g1'] }, OP_BUDGET_MS), { type: 'Joined', num: 1 })
  const oldLeader = cluster.awaitLeader()!
  const minority = [oldLeader, cluster.ids.find((id) => id !== oldLeader)!]
  const majority = cluster.ids.filter((id) => !minority.includes(id))
  sim.partition([
    [...minority, 'admin-a'],
    [...majority, 'admin-b'],
  ])

  t.equal(adminA.mutate({ type: 'Join', gid: 2, members: ['g2'] }, 3000), undefined, 'a Join on the minority side is not acknowledged')
  t.same(
    minority.map((id) => cluster.latest(id).num),
    [1, 1],
    'the minority replicas still hold configuration 1',
  )
  t.notOk(cluster.actors.get(oldLeader)!.role === 'leader', 'the cut-off leader stepped down')
  t.match(adminB.mutate({ type: 'Join', gid: 3, members: ['g3'] }, OP_BUDGET_MS), { type: 'Joined', num: 2 }, 'the majority side serves')
  t.equal(cluster.leaders().filter((id) => majority.includes(id)).length, 1, 'the majority side elected one leader')

  sim.heal()
  t.match(adminA.retryLast({ type: 'Join', gid: 2, members: ['g2'] }, OP_BUDGET_MS), { type: 'Joined', num: 3 }, 'the retried Join applies after healing')
  t.ok(sim.runUntil(() => cluster.converged(), CONVERGE_MS), 'every replica holds the same configurations')
  const [state] = cluster.states().values()
  t.same(historyProblems(state!, [...adminA.acknowledged, ...adminB.acknowledged]), [])
  t.same(sim.actorErrors, [])
})

t.test('a replica restarted after the log moved past it catches up by snapshot and log (seed 21)', async (t) => {
  const cluster = new MasterSim({ seed: 21, replicas: 3, paxos: SMALL_LOG })
  const { sim } = cluster
  const admin = cluster.admin('admin')
  const leader = cluster.awaitLeader()!
  const follower = cluster.ids.find((id) => id !== leader)!
  sim.crash(follower)
  for (const op of script(21, 10, 10)) {
    t.ok(admin.mutate(op, OP_BUDGET_MS), `${JSON.stringify(op)} acknowledged while ${follower} is down`)
    for (let query = 0; query < 5; query++) admin.query(OP_BUDGET_MS)
  }
  const traceMark = sim.trace.length
  sim.restart(follower)
  t.ok(sim.runUntil(() => cluster.converged(), CONVERGE_MS), `${follower} reaches the others' state`)
  t.ok(
    sim.trace.slice(traceMark).some((line) => line.includes(`->${follower} paxos.snapshot`)),
    `${follower} received a snapshot (the log it missed was truncated)`,
  )
  t.equal(cluster.latest(follower).num, 10)
  t.same(historyProblems(cluster.actors.get(follower)!.inspect(), admin.acknowledged), [])
  t.same(sim.actorErrors, [])
})

t.test('a follower answers without a result, naming the leader (seed 3)', async (t) => {
  const cluster = new MasterSim({ seed: 3, replicas: 3 })
  const leader = cluster.awaitLeader()!
  const follower = cluster.ids.find((id) => id !== leader)!
  cluster.sim.runFor(100)
  const replies: MasterReply[] = []
  const probe = cluster.sim.endpoint('probe', (message) => replies.push(message as MasterReply))
  probe.send(follower, { type: 'master', seq: 7, op: { type: 'Query' } })
  cluster.sim.runFor(50)
  t.same(replies, [{ type: 'masterr', seq: 7, leaderHint: leader }])
})

t.test('replicas report their roles on start and on every change; one leader at a time (seed 8)', async (t) => {
  const roles = new Map<string, string>()
  const cluster = new MasterSim({ seed: 8, replicas: 3, roleObserver: 'roles', simulator: { minDelayMs: 1, maxDelayMs: 5 } })
  // Registered before the simulation runs, so it gets the reports the replicas sent as they started.
  cluster.sim.endpoint('roles', (message: Message, from: string) => {
    if (message.type === 'role') roles.set(from, (message as RoleReport).role)
  })
  const leader = cluster.awaitLeader()!
  cluster.sim.runFor(50)
  t.same([...roles].filter(([, role]) => role === 'leader'), [[leader, 'leader']])
  cluster.sim.crash(leader)
  const next = cluster.awaitLeader()!
  cluster.sim.runFor(50)
  t.not(next, leader)
  t.equal(roles.get(next), 'leader', 'the new leader reported itself')
})

t.test('one replica elects itself, serves from the start and keeps its configurations across a restart (seed 4)', async (t) => {
  const cluster = new MasterSim({ seed: 4, replicas: 1 })
  const admin = cluster.admin('admin')
  t.match(admin.mutate({ type: 'Join', gid: 1, members: ['g1'] }, 1000), { type: 'Joined', gid: 1, num: 1 })
  t.ok(cluster.sim.now() < 100, `answered at ${cluster.sim.now()} ms`)
  cluster.sim.restart('master-0')
  t.match(admin.mutate({ type: 'Move', shard: 0, gid: 1 }, 1000), { type: 'Moved', num: 2 }, 'the restarted replica remembers configuration 1')
  t.equal(admin.query(1000)?.num, 2)
})

t.test('a run replays exactly from its seed', async (t) => {
  const trace = (): string => {
    const cluster = new MasterSim({ seed: 99, replicas: 3, paxos: SMALL_LOG, simulator: { dropRate: 0.1, duplicateRate: 0.1, randomFaults: { crashesPerSecond: 2, maxDownActors: 1 } } })
    const admin = cluster.admin('admin')
    for (const op of script(99, 6, 10)) admin.mutate(op, OP_BUDGET_MS)
    return cluster.sim.traceHash
  }
  t.equal(trace(), trace())
})

t.test('bad replica lists and tick lengths are refused, naming the option', async (t) => {
  t.throws(() => new ShardMasterActor({ shards: 4, replicas: [] }), { code: 'ERR_INVALID_OPTION', message: /replicas/ })
  t.throws(() => new ShardMasterActor({ shards: 4, replicas: ['a', 'b'] }), { code: 'ERR_INVALID_OPTION', message: /odd/ })
  t.throws(() => new ShardMasterActor({ shards: 4, replicas: ['a', 'a', 'b'] }), { code: 'ERR_INVALID_OPTION', message: /distinct/ })
  t.throws(() => new ShardMasterActor({ shards: 4, replicas: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'] }), { code: 'ERR_INVALID_OPTION' })
  t.throws(() => new ShardMasterActor({ shards: 4, replicas: ['a'], tickMs: 0 }), { code: 'ERR_INVALID_OPTION', message: /tickMs/ })
  t.throws(() => new ShardMasterActor({ shards: 4, replicas: ['a'], paxos: { heartbeatTicks: 5 } }), { code: 'ERR_INVALID_OPTION', message: /heartbeatTicks/ })
})
