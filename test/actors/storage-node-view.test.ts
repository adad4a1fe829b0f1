/**
 * A storage node's read view (view-publisher.ts) against the lease argument
 * it borrows from MultiPaxos.canReadLocally: while a view answers with a
 * lease, no other replica may become leader and commit. The lease counts the
 * leader itself among the replicas that refuse rival candidates, so a leader
 * that steps down must stop its view answering before it can promise a rival.
 *
 * Three real StorageNodeActors on a hand-driven network: the test decides
 * which messages each node receives in one batch (as a worker drains its
 * lanes) and when time moves, so the schedule is exact. The view is a Map
 * model of ReadView; what matters is what it says at the moment each message
 * leaves its node (a node's thread may stall right after any send).
 */
import t from 'tap'
import type { KvReply, KvRequest, MasterReply, MasterRequest } from '../../src/actors/messages.js'
import type { Config } from '../../src/actors/shard-config.js'
import { shardOf } from '../../src/actors/shard-hash.js'
import { StorageNodeActor } from '../../src/actors/storage-node.js'
import type { ActorContext, Message, ReadView, TimerId } from '../../src/runtime/actor.js'
import { Prng } from '../../src/runtime/prng.js'
import { MemoryStableStorage } from '../../src/runtime/stable-storage.js'

const SHARDS = 4
const MEMBERS = ['n1', 'n2', 'n3'] as const
const MASTER = 'm'
const CLIENT = 'client'
const KEY = 'k'
/** Virtual time the group gets to elect a leader with a lease and learn its configuration; far above the 100..200 ms an election takes. */
const SETTLE_BUDGET_MS = 5000

/** The ReadView contract on Maps, in the node's now() time. */
class ModelView implements ReadView {
  leaseEndMs = Number.NEGATIVE_INFINITY
  readonly serving = new Set<number>()
  readonly data = new Map<string, string | Uint8Array>()

  reset(): void {
    this.leaseEndMs = Number.NEGATIVE_INFINITY
    this.serving.clear()
    this.data.clear()
  }

  setLeaseEnd(endMs: number): void {
    this.leaseEndMs = endMs
  }

  setServing(shard: number, serving: boolean): boolean {
    if (serving) this.serving.add(shard)
    else this.serving.delete(shard)
    return true
  }

  isServing(shard: number): boolean {
    return this.serving.has(shard)
  }

  set(shard: number, key: string, value: string | Uint8Array): boolean {
    this.data.set(`${shard}/${key}`, value)
    return true
  }

  delete(shard: number, key: string): void {
    this.data.delete(`${shard}/${key}`)
  }

  clearShard(shard: number): void {
    this.serving.delete(shard)
    for (const name of [...this.data.keys()]) if (name.startsWith(`${shard}/`)) this.data.delete(name)
  }

  /** What a reader in another thread would get at `nowMs`: the value, undefined when absent, 'not-in-view' when the view does not answer. */
  read(key: string, nowMs: number): string | Uint8Array | undefined | 'not-in-view' {
    const shard = shardOf(key, SHARDS)
    if (!this.serving.has(shard) || !(nowMs < this.leaseEndMs)) return 'not-in-view'
    return this.data.get(`${shard}/${key}`)
  }

  copy(): ModelView {
    const copy = new ModelView()
    copy.leaseEndMs = this.leaseEndMs
    for (const shard of this.serving) copy.serving.add(shard)
    for (const [name, value] of this.data) copy.data.set(name, value)
    return copy
  }
}

interface Envelope {
  readonly from: string
  readonly to: string
  readonly message: Message
}

interface Timer {
  readonly id: TimerId
  readonly dueMs: number
  readonly message: Message
}

/** One node: the actor, its context, its timers and its view. */
class Node {
  readonly actor: StorageNodeActor
  readonly view = new ModelView()
  timers: Timer[] = []
  readonly ctx: ActorContext & { sender: string }

  constructor(
    readonly id: string,
    net: Net,
    seed: number,
  ) {
    const random = new Prng(seed)
    const storage = new MemoryStableStorage()
    let nextTimer = 1
    this.ctx = {
      self: id,
      sender: id,
      storage,
      readView: this.view,
      send: (to, message) => net.transmit(this, to, message),
      setTimer: (delayMs, message) => {
        const timer = { id: nextTimer++, dueMs: net.nowMs + delayMs, message }
        this.timers.push(timer)
        return timer.id
      },
      cancelTimer: (timerId) => {
        this.timers = this.timers.filter((timer) => timer.id !== timerId)
      },
      now: () => net.nowMs,
      random: () => random.next(),
    }
    this.actor = new StorageNodeActor({ gid: 1, shards: SHARDS, masters: [MASTER], maxKeyBytes: 64, maxValueBytes: 1024, members: [...MEMBERS] })
  }

  /** As the worker host starts an actor: start, then a first batch end. */
  start(): void {
    this.actor.start(this.ctx)
    this.actor.afterBatch(this.ctx)
  }

