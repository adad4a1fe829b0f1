/**
 * The store end to end in the deterministic simulator: one shard master,
 * several single-node groups, and small client actors that route by key,
 * pipeline across keys, and retry with the same seq, as the real client
 * does. Every test names its seed; a failing seed replays exactly.
 */
import t from 'tap'
import type { KvOp, KvReply, KvRequest, MasterReply, MasterRequest, StatusReply, StoredValue } from '../../src/actors/messages.js'
import type { Config } from '../../src/actors/shard-config.js'
import { shardOf } from '../../src/actors/shard-hash.js'
import { ShardMasterActor } from '../../src/actors/shard-master.js'
import type { MasterOp, MasterResult } from '../../src/actors/shard-master-state.js'
import { StorageNodeActor } from '../../src/actors/storage-node.js'
import type { Actor, ActorContext, Message } from '../../src/runtime/actor.js'
import { Simulator, type SimulatorOptions } from '../../src/runtime/simulator.js'

const SHARDS = 10
const MASTER = 'master'
const CLIENT_TICK_MS = 10
const CLIENT_RETRY_MS = 50
/** Virtual time a whole scenario may take before the test calls it stuck. */
const SCENARIO_LIMIT_MS = 120_000

interface ScriptStep {
  readonly op: KvOp
  readonly key: string
  readonly value?: StoredValue
}

interface InFlight {
  readonly index: number
  readonly request: KvRequest
  sentAtMs: number
}

interface ClientArgs {
  readonly clientId: string
  readonly script: readonly ScriptStep[]
  /** Most requests in flight at once; requests on one key are never in flight together, so they apply in script order. */
  readonly depth: number
  /** New requests started per tick: spreads the load over the reconfigurations. */
  readonly launchesPerTick: number
}

/** A test client: caches the configuration, routes by key, retries with the same seq until answered. */
class ScriptedClient implements Actor {
  readonly replies: (KvReply | undefined)[]
  private config: Config | undefined
  private nextIndex = 0
  private nextSeq = 1
  private masterSeq = 1
  private readonly inFlight = new Map<number, InFlight>()
  private readonly busyKeys = new Set<string>()

  constructor(private readonly args: ClientArgs) {
    this.replies = new Array<KvReply | undefined>(args.script.length).fill(undefined)
  }

  get done(): boolean {
    return this.nextIndex === this.args.script.length && this.inFlight.size === 0
  }

  start(ctx: ActorContext): void {
    this.refresh(ctx)
    ctx.setTimer(CLIENT_TICK_MS, { type: 'client-tick' })
  }

  receive(message: Message, ctx: ActorContext): void {
    if (message.type === 'client-tick') return this.onTick(ctx)
    if (message.type === 'masterr') return this.onConfig(message as MasterReply, ctx)
    if (message.type === 'kvr') return this.onReply(message as KvReply, ctx)
  }

  private onTick(ctx: ActorContext): void {
    this.refresh(ctx)
    for (const entry of this.inFlight.values()) if (ctx.now() - entry.sentAtMs >= CLIENT_RETRY_MS) this.transmit(entry, ctx)
    this.launch(ctx)
    ctx.setTimer(CLIENT_TICK_MS, { type: 'client-tick' })
  }

  private onConfig(reply: MasterReply, ctx: ActorContext): void {
    if (reply.result?.type !== 'Config' || reply.result.config.num <= (this.config?.num ?? -1)) return
    this.config = reply.result.config
    for (const entry of this.inFlight.values()) this.transmit(entry, ctx)
  }

  private onReply(reply: KvReply, ctx: ActorContext): void {
    const entry = this.inFlight.get(reply.seq)
    if (entry === undefined || reply.status === 'wrong_group' || reply.status === 'not_ready') return
    this.replies[entry.index] = reply
    this.inFlight.delete(reply.seq)
    this.busyKeys.delete(entry.request.key)
    this.launch(ctx)
  }

  private launch(ctx: ActorContext): void {
    for (let started = 0; started < this.args.launchesPerTick && this.inFlight.size < this.args.depth; started++) {
      const step = this.args.script[this.nextIndex]
      if (step === undefined || this.busyKeys.has(step.key)) return
      const seq = this.nextSeq++
      const request: KvRequest = { type: 'kv', ...step, clientId: this.args.clientId, seq, ackedBelow: this.ackedBelow(seq), configNum: 0 }
      const entry: InFlight = { index: this.nextIndex++, request, sentAtMs: 0 }
      this.inFlight.set(seq, entry)
      this.busyKeys.add(step.key)
      this.transmit(entry, ctx)
    }
  }

