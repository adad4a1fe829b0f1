/**
 * One replicated group (three storage nodes over Multi-Paxos) and a shard
 * master in the deterministic simulator, driven by a test endpoint that
 * sends requests to chosen nodes. Each test names its seed.
 */
import t from 'tap'
import type { KvReply, KvRequest, MasterReply, MasterRequest } from '../../src/actors/messages.js'
import { ShardMasterActor } from '../../src/actors/shard-master.js'
import type { MasterOp } from '../../src/actors/shard-master-state.js'
import { StorageNodeActor, type StoragePaxosOptions } from '../../src/actors/storage-node.js'
import { Simulator } from '../../src/runtime/simulator.js'

const SHARDS = 4
const MASTER = 'master'
const NODES = ['n1', 'n2', 'n3'] as const
const GID = 1

class GroupHarness {
  readonly nodes = new Map<string, StorageNodeActor>()
  private readonly replies = new Map<number, KvReply[]>()
  private readonly masterReplies = new Map<number, MasterReply>()
  private readonly client
  private seq = 1

  constructor(
    readonly sim: Simulator,
    paxos: StoragePaxosOptions = {},
  ) {
    sim.spawn(MASTER, () => new ShardMasterActor({ shards: SHARDS, replicas: [MASTER] }))
    for (const id of NODES) {
      sim.spawn(id, () => {
        const node = new StorageNodeActor({ gid: GID, shards: SHARDS, masters: [MASTER], maxKeyBytes: 64, maxValueBytes: 1 << 20, members: NODES, paxos })
        this.nodes.set(id, node)
        return node
      })
    }
    this.client = sim.endpoint('client', (message) => {
      if (message.type === 'kvr') {
        const reply = message as KvReply
        this.replies.set(reply.seq, [...(this.replies.get(reply.seq) ?? []), reply])
      }
      if (message.type === 'masterr') this.masterReplies.set((message as MasterReply).seq, message as MasterReply)
    })
    const op: MasterOp = { type: 'Join', gid: GID, members: [...NODES], requestId: { clientId: 'admin', seq: 1 } }
    for (let attempt = 0; attempt < 100 && this.masterReplies.get(0)?.result === undefined; attempt++) {
      this.masterReplies.delete(0)
      this.client.send(MASTER, { type: 'master', seq: 0, op } satisfies MasterRequest)
      sim.runUntil(() => this.masterReplies.has(0), 200)
    }
    if (this.masterReplies.get(0)?.result?.type !== 'Joined') throw new Error('the join did not complete')
  }

  leader(): string | undefined {
    return NODES.find((id) => this.sim.isRunning(id) && this.nodes.get(id)!.role === 'leader')
  }

  awaitLeader(not?: string): string {
    if (!this.sim.runUntil(() => this.leader() !== undefined && this.leader() !== not, 10_000)) throw new Error('no leader elected')
    return this.leader()!
  }

  /** Sends one request to `to` and runs up to `waitMs`; the replies it got. */
  send(to: string, op: KvRequest['op'], key: string, value: string | undefined, seq = this.seq++, waitMs = 300): KvReply[] {
    const request: KvRequest = { type: 'kv', op, clientId: 'c1', seq, ackedBelow: 0, key, value, configNum: 0 }
    this.client.send(to, request)
    this.sim.runUntil(() => this.replies.has(seq), waitMs)
    const replies = this.replies.get(seq) ?? []
    this.replies.delete(seq)
    return replies
  }

  /** Resends to whoever leads, following hints, until the request is answered ok (bounded). */
  call(op: KvRequest['op'], key: string, value?: string, seq = this.seq++): KvReply {
    for (let attempt = 0; attempt < 200; attempt++) {
      const target = this.leader() ?? NODES[attempt % NODES.length]!
      const ok = this.send(target, op, key, value, seq).find((reply) => reply.status === 'ok')
      if (ok !== undefined) return ok
    }
    throw new Error(`${op} ${key} (seq ${seq}) was never answered ok`)
  }

  nextSeq(): number {
    return this.seq++
  }
}

function newSim(seed: number): Simulator {
  return new Simulator({ seed, minDelayMs: 1, maxDelayMs: 3 })
}

t.test('snapshots keep the log bounded: many writes through a small log, and a restarted follower catches up by snapshot', async (t) => {
  const harness = new GroupHarness(newSim(11), { snapshotEvery: 8, maxLogSlots: 24 })
  const leader = harness.awaitLeader()
  const follower = NODES.find((id) => id !== leader)!
  harness.sim.crash(follower)
  // Sequential appends: one slot each, so 300 slots pass through a log that holds 24 (the leader stops proposing at the bound).
  for (let n = 0; n < 300; n++) harness.call('append', 'k', `${n},`)
  harness.sim.restart(follower)
  for (let n = 300; n < 320; n++) harness.call('append', 'k', `${n},`)
  harness.sim.runFor(2000)
  const expected = Array.from({ length: 320 }, (_, n) => `${n},`).join('')
  t.equal(harness.call('get', 'k').value, expected, 'every append once, in order')
  harness.sim.runFor(2000)
  const states = NODES.map((id) => Buffer.from(harness.nodes.get(id)!.inspect()).toString('hex'))
  t.ok(states.every((state) => state === states[0]), 'all three nodes applied the same state, the restarted one included')
})

t.test('a leader cut off in a minority cannot commit; the majority elects and serves; the retry applies once after the heal', async (t) => {
  const harness = new GroupHarness(newSim(12))
  harness.call('put', 'k', 'a')
  const leader = harness.awaitLeader()
  const majority: string[] = NODES.filter((id) => id !== leader)
  harness.sim.partition([[leader, 'client'], [...majority]])
  const seq = harness.nextSeq()
  const replies = harness.send(leader, 'append', 'k', 'b', seq, 2000)
  t.same(replies.filter((reply) => reply.status === 'ok'), [], 'the cut-off leader never answers ok')
  t.not(harness.nodes.get(leader)!.role, 'leader', 'and stepped down')
  harness.sim.partition([[leader], [...majority, 'client']])
  const successor = harness.awaitLeader(leader)
  t.ok(majority.includes(successor), 'the majority elected a leader')
  harness.call('append', 'k', 'c')
  harness.sim.heal()
  harness.call('append', 'k', 'b', seq)
  harness.sim.runFor(1000)
  t.equal(harness.call('get', 'k').value, 'acb', 'the retried append applied once, after the majority write')
  const states = NODES.map((id) => Buffer.from(harness.nodes.get(id)!.inspect()).toString('hex'))
  t.ok(states.every((state) => state === states[0]), 'the healed node converged')
})

t.test('followers redirect clients to the leader and never answer from their own state', async (t) => {
  const harness = new GroupHarness(newSim(13))
  harness.call('put', 'k', 'v')
  const leader = harness.awaitLeader()
  for (const follower of NODES.filter((id) => id !== leader)) {
    const replies = harness.send(follower, 'get', 'k', undefined)
    t.same(
      replies.map((reply) => [reply.status, reply.leaderHint]),
      [['not_leader', leader]],
      `${follower} answers not_leader with the hint`,
    )
  }
})