  /** One batch: every message in order, then the batch's end (group commit, flush, publish). */
  batch(envelopes: readonly Envelope[]): void {
    for (const { from, message } of envelopes) {
      this.ctx.sender = from
      this.actor.receive(message, this.ctx)
    }
    this.actor.afterBatch(this.ctx)
  }

  /** Fires the timers due at `nowMs` as one batch; false when none was due. */
  fireDue(nowMs: number): boolean {
    const due = this.timers.filter((timer) => timer.dueMs <= nowMs)
    if (due.length === 0) return false
    this.timers = this.timers.filter((timer) => timer.dueMs > nowMs)
    for (const timer of due) {
      this.ctx.sender = this.id
      this.actor.receive(timer.message, this.ctx)
    }
    this.actor.afterBatch(this.ctx)
    return true
  }
}

/** Every message a node sent, with a copy of its view at that instant. */
interface SentRecord extends Envelope {
  readonly atMs: number
  readonly senderView: ModelView
}

class Net {
  nowMs = 0
  inFlight: Envelope[] = []
  readonly sent: SentRecord[] = []
  readonly replies: KvReply[] = []
  readonly nodes: Node[]
  private readonly configs: Config[] = [
    { num: 0, shards: new Array<number>(SHARDS).fill(0), groups: {} },
    { num: 1, shards: new Array<number>(SHARDS).fill(1), groups: { 1: [...MEMBERS] } },
  ]

  constructor() {
    this.nodes = MEMBERS.map((id, index) => new Node(id, this, 1000 + index))
    for (const node of this.nodes) node.start()
  }

  node(id: string): Node {
    return this.nodes.find((node) => node.id === id)!
  }

  transmit(from: Node, to: string, message: Message): void {
    // structuredClone: receivers never share objects with senders, as between workers.
    const envelope = { from: from.id, to, message: structuredClone(message) }
    this.sent.push({ ...envelope, atMs: this.nowMs, senderView: from.view.copy() })
    if (to === MASTER) return this.answerMaster(from.id, message as MasterRequest)
    if (to === CLIENT) {
      this.replies.push(envelope.message as KvReply)
      return
    }
    this.inFlight.push(envelope)
  }

  /** A shard master that knows configurations 0 (no groups) and 1 (group 1 owns every shard). */
  private answerMaster(from: string, request: MasterRequest): void {
    if (request.op.type !== 'Query') return
    const asked = request.op.num ?? -1
    const num = asked < 0 || asked >= this.configs.length ? this.configs.length - 1 : asked
    const reply: MasterReply = { type: 'masterr', seq: request.seq, result: { type: 'Config', config: structuredClone(this.configs[num]!) } }
    this.inFlight.push({ from: MASTER, to: from, message: reply })
  }

  /** Removes and returns the messages in flight that `pick` selects. */
  take(pick: (envelope: Envelope) => boolean): Envelope[] {
    const taken = this.inFlight.filter(pick)
    this.inFlight = this.inFlight.filter((envelope) => !pick(envelope))
    return taken
  }

  /** Each node receives, as one batch, what is in flight to it and `allow` lets through; the rest of what `allow` refuses is lost. */
  deliver(allow: (envelope: Envelope) => boolean = () => true): void {
    const envelopes = this.take(() => true)
    for (const node of this.nodes) {
      const batch = envelopes.filter((envelope) => envelope.to === node.id && allow(envelope))
      if (batch.length > 0) node.batch(batch)
    }
  }

  /** Advances time 1 ms at a time, firing timers and delivering (filtered) messages, until `done` or the budget ends. */
  runUntil(done: () => boolean, budgetMs: number, allow?: (envelope: Envelope) => boolean): boolean {
    const endMs = this.nowMs + budgetMs
    while (!done()) {
      if (this.nowMs >= endMs) return false
      this.nowMs++
      for (const node of this.nodes) node.fireDue(this.nowMs)
      this.deliver(allow)
    }
    return true
  }

  leader(): Node | undefined {
    return this.nodes.find((node) => node.actor.role === 'leader')
  }

  /** A leader whose view answers every shard now. */
  viewLeader(): Node | undefined {
    const leader = this.leader()
    return leader !== undefined && leader.view.leaseEndMs > this.nowMs && leader.view.serving.size === SHARDS ? leader : undefined
  }

  put(to: Node, seq: number, value: string): void {
    const request: KvRequest = { type: 'kv', op: 'put', clientId: 'c1', seq, ackedBelow: seq, key: KEY, value, configNum: 1 }
    this.inFlight.push({ from: CLIENT, to: to.id, message: request })
  }
}

function involves(id: string): (envelope: Envelope) => boolean {
  return (envelope) => envelope.from === id || envelope.to === id
}

function isType(type: string): (envelope: Envelope) => boolean {
  return (envelope) => envelope.message.type === type
}