  /** Every seq below the oldest one in flight has been answered (seqs enter the map in ascending order). */
  private ackedBelow(fallback: number): number {
    for (const seq of this.inFlight.keys()) return seq
    return fallback
  }

  private transmit(entry: InFlight, ctx: ActorContext): void {
    entry.sentAtMs = ctx.now()
    const gid = this.config?.shards[shardOf(entry.request.key, SHARDS)] ?? 0
    const members = this.config?.groups[gid]
    if (members === undefined) return
    ctx.send(members[0]!, { ...entry.request, ackedBelow: this.ackedBelow(entry.request.seq), configNum: this.config?.num ?? 0 })
  }

  private refresh(ctx: ActorContext): void {
    const request: MasterRequest = { type: 'master', seq: this.masterSeq++, op: { type: 'Query' } }
    ctx.send(MASTER, request)
  }
}

/** The test's hands on the cluster: admin operations and status reads through simulator endpoints. */
class Harness {
  readonly clients = new Map<string, ScriptedClient>()
  private adminSeq = 1
  private readonly masterReplies = new Map<number, MasterResult | undefined>()
  private readonly statusReplies = new Map<number, StatusReply>()
  private readonly admin
  private readonly observer

  constructor(
    readonly sim: Simulator,
    gids: readonly number[],
  ) {
    sim.spawn(MASTER, () => new ShardMasterActor({ shards: SHARDS, replicas: [MASTER] }))
    for (const gid of gids) {
      sim.spawn(nodeId(gid), () => new StorageNodeActor({ gid, shards: SHARDS, masters: [MASTER], maxKeyBytes: 64, maxValueBytes: 1 << 20 }))
    }
    this.admin = sim.endpoint('admin', (message) => {
      const reply = message as MasterReply
      if (reply.type === 'masterr') this.masterReplies.set(reply.seq, reply.result)
    })
    this.observer = sim.endpoint('observer', (message) => {
      const reply = message as StatusReply
      if (reply.type === 'statusr') this.statusReplies.set(reply.seq, reply)
    })
  }

  /** Runs a master op to completion, resending under the same request id until a reply arrives. */
  master(op: MasterOp): MasterResult {
    const seq = this.adminSeq++
    const request: MasterRequest = { type: 'master', seq, op: op.type === 'Query' ? op : { ...op, requestId: { clientId: 'admin', seq } } }
    for (let attempt = 0; attempt < 100; attempt++) {
      this.admin.send(MASTER, request)
      if (this.sim.runUntil(() => this.masterReplies.has(seq), 100)) return this.masterReplies.get(seq)!
    }
    throw new Error(`master op ${JSON.stringify(op)} got no reply`)
  }

  join(gid: number): void {
    this.expect(this.master({ type: 'Join', gid, members: [nodeId(gid)] }), 'Joined')
  }

  leave(gid: number): void {
    this.expect(this.master({ type: 'Leave', gid }), 'Left')
  }

  move(shard: number, gid: number): void {
    this.expect(this.master({ type: 'Move', shard, gid }), 'Moved')
  }

  latest(): Config {
    const result = this.master({ type: 'Query' })
    if (result.type !== 'Config') throw new Error(`query failed: ${JSON.stringify(result)}`)
    return result.config
  }

  status(gid: number): StatusReply {
    const seq = this.adminSeq++
    for (let attempt = 0; attempt < 100; attempt++) {
      this.observer.send(nodeId(gid), { type: 'status', seq })
      if (this.sim.runUntil(() => this.statusReplies.has(seq), 100)) return this.statusReplies.get(seq)!
    }
    throw new Error(`group ${gid} did not answer status`)
  }

