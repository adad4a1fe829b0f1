/**
 * One replicated group (three storage nodes) in the deterministic simulator
 * under seeded chaos: the leader cut off, a random node cut off, heals,
 * crashes and restarts from stable storage, lost, duplicated and reordered
 * messages. Sequential writers append unique tokens to their own keys and
 * record each append once it is answered ok, then read the key back: the
 * read must see exactly the acknowledged tokens (a leader answering reads
 * from its own state under a lease must never be stale). At the end every
 * key must hold exactly the acknowledged tokens, in order, and every node
 * the same state.
 *
 * Each seed replays exactly; a failure names it. FUZZ_SEEDS=n runs more
 * seeds, FUZZ_SEED=s and FUZZ_VARIANT=i replay one, FUZZ_TRACE=1 prints the
 * end of the simulator's trace on failure.
 */
import t from 'tap'
import type { KvReply, KvRequest, MasterReply, MasterRequest } from '../../src/actors/messages.js'
import { ShardMasterActor } from '../../src/actors/shard-master.js'
import type { MasterOp } from '../../src/actors/shard-master-state.js'
import { StorageNodeActor, type StoragePaxosOptions } from '../../src/actors/storage-node.js'
import type { Actor, ActorContext, Message } from '../../src/runtime/actor.js'
import { Prng } from '../../src/runtime/prng.js'
import { Simulator } from '../../src/runtime/simulator.js'

const SHARDS = 4
const MASTER = 'master'
const NODES = ['n1', 'n2', 'n3'] as const
const GID = 1
const WRITERS = 3
const KEYS_PER_WRITER = 3
const WRITER_TICK_MS = 10
/** A writer resends an unanswered append (same seq) to the next node after this long. */
const WRITER_RETRY_MS = 60
const CHAOS_MS = 8000
const SEEDS = Number(process.env.FUZZ_SEEDS ?? 12)

/** A sequential writer: one append in flight, retried under the same seq until answered ok. */
class Writer implements Actor {
  /** Per key, the tokens acknowledged, in order. */
  readonly acknowledged = new Map<string, string[]>()
  /** Reads that did not see every append acknowledged before them. */
  readonly staleReads: string[] = []
  reads = 0
  running = true
  private seq = 1
  private round = 0
  private target = 0
  private current: { request: KvRequest; token: string | undefined; sentAtMs: number } | undefined

  constructor(
    private readonly id: string,
    private readonly keys: readonly string[],
  ) {}

  /** True while an append is unanswered. */
  get waiting(): boolean {
    return this.current !== undefined
  }

  start(ctx: ActorContext): void {
    this.next(ctx)
    ctx.setTimer(WRITER_TICK_MS, { type: 'writer-tick' })
  }

  receive(message: Message, ctx: ActorContext): void {
    if (message.type === 'writer-tick') {
      ctx.setTimer(WRITER_TICK_MS, { type: 'writer-tick' })
      if (this.current !== undefined && ctx.now() - this.current.sentAtMs >= WRITER_RETRY_MS) {
        this.target = (this.target + 1) % NODES.length
        this.send(ctx)
      }
      if (this.current === undefined) this.next(ctx)
      return
    }
    if (message.type !== 'kvr' || this.current === undefined) return
    const reply = message as KvReply
    if (reply.seq !== this.current.request.seq) return
    if (reply.status === 'ok') {
      const { key } = this.current.request
      const { token } = this.current
      this.current = undefined
      if (token === undefined) {
        this.reads++
        const expected = (this.acknowledged.get(key) ?? []).join('')
        if (reply.value !== expected) this.staleReads.push(`${key} at ${ctx.now()} ms: read ${JSON.stringify(reply.value)}, acknowledged ${JSON.stringify(expected)}`)
        return this.next(ctx)
      }
      this.acknowledged.set(key, [...(this.acknowledged.get(key) ?? []), token])
      return this.read(key, ctx)
    }
    if (reply.status === 'not_leader') {
      const hinted = reply.leaderHint === undefined ? -1 : NODES.indexOf(reply.leaderHint as (typeof NODES)[number])
      this.target = hinted >= 0 && hinted !== this.target ? hinted : (this.target + 1) % NODES.length
      if (hinted >= 0) this.send(ctx)
    }
  }

