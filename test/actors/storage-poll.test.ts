/**
 * Regression: a storage group's leader must follow the shard master's leader
 * hint when the master it asked is a follower. Before the fix, the reply
 * `{ seq, leaderHint }` set the master index to the hint but left the query
 * counted as unanswered, so the next tick took the hinted leader for a dead
 * master and rotated past it: with masters [m1, m2, m3] led by m2 the group
 * asked m1, m3, m3, m3... forever and never learned a configuration.
 *
 * Here the shard master's leader is deliberately not masters[0]: 'master-1'
 * and 'master-3' are fake followers that always answer with the hint
 * 'master-2', and 'master-2' is a real (single-replica) ShardMasterActor.
 * Deterministic: a named seed, fixed network delays, no faults.
 */
import t from 'tap'
import type { MasterReply, MasterRequest } from '../../src/actors/messages.js'
import { ShardMasterActor } from '../../src/actors/shard-master.js'
import type { MasterOp, MasterResult } from '../../src/actors/shard-master-state.js'
import { StorageNodeActor } from '../../src/actors/storage-node.js'
import { StorageState } from '../../src/actors/storage-state.js'
import type { Actor, ActorContext, Message } from '../../src/runtime/actor.js'
import { Simulator } from '../../src/runtime/simulator.js'

const SHARDS = 4
const GID = 1
const LEADER = 'master-2'
/** The leader sits in the middle, so neither the first pick nor a plain rotation from the first lands on it by luck alone. */
const MASTERS = ['master-1', LEADER, 'master-3'] as const
const MAX_KEY_BYTES = 64
const MAX_VALUE_BYTES = 1 << 20
/**
 * Virtual time a group gets to learn one configuration: an election (at most
 * 200 ms at the default tick) plus a few poll rounds (50 ms each) and their
 * round trips (3 ms at most). Far below it, so a miss is a hang, not slowness.
 */
const LEARN_BUDGET_MS = 1500
/** Virtual time the admin gets for one master mutation (the lone master elects itself first). */
const MUTATION_BUDGET_MS = 2000

/** A master replica that never leads: it answers every request without a result, naming the leader. */
class FollowerMaster implements Actor {
  queries = 0

  receive(message: Message, ctx: ActorContext): void {
    if (message.type !== 'master') return
    this.queries++
    const reply: MasterReply = { type: 'masterr', seq: (message as MasterRequest).seq, leaderHint: LEADER }
    ctx.send(ctx.sender, reply)
  }
}

class PollHarness {
  readonly sim = new Simulator({ seed: 41, minDelayMs: 1, maxDelayMs: 3 })
  readonly followers = new Map<string, FollowerMaster>()
  readonly nodes = new Map<string, StorageNodeActor>()
  readonly members: readonly string[]
  private readonly masterReplies = new Map<number, MasterReply>()
  private readonly admin
  private adminSeq = 1

  constructor(groupSize: number) {
    this.members = Array.from({ length: groupSize }, (_, index) => `n${index + 1}`)
    for (const id of MASTERS) {
      if (id === LEADER) {
        this.sim.spawn(id, () => new ShardMasterActor({ shards: SHARDS, replicas: [LEADER] }))
      } else {
        this.sim.spawn(id, () => {
          const follower = new FollowerMaster()
          this.followers.set(id, follower)
          return follower
        })
      }
    }
    for (const id of this.members) {
      this.sim.spawn(id, () => {
        const node = new StorageNodeActor({ gid: GID, shards: SHARDS, masters: MASTERS, maxKeyBytes: MAX_KEY_BYTES, maxValueBytes: MAX_VALUE_BYTES, members: this.members })
        this.nodes.set(id, node)
        return node
      })
    }
    this.admin = this.sim.endpoint('admin', (message) => {
      if (message.type === 'masterr') this.masterReplies.set((message as MasterReply).seq, message as MasterReply)
    })
  }

  /** Sends `op` straight to the real leader until it answers with a result (bounded); the admin is not under test. */
  mutate(op: MasterOp): MasterResult {
    const deadlineMs = this.sim.now() + MUTATION_BUDGET_MS
    while (this.sim.now() < deadlineMs) {
      const seq = this.adminSeq++
      this.admin.send(LEADER, { type: 'master', seq, op } satisfies MasterRequest)
      this.sim.runUntil(() => this.masterReplies.has(seq), 200)
      const result = this.masterReplies.get(seq)?.result
      if (result !== undefined) return result
      this.sim.runFor(20)
    }
    throw new Error(`${JSON.stringify(op)} was not answered by ${LEADER} within ${MUTATION_BUDGET_MS} ms`)
  }

  /** The configuration each node has applied (-1 before the group started). */
  configNums(): number[] {
    const options = { gid: GID, shards: SHARDS, maxKeyBytes: MAX_KEY_BYTES, maxValueBytes: MAX_VALUE_BYTES }
    return this.members.map((id) => {
      const state = StorageState.restore(options, this.nodes.get(id)!.inspect())
      return state.isStarted ? state.configNum : -1
    })
  }

  /** Runs until every node has applied configuration `num`, for at most LEARN_BUDGET_MS; whether it did. */
  awaitConfig(num: number): boolean {
    return this.sim.runUntil(() => this.configNums().every((applied) => applied >= num), LEARN_BUDGET_MS)
  }
}

for (const groupSize of [1, 3]) {
  t.test(`a ${groupSize}-node group learns each next configuration when masters[0] is a follower hinting at the leader`, async (t) => {
    const harness = new PollHarness(groupSize)

    const joined = harness.mutate({ type: 'Join', gid: GID, members: [...harness.members], requestId: { clientId: 'admin', seq: 1 } })
    t.match(joined, { type: 'Joined', gid: GID, num: 1 }, 'the join made configuration 1')
    t.ok(harness.awaitConfig(1), `the group reached configuration 1 within ${LEARN_BUDGET_MS} ms (got ${harness.configNums().join(',')})`)

    // The group now polls for configuration 2, starting from wherever the hint left it; a Move makes one.
    const moved = harness.mutate({ type: 'Move', shard: 0, gid: GID, requestId: { clientId: 'admin', seq: 2 } })
    t.match(moved, { type: 'Moved', num: 2 }, 'the move made configuration 2')
    t.ok(harness.awaitConfig(2), `the group reached configuration 2 within ${LEARN_BUDGET_MS} ms (got ${harness.configNums().join(',')})`)

    // Once pointed at the leader the group stays there: a second of further polling (20 ticks) asks no follower again.
    const followerQueries = (): number => [...harness.followers.values()].reduce((sum, follower) => sum + follower.queries, 0)
    const askedBefore = followerQueries()
    harness.sim.runFor(1000)
    t.equal(followerQueries(), askedBefore, `no follower asked again after the group found ${LEADER} (${askedBefore} follower queries in all)`)
  })
}