  /** Waits until every group has applied the latest configuration and holds exactly what it owns there. */
  settle(gids: readonly number[]): boolean {
    const latest = this.latest()
    const settled = (gid: number): boolean => {
      const status = this.status(gid)
      const owned = latest.shards.flatMap((owner, shard) => (owner === gid ? [shard] : []))
      return status.configNum === latest.num && status.shardsWaiting.length === 0 && status.shardsHeld.join() === owned.join()
    }
    for (let round = 0; round < 200; round++) {
      if (gids.every(settled)) return true
      this.sim.runFor(50)
    }
    return false
  }

  spawnClient(args: ClientArgs): ScriptedClient {
    const client = new ScriptedClient(args)
    this.clients.set(args.clientId, client)
    this.sim.spawn(args.clientId, () => client)
    return client
  }

  runClients(): boolean {
    return this.sim.runUntil(() => [...this.clients.values()].every((client) => client.done), SCENARIO_LIMIT_MS)
  }

  /** Reads every key through a fresh client and returns key -> value. */
  readAll(keys: readonly string[]): Map<string, StoredValue | undefined> {
    const reader = this.spawnClient({ clientId: `reader-${this.adminSeq++}`, script: keys.map((key) => ({ op: 'get', key })), depth: 8, launchesPerTick: 8 })
    if (!this.sim.runUntil(() => reader.done, SCENARIO_LIMIT_MS)) throw new Error('reads did not finish')
    return new Map(keys.map((key, index) => [key, reader.replies[index]?.value]))
  }

  private expect(result: MasterResult, type: MasterResult['type']): void {
    if (result.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(result)}`)
  }
}

function nodeId(gid: number): string {
  return `group-${gid}`
}

/** `count` keys, at least one in every shard. */
function keysCoveringShards(prefix: string, count: number): string[] {
  const keys: string[] = []
  const covered = new Set<number>()
  for (let index = 0; keys.length < count || covered.size < SHARDS; index++) {
    const key = `${prefix}${index}`
    if (keys.length < count || !covered.has(shardOf(key, SHARDS))) keys.push(key)
    covered.add(shardOf(key, SHARDS))
  }
  return keys
}

/** Append script: round after round, one token per key: `${clientId}.${round};`. */
function appendScript(clientId: string, keys: readonly string[], rounds: number): ScriptStep[] {
  const steps: ScriptStep[] = []
  for (let round = 0; round < rounds; round++) for (const key of keys) steps.push({ op: 'append', key, value: `${clientId}.${round};` })
  return steps
}

interface LoadScenario {
  readonly clientIds: readonly string[]
  /** Each client appends to its own keys and to the shared ones. */
  readonly ownKeys: ReadonlyMap<string, readonly string[]>
  readonly sharedKeys: readonly string[]
  readonly rounds: number
}

function loadScenario(clients: number, keysPerClient: number, sharedKeyCount: number, rounds: number): LoadScenario {
  const clientIds = Array.from({ length: clients }, (_, index) => `client-${index}`)
  const ownKeys = new Map(clientIds.map((id) => [id, keysCoveringShards(`${id}/k`, keysPerClient)]))
  return { clientIds, ownKeys, sharedKeys: Array.from({ length: sharedKeyCount }, (_, index) => `shared-${index}`), rounds }
}

function startLoad(harness: Harness, scenario: LoadScenario): void {
  for (const clientId of scenario.clientIds) {
    const keys = [...scenario.ownKeys.get(clientId)!, ...scenario.sharedKeys]
    harness.spawnClient({ clientId, script: appendScript(clientId, keys, scenario.rounds), depth: 6, launchesPerTick: 1 })
  }
}

/**
 * Exactly once, in order: an own key holds its client's tokens in script
 * order; a shared key holds every client's tokens, each client's in order,
 * interleaved any way. Returns the first problem, or undefined.
 */
function checkAppends(scenario: LoadScenario, values: ReadonlyMap<string, StoredValue | undefined>): string | undefined {
  const tokens = (clientId: string): string => Array.from({ length: scenario.rounds }, (_, round) => `${clientId}.${round};`).join('')
  for (const [clientId, keys] of scenario.ownKeys) {
    for (const key of keys) if (values.get(key) !== tokens(clientId)) return `${key}: ${String(values.get(key))}, expected ${tokens(clientId)}`
  }
  for (const key of scenario.sharedKeys) {
    const value = values.get(key)
    if (typeof value !== 'string') return `${key}: ${String(value)}`
    const parts = value.split(';').filter((part) => part.length > 0)
    for (const clientId of scenario.clientIds) {
      const own = parts.filter((part) => part.startsWith(`${clientId}.`)).map((part) => `${part};`).join('')
      if (own !== tokens(clientId)) return `${key}: ${clientId}'s appends read ${own}, expected ${tokens(clientId)}`
    }
    if (parts.length !== scenario.rounds * scenario.clientIds.length) return `${key}: ${parts.length} appends`
  }
  return undefined
}