t.test('a leader that steps down and promises a rival in one batch has stopped its view answering before the promise leaves', async (t) => {
  const net = new Net()
  t.ok(net.runUntil(() => net.viewLeader() !== undefined, SETTLE_BUDGET_MS), 'a leader publishes a lease over every shard')
  const leader = net.viewLeader()!
  net.put(leader, 1, 'old')
  t.ok(
    net.runUntil(() => net.replies.some((reply) => reply.seq === 1 && reply.status === 'ok'), SETTLE_BUDGET_MS),
    'the leader acknowledged the first write',
  )
  t.equal(leader.view.read(KEY, net.nowMs), 'old', "the leader's view answers it")
  const rival = net.nodes.find((node) => node !== leader)!

  // The rival hears nothing (its links drop), times out and campaigns; the follower keeps renewing the leader's lease.
  const isolated = (envelope: Envelope): boolean => !involves(rival.id)(envelope)
  t.ok(net.runUntil(() => rival.actor.role === 'candidate', SETTLE_BUDGET_MS, isolated), `${rival.id} campaigns`)
  // One of the leader's heartbeats gets through: the rival, having promised itself a higher ballot, nacks it.
  const heartbeats: Envelope[] = []
  const keepHeartbeat = (envelope: Envelope): boolean => {
    if (envelope.from === leader.id && envelope.to === rival.id && isType('paxos.heartbeat')(envelope)) heartbeats.push(envelope)
    return isolated(envelope)
  }
  t.ok(net.runUntil(() => heartbeats.length > 0, 100, keepHeartbeat), `${leader.id} heartbeats ${rival.id}`)
  rival.batch(heartbeats.slice(0, 1))
  const nack = net.take((envelope) => envelope.from === rival.id && isType('paxos.nack')(envelope))
  t.equal(nack.length, 1, `${rival.id} nacks the leader's heartbeat`)
  // The rival campaigns twice more, so its newest prepare outranks the ballot the leader will take above the nack.
  const prepares: Envelope[] = []
  const keepPrepares = (envelope: Envelope): boolean => {
    if (envelope.from === rival.id && envelope.to === leader.id && isType('paxos.prepare')(envelope)) prepares.push(envelope)
    return isolated(envelope)
  }
  const campaigns = (): number => prepares.length
  t.ok(net.runUntil(() => campaigns() >= 2, SETTLE_BUDGET_MS, keepPrepares), `${rival.id} campaigned twice more`)
  t.ok(leader.view.read(KEY, net.nowMs) === 'old', "the leader still leads, and its view answers under a lease renewed by the follower")

  // The leader drains the nack and the rival's newest prepare in one batch (as a worker drains a lane): it re-campaigns on
  // the nack, which makes it a candidate that no longer refuses others, and then promises the rival's higher ballot.
  const sentBefore = net.sent.length
  leader.batch([...nack, prepares.at(-1)!])
  const answeringSends = net.sent.slice(sentBefore).filter((record) => record.senderView.read(KEY, record.atMs) !== 'not-in-view')
  t.same(
    answeringSends.map((record) => `${record.message.type} to ${record.to}`),
    [],
    `nothing left ${leader.id} after it stopped leading while its view answered (its prepares, too, release the follower)`,
  )
  const promise = net.sent.find((record) => record.from === leader.id && record.to === rival.id && record.message.type === 'paxos.promise')
  t.ok(promise !== undefined, `${leader.id} promised ${rival.id}'s ballot`)
  t.equal(leader.actor.role, 'follower', `${leader.id} follows now`)
  const stalled = promise!.senderView
  t.equal(stalled.read(KEY, net.nowMs), 'not-in-view', `when the promise left ${leader.id}, its view answered nothing (its thread may stall right there)`)

  // What a stall there allows: the rival leads with that promise and commits through the follower alone, all within
  // the lease the old leader's view carried; a write it acknowledges must be what every answering view returns.
  rival.batch(net.take((envelope) => envelope.to === rival.id && envelope.from === leader.id && isType('paxos.promise')(envelope)))
  t.equal(rival.actor.role, 'leader', `${rival.id} leads with ${leader.id}'s promise`)
  const viaFollower = (envelope: Envelope): boolean => envelope.from !== leader.id && envelope.to !== leader.id
  for (let round = 0; round < 4; round++) net.deliver(viaFollower)
  net.put(rival, 2, 'new')
  for (let round = 0; round < 6 && !net.replies.some((reply) => reply.seq === 2); round++) net.deliver(viaFollower)
  t.match(
    net.replies.find((reply) => reply.seq === 2),
    { status: 'ok' },
    `${rival.id} acknowledged the second write at ${net.nowMs} ms`,
  )
  const answer = stalled.read(KEY, net.nowMs)
  t.ok(answer === 'not-in-view' || answer === 'new', `the old leader's view as it was when its promise left answers ${JSON.stringify(answer)}: not the overwritten value`)
})
