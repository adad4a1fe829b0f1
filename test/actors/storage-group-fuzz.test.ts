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
 * Every node also publishes a read view (the simulator's, in virtual time;
 * a crashed node's stays as it was until its restart resets it), and the
 * test reads the views as a client thread would, between simulator events:
 * see ViewChecker for what must hold. Half of the crashes cut a node's turn
 * short right after a send (CRASH_POINTS), freezing its view as it was at
 * that send, as a worker killed there would leave it.
 *
 * Each seed replays exactly; a failure names it. FUZZ_SEEDS=n runs more
 * seeds, FUZZ_SEED=s and FUZZ_VARIANT=i replay one, FUZZ_TRACE=1 prints the
 * end of the simulator's trace on failure.
 */
import t from 'tap'
import type { KvReply, KvRequest, MasterReply, MasterRequest } from '../../src/actors/messages.js'
import { ShardMasterActor } from '../../src/actors/shard-master.js'
import type { MasterOp } from '../../src/actors/shard-master-state.js'
import { shardOf } from '../../src/actors/shard-hash.js'
import { StorageNodeActor, type StoragePaxosOptions } from '../../src/actors/storage-node.js'
import type { Actor, ActorContext, Message } from '../../src/runtime/actor.js'
import { Prng } from '../../src/runtime/prng.js'
import { NOT_IN_VIEW, type ViewRead } from '../../src/runtime/read-view.js'
import { Simulator, type SendFilter } from '../../src/runtime/simulator.js'

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
/** Each node's view buffer: small, so that the table compacts into its other half every few dozen writes. */
const VIEW_BYTES = 32 * 1024
/** Chance that the test reads the views after a simulator event. */
const VIEW_READ_CHANCE = 0.5
/**
 * Where a crash may cut a node's turn short (Simulator.crashAfterSend): right
 * after any send; after an answer to a client, which the view must already
 * show; after the first message of a campaign or of a vote, where a leader
 * stepping down must already have stopped its view answering.
 */
const CRASH_POINTS: readonly SendFilter[] = [
  () => true,
  (_, message) => message.type === 'kvr',
  (_, message) => message.type === 'paxos.prepare',
  (_, message) => message.type === 'paxos.promise',
]
/** An armed crash point that has not fired after this long becomes a plain crash. */
const CRASH_POINT_WAIT_MS = 1000
/** Problems kept per seed; the first few are printed. */
const MAX_PROBLEMS = 20
/** Share of view lookups a view must answer, so the check is not vacuous (elections, cut-off leaders and crashes leave none answering). */
const MIN_VIEW_ANSWER_SHARE = 0.5

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
    readonly keys: readonly string[],
  ) {}

  /** True while an append is unanswered. */
  get waiting(): boolean {
    return this.current !== undefined
  }

  /** The append sent and not yet answered ok: it may have taken effect already. */
  get unansweredAppend(): { readonly key: string; readonly token: string } | undefined {
    const current = this.current
    return current?.token === undefined ? undefined : { key: current.request.key, token: current.token }
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

/**
 * Watches the nodes' views after every simulator event, and reads them as a
 * client thread would after random ones. A view and the roles change only
 * at events, and a view answers most right after one (its lease only runs
 * out in between), so those are the instants to try. Leases must be
 * exclusive (MultiPaxos.canReadLocally: while one runs, no majority can
 * elect another leader):
 *
 * - at most one view answers for a shard at any instant;
 * - no node becomes leader while another node's view answers.
 *
 * And each answer must be what a linearizable read may return:
 *
 * - every append acknowledged before it, and nothing else but the writer's
 *   one unanswered append (no write produced anything else);
 * - not older than what an earlier answer for the key showed.
 */
class ViewChecker {
  readonly problems: string[] = []
  /** Keys looked up, and the lookups a view answered. */
  lookups = 0
  answered = 0
  /** Per key, the newest value an answer showed (each is the one before plus tokens). */
  private readonly newest = new Map<string, string>()
  /** The nodes that led after the previous event. */
  private readonly leaders = new Set<string>()

  constructor(
    private readonly sim: Simulator,
    private readonly writers: readonly Writer[],
    private readonly leads: (id: string) => boolean,
    private readonly prng: Prng,
  ) {}

  /** sim.runFor(virtualMs), reading the views after random events. */
  run(virtualMs: number): void {
    this.sim.runUntil(() => {
      this.checkLeases()
      if (this.prng.chance(VIEW_READ_CHANCE)) this.read()
      return false
    }, virtualMs)
  }

  private read(): void {
    const writer = this.prng.pick(this.writers)
    const key = this.prng.pick(writer.keys)
    const shard = shardOf(key, SHARDS)
    this.lookups++
    for (const id of NODES) {
      const value = this.sim.readView(id)!.get(shard, key)
      if (value === NOT_IN_VIEW) continue
      this.answered++
      this.check(id, writer, key, value)
    }
  }

  private checkLeases(): void {
    const answeringAny = new Set<string>()
    for (let shard = 0; shard < SHARDS; shard++) {
      const answering = NODES.filter((id) => this.sim.readView(id)!.serves(shard))
      for (const id of answering) answeringAny.add(id)
      if (answering.length > 1) this.problem(`at ${this.sim.now()} ms the views of ${answering.join(' and ')} both answer for shard ${shard}`)
    }
    for (const id of NODES) {
      if (!this.leads(id)) {
        this.leaders.delete(id)
        continue
      }
      if (this.leaders.has(id)) continue
      this.leaders.add(id)
      const others = [...answeringAny].filter((other) => other !== id)
      if (others.length > 0) this.problem(`at ${this.sim.now()} ms ${id} became leader while the view of ${others.join(' and ')} answers`)
    }
  }

  private check(id: string, writer: Writer, key: string, value: Exclude<ViewRead, typeof NOT_IN_VIEW>): void {
    const acknowledged = (writer.acknowledged.get(key) ?? []).join('')
    const unanswered = writer.unansweredAppend
    const shown = value ?? ''
    const where = `${id}'s view at ${this.sim.now()} ms: ${key} is ${JSON.stringify(shown)}`
    if (typeof shown !== 'string') return this.problem(`${where}, not a string`)
    const newest = this.newest.get(key) ?? ''
    if (shown !== acknowledged && !(unanswered?.key === key && shown === acknowledged + unanswered.token)) {
      this.problem(`${where}, acknowledged ${JSON.stringify(acknowledged)}, unanswered ${JSON.stringify(unanswered)}`)
    } else if (!shown.startsWith(newest)) {
      this.problem(`${where}, older than ${JSON.stringify(newest)} an earlier view read showed`)
    }
    if (shown.length > newest.length) this.newest.set(key, shown)
  }

  private problem(text: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(text)
  }
}

interface FuzzResult {
  readonly problems: string[]
  readonly acknowledged: number
  readonly viewLookups: number
  readonly viewAnswers: number
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
    }, { readView: { shards: SHARDS, bytes: VIEW_BYTES } })
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
  if (!joined) return { problems: ['the join did not complete'], acknowledged: 0, viewLookups: 0, viewAnswers: 0, trace: [] }

  const writers: Writer[] = []
  for (let w = 0; w < WRITERS; w++) {
    const id = `w${w}`
    const writer = new Writer(id, Array.from({ length: KEYS_PER_WRITER }, (_, n) => `${id}-k${n}`))
    writers.push(writer)
    sim.spawn(id, () => writer)
  }

  const chaos = new Prng(seed * 31 + 7)
  // A stream of its own: reading the views changes nothing in the run, so every seed runs as it did without them.
  const views = new ViewChecker(sim, writers, (id) => sim.isRunning(id) && nodes.get(id)!.role === 'leader', new Prng(seed * 31 + 8))
  const leader = (): string | undefined => NODES.find((id) => sim.isRunning(id) && nodes.get(id)!.role === 'leader')
  const down = new Map<string, number>()
  /** A node that crashes at its next crash point, then stays down downMs. */
  let armed: { readonly id: string; readonly downMs: number; readonly untilMs: number } | undefined
  for (let elapsed = 0; elapsed < CHAOS_MS; ) {
    const stepMs = chaos.intBetween(30, 400)
    views.run(stepMs)
    elapsed += stepMs
    if (armed !== undefined && (!sim.isRunning(armed.id) || sim.now() >= armed.untilMs)) {
      sim.crash(armed.id)
      down.set(armed.id, sim.now() + armed.downMs)
      armed = undefined
    }
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
    } else if (crashes && down.size === 0 && armed === undefined) {
      const victim = chaos.chance(0.5) ? (leader() ?? NODES[0]) : NODES[chaos.intBetween(0, NODES.length - 1)]!
      const downMs = chaos.intBetween(20, 600)
      if (chaos.chance(0.5)) {
        sim.crash(victim)
        down.set(victim, sim.now() + downMs)
      } else {
        sim.crashAfterSend(victim, chaos.pick(CRASH_POINTS))
        armed = { id: victim, downMs, untilMs: sim.now() + CRASH_POINT_WAIT_MS }
      }
    }
  }
  if (armed !== undefined) sim.crash(armed.id)
  for (const id of NODES) if (!sim.isRunning(id)) sim.restart(id)
  sim.heal()
  sim.setFaults({ dropRate: 0, duplicateRate: 0, maxDelayMs: 8 })
  for (const writer of writers) writer.running = false
  views.run(3000)

  const problems: string[] = []
  const stuck = writers.filter((writer) => writer.waiting)
  if (stuck.length > 0) problems.push(`${stuck.length} writers still waiting after the heal`)
  // Every node's applied state must be the same, and hold every acknowledged append exactly once, in order.
  for (const writer of writers) problems.push(...writer.staleReads)
  problems.push(...views.problems)
  if (views.answered === 0) problems.push('no view read was answered')
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
  return { problems, acknowledged, viewLookups: views.lookups, viewAnswers: views.answered, trace: sim.trace }
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
    let viewLookups = 0
    let viewAnswers = 0
    const seeds = process.env.FUZZ_SEED === undefined ? Array.from({ length: SEEDS }, (_, n) => n + 1) : [Number(process.env.FUZZ_SEED)]
    for (const seed of seeds) {
      const result = runSeed(seed, variant.paxos, variant.crashes)
      acknowledged += result.acknowledged
      viewLookups += result.viewLookups
      viewAnswers += result.viewAnswers
      if (result.problems.length > 0) {
        t.fail(`seed ${seed}: ${result.problems.slice(0, 5).join('; ')}`)
        if (process.env.FUZZ_TRACE) console.error(result.trace.join('\n'))
        return
      }
    }
    t.ok(acknowledged > seeds.length * 50, `${acknowledged} acknowledged appends over ${seeds.length} seeds, none lost or doubled`)
    t.ok(viewAnswers >= viewLookups * MIN_VIEW_ANSWER_SHARE, `views answered ${viewAnswers} of ${viewLookups} lookups, every answer linearizable, leases exclusive`)
  })
}