function allKeys(scenario: LoadScenario): string[] {
  return [...[...scenario.ownKeys.values()].flat(), ...scenario.sharedKeys]
}

/** Joins, moves and leaves spread over the client load, ending with groups 2 and 4. */
function reconfigureUnderLoad(harness: Harness, stepMs: number): void {
  const steps: Array<() => void> = [
    () => harness.join(2),
    () => harness.join(3),
    () => harness.move(0, 1),
    () => harness.join(4),
    () => harness.move(1, 2),
    () => harness.leave(1),
    () => harness.move(0, 3),
    () => harness.leave(3),
    () => harness.move(5, 4),
  ]
  for (const step of steps) {
    harness.sim.runFor(stepMs)
    step()
  }
}

function newSim(options: SimulatorOptions): Simulator {
  return new Simulator({ minDelayMs: 1, maxDelayMs: 5, ...options })
}

t.test('put, get, append and delete across every shard, string and bytes', async (t) => {
  const seed = 1
  const harness = new Harness(newSim({ seed }), [1, 2, 3])
  for (const gid of [1, 2, 3]) harness.join(gid)
  t.ok(harness.settle([1, 2, 3]), `seed ${seed}: groups settle`)
  const keys = keysCoveringShards('basic-', SHARDS)
  const script: ScriptStep[] = keys.flatMap((key): ScriptStep[] => [
    { op: 'put', key, value: `${key}=` },
    { op: 'append', key, value: 'x' },
    { op: 'get', key },
    { op: 'put', key: `${key}-bytes`, value: new Uint8Array([1]) },
    { op: 'append', key: `${key}-bytes`, value: new Uint8Array([2, 3]) },
    { op: 'append', key: `${key}-bytes`, value: 'text' },
    { op: 'get', key: `${key}-bytes` },
    { op: 'delete', key },
    { op: 'delete', key },
    { op: 'get', key },
  ])
  const client = harness.spawnClient({ clientId: 'basic', script, depth: 8, launchesPerTick: 8 })
  t.ok(harness.runClients(), `seed ${seed}: client finished`)
  keys.forEach((key, index) => {
    const [put, append, read, putBytes, appendBytes, mismatch, readBytes, deleted, deletedAgain, gone] = client.replies.slice(index * 10, index * 10 + 10)
    t.same([put?.status, append?.status, putBytes?.status, appendBytes?.status, mismatch?.status], ['ok', 'ok', 'ok', 'ok', 'type_mismatch'], key)
    t.equal(read?.value, `${key}=x`)
    t.same(readBytes?.value, new Uint8Array([1, 2, 3]))
    t.same([deleted?.existed, deletedAgain?.existed, gone?.value], [true, false, undefined])
  })
  const shardsServed = new Set(keys.map((key) => shardOf(key, SHARDS)))
  t.equal(shardsServed.size, SHARDS, 'every shard was exercised')
  t.same(harness.sim.actorErrors, [], 'no actor threw')
})

t.test('joins, moves and leaves while clients append: no append lost or doubled', async (t) => {
  const seed = 2
  const harness = new Harness(newSim({ seed }), [1, 2, 3, 4])
  harness.join(1)
  const scenario = loadScenario(3, 12, 2, 12)
  startLoad(harness, scenario)
  reconfigureUnderLoad(harness, 150)
  t.ok(harness.runClients(), `seed ${seed}: clients finished`)
  t.notOk(checkAppends(scenario, harness.readAll(allKeys(scenario))), `seed ${seed}: appends exactly once, in order`)
  t.ok(harness.settle([1, 2, 3, 4]), `seed ${seed}: every group settles on the latest configuration`)
  t.same([harness.status(1).shardsHeld, harness.status(3).shardsHeld], [[], []], 'groups that left hold nothing and still answer')
  const unexpected = [...harness.clients.values()].flatMap((client) => client.replies.filter((reply) => reply?.status !== 'ok'))
  t.same(unexpected, [], 'every operation answered ok')
  t.same(harness.sim.actorErrors, [], 'no actor threw')
})

