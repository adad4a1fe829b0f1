import t from 'tap'
import { Prng } from '../../src/runtime/prng.js'
import { PaxosCluster } from './support/paxos-cluster.js'

/** Seeds per cluster size; a failure prints its seed so that one run replays it exactly. */
const SEEDS = 30
const FAULTY_MS = 6000
const RECOVERY_MS = 8000
const TICK_MS = 10
/** Small bounds so that a few seconds of load exercise windows, chunks, truncation and snapshot transfer. */
const PAXOS_OPTIONS = {
  electionTimeoutMinTicks: 15,
  electionTimeoutMaxTicks: 30,
  heartbeatTicks: 3,
  maxBatch: 8,
  maxInflightSlots: 4,
  maxLogSlots: 64,
  snapshotEvery: 16,
  maxSlotsPerMessage: 8,
}

interface RunResult {
  readonly problems: string[]
  readonly acknowledged: number
  readonly crashes: number
  readonly highestIndex: number
}

/**
 * One seeded run: load under drops, duplicates, delays, random partitions and
 * random crashes+restarts (never more than a minority down at once), then
 * faults stop and the cluster must elect a leader, commit new proposals and
 * bring every replica to the same applied index.
 */
function runSeed(seed: number, replicas: number): RunResult {
  const cluster = new PaxosCluster({
    seed,
    replicas,
    tickMs: TICK_MS,
    paxos: PAXOS_OPTIONS,
    simulator: {
      dropRate: 0.05,
      duplicateRate: 0.05,
      minDelayMs: 1,
      maxDelayMs: 20,
      randomFaults: { crashesPerSecond: 2, minRestartDelayMs: 50, maxRestartDelayMs: 600, maxDownActors: Math.floor((replicas - 1) / 2) },
    },
  })
  const chaos = new Prng(seed * 7919 + replicas)
  let stepsToNextPartitionChange = 0
  cluster.runWithLoad(FAULTY_MS, 20, 2, () => {
    if (stepsToNextPartitionChange-- > 0) return
    stepsToNextPartitionChange = chaos.intBetween(10, 60)
    if (chaos.chance(0.5)) return cluster.sim.heal()
    const shuffled = [...cluster.ids].sort(() => chaos.next() - 0.5)
    const cut = chaos.intBetween(1, Math.floor(replicas / 2))
    cluster.sim.partition([shuffled.slice(0, cut), [...shuffled.slice(cut), 'client']])
  })

  cluster.sim.setRandomFaults(undefined)
  cluster.sim.heal()
  cluster.sim.setFaults({ dropRate: 0, duplicateRate: 0 })
  const acknowledgedBefore = cluster.acknowledged.size
  const problems: string[] = []
  let live = false
  for (let elapsedMs = 0; elapsedMs < RECOVERY_MS && !live; elapsedMs += 20) {
    cluster.submit(1)
    cluster.sim.runFor(20)
    live = cluster.acknowledged.size >= acknowledgedBefore + 10 && cluster.leaders().length === 1
  }
  if (!live) problems.push(`no progress after faults stopped: ${cluster.acknowledged.size - acknowledgedBefore} new commits, leaders [${cluster.leaders()}]`)
  if (!cluster.sim.runUntil(() => cluster.converged(), RECOVERY_MS)) {
    problems.push(`replicas did not converge on index ${cluster.checker.highestIndex}: ${JSON.stringify([...cluster.checker.appliedIndex])}`)
  }

  const counts = cluster.checker.commandCounts()
  problems.push(...cluster.checker.violations)
  for (const [id, count] of counts) if (count > 1) problems.push(`${id} committed ${count} times`)
  for (const id of cluster.acknowledged) if (!counts.has(id)) problems.push(`${id} acknowledged but not in the agreed log`)
  for (const { actorId, error } of cluster.sim.actorErrors) problems.push(`${actorId} threw: ${String(error)}`)
  for (const [id, actor] of cluster.actors) {
    const logSize = actor.paxos?.logSize ?? 0
    if (logSize > PAXOS_OPTIONS.maxLogSlots) problems.push(`${id} holds ${logSize} slots, above maxLogSlots`)
  }
  return { problems: problems.slice(0, 10), acknowledged: cluster.acknowledged.size, crashes: cluster.sim.stats.crashes, highestIndex: cluster.checker.highestIndex }
}

for (const replicas of [3, 5]) {
  t.test(`${replicas} replicas over ${SEEDS} seeds: agreement, exactly-once and recovery under drops, duplicates, delays, partitions and crashes`, async (t) => {
    let acknowledged = 0
    let crashes = 0
    for (let seed = 1; seed <= SEEDS; seed++) {
      const result = runSeed(seed, replicas)
      acknowledged += result.acknowledged
      crashes += result.crashes
      t.same(result.problems, [], `seed ${seed} (${replicas} replicas): ${result.acknowledged} acknowledged, ${result.crashes} crashes, log through ${result.highestIndex}`)
    }
    t.ok(acknowledged > SEEDS * 50, `${acknowledged} commands acknowledged in all`)
    t.ok(crashes > SEEDS * 5, `${crashes} crashes injected in all`)
  })
}

t.test('a run replays exactly from its seed', async (t) => {
  const trace = (): string => {
    const cluster = new PaxosCluster({ seed: 99, replicas: 3, paxos: PAXOS_OPTIONS, simulator: { dropRate: 0.1, duplicateRate: 0.1, randomFaults: { crashesPerSecond: 2, maxDownActors: 1 } } })
    cluster.runWithLoad(2000, 20, 2)
    return cluster.sim.traceHash
  }
  t.equal(trace(), trace())
})

t.test('a minority partition cannot commit; the majority side elects and serves; healing converges', async (t) => {
  const cluster = new PaxosCluster({ seed: 5, replicas: 5, paxos: PAXOS_OPTIONS })
  cluster.runWithLoad(1000, 20, 1)
  t.equal(cluster.leaders().length, 1)
  const oldLeader = cluster.leaders()[0]!
  const minority = [oldLeader, cluster.ids.find((id) => id !== oldLeader)!]
  const majority = cluster.ids.filter((id) => !minority.includes(id))
  cluster.sim.partition([minority, [...majority, 'client']])
  const indexBefore = Math.max(...minority.map((id) => cluster.checker.appliedIndex.get(id)!))
  cluster.runWithLoad(3000, 20, 1)
  t.ok(
    minority.every((id) => cluster.checker.appliedIndex.get(id)! === indexBefore),
    'nothing committed on the minority side',
  )
  t.same(cluster.leaders().filter((id) => majority.includes(id)).length, 1, 'the majority elected its own leader')
  t.notOk(cluster.actors.get(oldLeader)!.paxos!.isLeader, 'the cut-off leader stepped down')
  const acknowledged = cluster.acknowledged.size
  cluster.runWithLoad(1000, 20, 1)
  t.ok(cluster.acknowledged.size > acknowledged, 'the majority keeps committing')
  cluster.sim.heal()
  t.ok(cluster.sim.runUntil(() => cluster.converged(), 5000), 'after healing every replica reaches the same index')
  t.same(cluster.checker.violations, [])
})