  private next(ctx: ActorContext): void {
    if (!this.running) return
    const key = this.keys[this.round % this.keys.length]!
    const token = `${this.id}.${this.round++};`
    const seq = this.seq++
    const request: KvRequest = { type: 'kv', op: 'append', clientId: this.id, seq, ackedBelow: seq, key, value: token, configNum: 0 }
    this.current = { request, token, sentAtMs: 0 }
    this.send(ctx)
  }

  private read(key: string, ctx: ActorContext): void {
    const seq = this.seq++
    const request: KvRequest = { type: 'kv', op: 'get', clientId: this.id, seq, ackedBelow: seq, key, configNum: 0 }
    this.current = { request, token: undefined, sentAtMs: 0 }
    this.send(ctx)
  }

  private send(ctx: ActorContext): void {
    this.current!.sentAtMs = ctx.now()
    ctx.send(NODES[this.target]!, this.current!.request)
  }
}

interface FuzzResult {
  readonly problems: string[]
  readonly acknowledged: number
  readonly trace: string[]
}

function runSeed(seed: number, paxos: StoragePaxosOptions, crashes: boolean): FuzzResult {
  const sim = new Simulator({ seed, minDelayMs: 1, maxDelayMs: 8, traceLimit: 400 })
  const nodes = new Map<string, StorageNodeActor>()
  sim.spawn(MASTER, () => new ShardMasterActor({ shards: SHARDS, replicas: [MASTER] }))
  for (const id of NODES) {
    sim.spawn(id, () => {
      const node = new StorageNodeActor({ gid: GID, shards: SHARDS, masters: [MASTER], maxKeyBytes: 64, maxValueBytes: 1 << 20, members: NODES, paxos })
      nodes.set(id, node)
      return node
    })
  }
  let joined = false
  const admin = sim.endpoint('admin', (message) => {
    if (message.type === 'masterr' && (message as MasterReply).result?.type === 'Joined') joined = true
  })
  const join: MasterOp = { type: 'Join', gid: GID, members: [...NODES], requestId: { clientId: 'admin', seq: 1 } }
  for (let attempt = 0; attempt < 50 && !joined; attempt++) {
    admin.send(MASTER, { type: 'master', seq: 0, op: join } satisfies MasterRequest)
    sim.runUntil(() => joined, 200)
  }
  if (!joined) return { problems: ['the join did not complete'], acknowledged: 0, trace: [] }

  const writers: Writer[] = []
  for (let w = 0; w < WRITERS; w++) {
    const id = `w${w}`
    const writer = new Writer(id, Array.from({ length: KEYS_PER_WRITER }, (_, n) => `${id}-k${n}`))
    writers.push(writer)
    sim.spawn(id, () => writer)
  }

  const chaos = new Prng(seed * 31 + 7)
  const leader = (): string | undefined => NODES.find((id) => sim.isRunning(id) && nodes.get(id)!.role === 'leader')
  const down = new Map<string, number>()
  for (let elapsed = 0; elapsed < CHAOS_MS; ) {
    const stepMs = chaos.intBetween(30, 400)
    sim.runFor(stepMs)
    elapsed += stepMs
    for (const [id, upAtMs] of down) {
      if (sim.now() >= upAtMs) {
        sim.restart(id)
        down.delete(id)
      }
    }
    const choice = chaos.next()
    if (choice < 0.3) {
      const isolated = leader() ?? NODES[chaos.intBetween(0, NODES.length - 1)]!
      sim.partition([[isolated], NODES.filter((id) => id !== isolated)])
    } else if (choice < 0.5) {
      const isolated = NODES[chaos.intBetween(0, NODES.length - 1)]!
      sim.partition([[isolated], NODES.filter((id) => id !== isolated)])
    } else if (choice < 0.75) {
      sim.heal()
    } else if (choice < 0.8) {
      sim.setFaults({ dropRate: 0.1, duplicateRate: 0.1, maxDelayMs: 30 })
    } else if (choice < 0.85) {
      sim.setFaults({ dropRate: 0, duplicateRate: 0, maxDelayMs: 8 })
    } else if (crashes && down.size === 0) {
      const victim = chaos.chance(0.5) ? (leader() ?? NODES[0]) : NODES[chaos.intBetween(0, NODES.length - 1)]!
      sim.crash(victim)
      down.set(victim, sim.now() + chaos.intBetween(20, 600))
    }
  }
  for (const id of down.keys()) sim.restart(id)
  sim.heal()
  sim.setFaults({ dropRate: 0, duplicateRate: 0, maxDelayMs: 8 })
  for (const writer of writers) writer.running = false
  sim.runFor(3000)

  const problems: string[] = []
  const stuck = writers.filter((writer) => writer.waiting)
  if (stuck.length > 0) problems.push(`${stuck.length} writers still waiting after the heal`)
  // Every node's applied state must be the same, and hold every acknowledged append exactly once, in order.
  for (const writer of writers) problems.push(...writer.staleReads)
  if (writers.reduce((sum, writer) => sum + writer.reads, 0) === 0) problems.push('no read was answered')
  const states = NODES.map((id) => Buffer.from(nodes.get(id)!.inspect()).toString('hex'))
  if (!states.every((state) => state === states[0])) problems.push('the nodes applied different states')
  const reader = readerFor(sim, nodes)
  let acknowledged = 0
  for (const writer of writers) {
    for (const [key, tokens] of writer.acknowledged) {
      acknowledged += tokens.length
      const expected = tokens.join('')
      const actual = reader(key)
      if (actual !== expected) problems.push(`${key}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
    }
  }
  return { problems, acknowledged, trace: sim.trace }
}

/** Reads a key through the log, from whichever node leads. */
function readerFor(sim: Simulator, nodes: Map<string, StorageNodeActor>): (key: string) => unknown {
  let seq = 1
  const replies = new Map<number, KvReply>()
  const endpoint = sim.endpoint('reader', (message) => {
    if (message.type === 'kvr') replies.set((message as KvReply).seq, message as KvReply)
  })
  return (key) => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const target = NODES.find((id) => sim.isRunning(id) && nodes.get(id)!.role === 'leader') ?? NODES[attempt % NODES.length]!
      const request: KvRequest = { type: 'kv', op: 'get', clientId: 'reader', seq: seq++, ackedBelow: 0, key, configNum: 0 }
      endpoint.send(target, request)
      sim.runUntil(() => replies.has(request.seq), 300)
      const reply = replies.get(request.seq)
      if (reply?.status === 'ok') return reply.value
    }
    return '<unreadable>'
  }
}

const VARIANTS: readonly { name: string; paxos: StoragePaxosOptions; crashes: boolean }[] = [
  { name: 'partitions, default log', paxos: {}, crashes: false },
  { name: 'partitions, small log and frequent snapshots', paxos: { snapshotEvery: 8, maxLogSlots: 32, maxInflightSlots: 4 }, crashes: false },
  { name: 'partitions and crashes, small log', paxos: { snapshotEvery: 8, maxLogSlots: 32, maxInflightSlots: 4 }, crashes: true },
  { name: 'partitions and crashes, default log', paxos: {}, crashes: true },
]

for (const [index, variant] of VARIANTS.entries()) {
  if (process.env.FUZZ_VARIANT !== undefined && Number(process.env.FUZZ_VARIANT) !== index) continue
  t.test(`acknowledged appends survive: ${variant.name}`, async (t) => {
    let acknowledged = 0
    const seeds = process.env.FUZZ_SEED === undefined ? Array.from({ length: SEEDS }, (_, n) => n + 1) : [Number(process.env.FUZZ_SEED)]
    for (const seed of seeds) {
      const result = runSeed(seed, variant.paxos, variant.crashes)
      acknowledged += result.acknowledged
      if (result.problems.length > 0) {
        t.fail(`seed ${seed}: ${result.problems.slice(0, 5).join('; ')}`)
        if (process.env.FUZZ_TRACE) console.error(result.trace.join('\n'))
        return
      }
    }
    t.ok(acknowledged > seeds.length * 50, `${acknowledged} acknowledged appends over ${seeds.length} seeds, none lost or doubled`)
  })
}