t.test('a moved shard stays with the old owner until the new one acknowledges it, then is deleted', async (t) => {
  const seed = 3
  const harness = new Harness(newSim({ seed }), [1, 2])
  harness.join(1)
  t.ok(harness.settle([1]))
  const keys = keysCoveringShards('moved-', SHARDS)
  const writer = harness.spawnClient({ clientId: 'writer', script: keys.map((key) => ({ op: 'put', key, value: key })), depth: 8, launchesPerTick: 8 })
  t.ok(harness.runClients())
  t.equal(writer.replies.filter((reply) => reply?.status === 'ok').length, keys.length)
  const shard = 4
  const keysInShard = keys.filter((key) => shardOf(key, SHARDS) === shard).length
  harness.join(2)
  t.ok(harness.settle([1, 2]))
  const owner = harness.latest().shards[shard] === 1 ? 1 : 2
  const receiver = 3 - owner
  const before = harness.status(owner)

  harness.sim.partition([[nodeId(1)], [nodeId(2)]])
  harness.move(shard, receiver)
  harness.sim.runFor(500)
  const cutOff = harness.status(owner)
  t.ok(cutOff.shardsHeld.includes(shard), 'unacknowledged: still held by the old owner')
  t.equal(cutOff.keys, before.keys, 'with all its keys')
  t.same(harness.status(receiver).shardsWaiting, [shard], 'the new owner waits for it')

  harness.sim.heal()
  t.ok(harness.settle([1, 2]), `seed ${seed}: settles after heal`)
  const after = harness.status(owner)
  t.notOk(after.shardsHeld.includes(shard), 'deleted from the old owner after the ack')
  t.equal(after.keys, before.keys - keysInShard, 'its memory returned')
  const values = harness.readAll(keys)
  t.same(keys.filter((key) => values.get(key) !== key), [], 'every key reads back')
  t.same(harness.sim.actorErrors, [], 'no actor threw')
})

t.test('a group started after its join walks back to the configuration before it', async (t) => {
  const seed = 4
  const sim = newSim({ seed })
  const harness = new Harness(sim, [1])
  harness.join(1)
  const writer = harness.spawnClient({ clientId: 'early', script: appendScript('early', keysCoveringShards('late-', SHARDS), 1), depth: 4, launchesPerTick: 4 })
  t.ok(harness.runClients())
  harness.master({ type: 'Join', gid: 2, members: [nodeId(2)] })
  harness.move(0, 1)
  sim.runFor(1000)
  sim.spawn(nodeId(2), () => new StorageNodeActor({ gid: 2, shards: SHARDS, masters: [MASTER], maxKeyBytes: 64, maxValueBytes: 1024 }))
  t.ok(harness.settle([1, 2]), `seed ${seed}: settles`)
  t.ok(harness.status(2).shardsHeld.length > 0, 'the late group took over its shards')
  const values = harness.readAll(keysCoveringShards('late-', SHARDS))
  t.same([...values.values()].filter((value) => value !== 'early.0;'), [], 'with their data')
  t.equal(writer.replies.length, values.size)
  t.same(sim.actorErrors, [], 'no actor threw')
})

const FAULT_SEEDS = Array.from({ length: 20 }, (_, index) => 100 + index)
const FAULTS = { dropRate: 0.1, duplicateRate: 0.1, minDelayMs: 1, maxDelayMs: 20 }

function faultyRun(seed: number): { harness: Harness; scenario: LoadScenario } {
  const harness = new Harness(newSim({ seed, ...FAULTS }), [1, 2, 3, 4])
  harness.join(1)
  const scenario = loadScenario(3, 6, 2, 6)
  startLoad(harness, scenario)
  reconfigureUnderLoad(harness, 80)
  return { harness, scenario }
}

t.test('with drops, duplicates and delays, appends still take effect exactly once', async (t) => {
  for (const seed of FAULT_SEEDS) {
    const { harness, scenario } = faultyRun(seed)
    const finished = harness.runClients()
    const problem = finished ? checkAppends(scenario, harness.readAll(allKeys(scenario))) : 'clients did not finish'
    t.notOk(problem, `seed ${seed}: ${problem ?? 'exactly once'}`)
    t.ok(harness.settle([1, 2, 3, 4]), `seed ${seed}: settles`)
    const stats = harness.sim.stats
    t.ok(stats.dropped > 0 && stats.duplicated > 0, `seed ${seed}: faults happened (${stats.dropped} dropped, ${stats.duplicated} duplicated)`)
    t.same(harness.sim.actorErrors, [], `seed ${seed}: no actor threw`)
  }
})

t.test('the same seed replays the same run', async (t) => {
  const first = faultyRun(FAULT_SEEDS[0]!)
  const second = faultyRun(FAULT_SEEDS[0]!)
  first.harness.runClients()
  second.harness.runClients()
  t.equal(second.harness.sim.traceHash, first.harness.sim.traceHash)
})

t.test('malformed messages are answered or dropped, never crash an actor', async (t) => {
  const seed = 5
  const harness = new Harness(newSim({ seed }), [1])
  harness.join(1)
  t.ok(harness.settle([1]))
  const replies: Message[] = []
  const rogue = harness.sim.endpoint('rogue', (message) => {
    replies.push(message)
  })
  const request = (fields: Record<string, unknown>): Message =>
    ({ type: 'kv', op: 'put', clientId: 'rogue', seq: 1, ackedBelow: 0, key: 'k', configNum: 0, ...fields }) as Message
  const garbage: Array<[string, Message]> = [
    [MASTER, { type: 'master', seq: 'one', op: { type: 'Query' } } as Message],
    [MASTER, { type: 'master', seq: 1, op: null } as Message],
    [MASTER, { type: 'master', seq: 2, op: { type: 'Join', members: ['g'], requestId: null } } as Message],
    [MASTER, { type: 'master', seq: 3, op: { type: 'Join', members: 'g' } } as Message],
    [MASTER, { type: 'master', seq: 4, op: { type: 'Explode' } } as Message],
    [MASTER, { type: 'something-else' }],
    [nodeId(1), request({ seq: 4, value: 7 })],
    [nodeId(1), request({ seq: 5, key: '', value: 'v' })],
    [nodeId(1), request({ seq: 6, op: 'increment', value: 'v' })],
    [nodeId(1), { type: 'shard-push', configNum: 1, shard: 0, fromGid: 2, data: 5, sessions: null } as Message],
    [nodeId(1), { type: 'shard-ack', configNum: 'x', shard: {} } as Message],
    [nodeId(1), { type: 'masterr', seq: 1, result: null } as Message],
    [nodeId(1), { type: 'masterr', seq: 1, result: { type: 'Config', config: { num: 2, shards: 'all', groups: null } } } as Message],
    [nodeId(1), { type: 'status', seq: 'now' } as Message],
    [nodeId(1), { type: 'storage-tick' }],
    [nodeId(1), { type: 'unknown' }],
  ]
  for (const [to, message] of garbage) rogue.send(to, message)
  harness.sim.runFor(200)
  t.same(harness.sim.actorErrors, [], 'no actor threw')
  const kvReplies = replies.filter((message): message is KvReply => message.type === 'kvr')
  t.same(
    kvReplies.map((reply) => [reply.seq, reply.status, reply.errorCode]).sort(),
    [
      [4, 'invalid', 'ERR_INVALID_VALUE'],
      [5, 'invalid', 'ERR_INVALID_KEY'],
    ],
    'bad keys and values get the error code; a request without a usable identity gets nothing',
  )
  const masterErrors = replies.filter((message) => message.type === 'masterr').map((message) => (message as MasterReply).result?.type)
  t.same(masterErrors, ['Error'], 'a well-shaped op with bad arguments is an Error result; unusable shapes are dropped')
  t.equal(harness.latest().num, 1, 'nothing changed the configuration')
  const script: ScriptStep[] = [
    { op: 'put', key: 'k', value: 'v' },
    { op: 'get', key: 'k' },
  ]
  const writer = harness.spawnClient({ clientId: 'after', script, depth: 1, launchesPerTick: 1 })
  t.ok(harness.runClients())
  t.equal(writer.replies[1]?.value, 'v', 'both still serve')
})
