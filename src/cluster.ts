/**
 * The embedded cluster: an ActorSystem running the shard master (under the
 * `masters` supervisor) and the replica groups (each under its own
 * `group-<gid>` supervisor), plus the admin that joins, removes and moves
 * groups, and the factory for clients.
 *
 * Actor ids: `master-1`.., and `g<gid>-n<i>` for the nodes of group `gid`.
 * Gids are allocated here, ascending from 1, never reused.
 *
 * Roles: every replica (storage node, and master replica when it reports)
 * sends a small RoleReport to the cluster's `roles` endpoint on each change
 * of its Paxos role and again every second; `actors()` reads the latest
 * report (a stopped or dead actor is 'down' whatever it last said), and a
 * report of a new leader is a `leader` event. Nothing is asked on demand, so
 * `actors()` stays synchronous and cheap.
 *
 * Admin operations (join, leave, move) run one at a time, in call order:
 * the master keeps one mutation in flight per admin client, and a join must
 * spawn its actors before it is announced.
 */
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import type { ReplicaRole, RoleReport } from './actors/messages.js'
import type { Config } from './actors/shard-config.js'
import { MAX_SHARDS, MIN_SHARDS } from './actors/shard-config.js'
import { shardOf } from './actors/shard-hash.js'
import { CLUSTER_ENDPOINT_KIND, type ClusterEndpoint } from './client/connect.js'
import { awaitHandOff } from './client/hand-off.js'
import { KvClient, type ClientSettings, type ClientStats } from './client/kv-client.js'
import { checkKey } from './client/limits.js'
import { MasterClient } from './client/master-client.js'
import { describe, readIntegerOptions } from './client/options.js'
import { RpcChannel } from './client/rpc.js'
import { ShardKVError } from './errors.js'
import { MAX_REPLICAS } from './paxos/index.js'
import type { Message } from './runtime/actor.js'
import type { Endpoint } from './runtime/endpoint.js'
import type { EscalateEvent, RestartEvent } from './runtime/supervisor.js'
import { MAX_MESSAGE_BYTES } from './runtime/mailbox.js'
import { ActorSystem, type SystemStats } from './runtime/system.js'

const MASTER_MODULE = new URL('./actors/shard-master.js', import.meta.url).href
const STORAGE_MODULE = new URL('./actors/storage-node.js', import.meta.url).href

/**
 * Most groups at once. Every node is a worker thread with a ring lane to
 * every other node, so memory grows with the square of the node count.
 */
export const MAX_GROUPS = 64
/** Largest maxValueBytes: a value travels as one message, and a ring outbox holds at most 16 MiB of one. */
export const MAX_VALUE_BYTES_LIMIT = 8 * 1024 * 1024
export const MAX_KEY_BYTES_LIMIT = 64 * 1024

/**
 * Stable storage per storage node: its snapshot holds all of its group's
 * data, plus the Paxos log above it. The buffer is twice this (crash-safe
 * compaction) and its pages are touched only as they are written, so the
 * memory a node really takes grows with its data and write traffic, up to
 * 512 MiB; a group holding more than 256 MiB cannot snapshot (the node
 * crashes with the storage error).
 */
export const STORAGE_NODE_STABLE_BYTES = 256 * 1024 * 1024
/** The endpoint replicas send RoleReports to. */
const ROLES_ENDPOINT = 'roles'
const REPLICA_COUNT_RULE = `an odd integer in 1..${MAX_REPLICAS} (a group lives while a majority does)`

const CLUSTER_OPTIONS = {
  /** Hash slots, fixed for the cluster's life. */
  shards: { default: 64, min: MIN_SHARDS, max: MAX_SHARDS },
  /** Replica groups joined at creation; 0 leaves every shard unassigned until a join. */
  groups: { default: 3, min: 0, max: MAX_GROUPS },
  /** Storage nodes per group: a group serves while a majority of them runs. */
  replicas: { default: 3, min: 1, max: MAX_REPLICAS, odd: true, rule: REPLICA_COUNT_RULE },
  /** Shard-master replicas: the master serves while a majority of them runs. */
  masters: { default: 3, min: 1, max: MAX_REPLICAS, odd: true, rule: REPLICA_COUNT_RULE },
  /** Largest key, in UTF-8 bytes. */
  maxKeyBytes: { default: 1024, min: 1, max: MAX_KEY_BYTES_LIMIT },
  /** Largest value, in bytes (UTF-8 bytes for a string). */
  maxValueBytes: { default: 1024 * 1024, min: 1, max: MAX_VALUE_BYTES_LIMIT },
  /** Bound of every client operation and admin call; past it, ERR_TIMEOUT. */
  opTimeoutMs: { default: 10_000, min: 1, max: 3_600_000 },
} as const

/** How often join() looks whether the new group has elected its leader. */
const LEADER_POLL_MS = 5

const JOIN_OPTIONS = { replicas: CLUSTER_OPTIONS.replicas } as const

export type ClusterOptions = { readonly [K in keyof typeof CLUSTER_OPTIONS]?: number }
export type JoinOptions = { readonly [K in keyof typeof JOIN_OPTIONS]?: number }

/** A configuration as `query` returns it: shard -> gid (0 = unassigned), gid -> member actor ids. */
export type ClusterConfig = Config

export type ActorRole = ReplicaRole | 'down'

export interface ClusterActor {
  readonly id: string
  readonly kind: 'master' | 'storage'
  /** The group of a storage node. */
  readonly gid?: number
  /** Its Paxos role as it last reported it; 'down' while it is not running. */
  readonly role: ActorRole
  readonly restarts: number
}

export interface LeaderEvent {
  /** 'master' for the shard master, else the gid. */
  readonly group: 'master' | number
  readonly leader: string
}

export interface ClusterEvents {
  /** A new configuration, after each join, leave and move. */
  config: (config: ClusterConfig) => void
  restart: (event: RestartEvent) => void
  escalate: (event: EscalateEvent) => void
  /** A replica reports that it now leads its group (or the master). */
  leader: (event: LeaderEvent) => void
}

export interface ClusterStats extends SystemStats {
  readonly configNum: number
  readonly groups: number
  /** Summed over the clients this cluster made (cluster.client()). */
  readonly clients: ClientStats & { readonly count: number }
}

const EVENTS: readonly (keyof ClusterEvents)[] = ['config', 'restart', 'escalate', 'leader']

interface Group {
  readonly gid: number
  readonly members: readonly string[]
  readonly supervisor: string
  /** 'joined' once the master has it; 'leaving' after its Leave, until its nodes stop. */
  state: 'joining' | 'joined' | 'leaving'
}

type Settings = ReturnType<typeof readClusterOptions>

/** Starts a cluster: the shard master, then `groups` replica groups, joined one by one. */
export async function createCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const settings = readClusterOptions(options)
  // A shard hand-off is one message carrying the whole shard, so a storage
  // node's outbox must accept messages as large as a shard may grow: up to
  // the mailbox's MAX_MESSAGE_BYTES (256 MiB). The rings chunk it; the bound
  // still stops a destination that does not drain from growing memory forever.
  const system = new ActorSystem({ outbox: { maxQueuedBytes: MAX_MESSAGE_BYTES } })
  const cluster = new Cluster(system, settings)
  try {
    await cluster.start(settings.groups)
  } catch (error) {
    await cluster.close()
    throw error
  }
  return cluster
}

export class Cluster {
  private readonly events = new EventEmitter()
  private readonly clientSettings: ClientSettings
  private readonly admin: RpcChannel
  private readonly master: MasterClient
  private readonly groups = new Map<number, Group>()
  private readonly clients = new Set<KvClient>()
  private readonly gidOfActor = new Map<string, number>()
  private readonly roleEndpoint: Endpoint
  /** Latest role each replica reported; forgotten when it restarts (it reports again as it starts). */
  private readonly roles = new Map<string, ReplicaRole>()
  /** The master replica that last answered with a result: the master's role fallback for replicas that do not report. */
  private answeringMaster: string | undefined
  private nextGid = 1
  private configNum = 0
  /** Admin operations run one at a time: see the module comment. */
  private adminQueue: Promise<unknown> = Promise.resolve()
  private closed = false

  /** @internal Use createCluster(). */
  constructor(
    private readonly system: ActorSystem,
    private readonly settings: Settings,
  ) {
    const masters = Array.from({ length: settings.masters }, (_, index) => `master-${index + 1}`)
    this.clientSettings = {
      shards: settings.shards,
      masters,
      maxKeyBytes: settings.maxKeyBytes,
      maxValueBytes: settings.maxValueBytes,
      opTimeoutMs: settings.opTimeoutMs,
    }
    this.admin = new RpcChannel(system.localEndpoint('admin'))
    this.master = new MasterClient(this.admin, masters, `admin-${system.name}`, (id) => this.onMasterAnswer(id))
    this.roleEndpoint = system.localEndpoint(ROLES_ENDPOINT)
    this.roleEndpoint.onMessage((message, from) => this.onRoleMessage(message, from))
    system.on('restart', (event: RestartEvent) => {
      this.roles.delete(event.id)
      this.events.emit('restart', event)
    })
    system.on('escalate', (event: EscalateEvent) => this.events.emit('escalate', event))
  }

  /** @internal Spawns the master replicas and joins the first groups. */
  async start(groups: number): Promise<void> {
    await this.system.supervisor('masters')
    const replicas = this.clientSettings.masters
    for (const id of replicas) {
      const args = { shards: this.settings.shards, replicas, roleObserver: ROLES_ENDPOINT }
      await this.system.spawn({ id, kind: 'master', module: MASTER_MODULE, exportName: 'ShardMasterActor', args, supervisor: 'masters' })
    }
    await this.master.query(this.deadline())
    for (let index = 0; index < groups; index++) await this.join()
  }

  /** A client on this thread. Close it when done, or let cluster.close() do it. */
  client(): KvClient {
    this.assertOpen()
    const client = new KvClient(this.system.localEndpoint(), this.clientSettings, () => this.clients.delete(client))
    this.clients.add(client)
    return client
  }

  /** A descriptor for `connect()` in another thread (structured-cloneable); one per thread. */
  endpoint(): ClusterEndpoint {
    this.assertOpen()
    return { kind: CLUSTER_ENDPOINT_KIND, endpoint: this.system.endpoint(), ...this.clientSettings }
  }

  /** Starts a new group of fresh storage nodes, joins it at the master, and returns its gid. */
  async join(options: JoinOptions = {}): Promise<number> {
    this.assertOpen()
    // The cluster's own replica count is the default, not the option table's.
    const { replicas } = readIntegerOptions('join', options, { replicas: { ...JOIN_OPTIONS.replicas, default: this.settings.replicas } })
    return this.serialize(async () => {
      if (this.groups.size >= MAX_GROUPS) {
        throw new ShardKVError('ERR_OVERLOADED', `a cluster runs at most ${MAX_GROUPS} groups; leave one first`)
      }
      const group = await this.startGroup(replicas)
      try {
        // Joined only once it can serve: operations routed to it at once do not meet an election.
        await this.awaitLeader(group)
        const result = await this.master.mutate({ type: 'Join', gid: group.gid, members: group.members }, this.deadline())
        group.state = 'joined'
        await this.publish(result.num)
      } catch (error) {
        // On a timeout the Join may have been applied: keep the nodes, so leave(gid) can still hand off and stop them.
        if (!(error instanceof ShardKVError && error.code === 'ERR_TIMEOUT')) await this.stopGroup(group)
        throw error
      }
      return group.gid
    })
  }

  /**
   * Removes group `gid`: Leave at the master, wait (up to opTimeoutMs) until
   * its nodes have handed off every shard, then stop them. ERR_TIMEOUT leaves
   * the group departed but running; calling leave(gid) again keeps waiting.
   */
  async leave(gid: number): Promise<void> {
    this.assertOpen()
    return this.serialize(async () => {
      const group = this.groups.get(gid)
      if (group === undefined) throw unknownGroup(gid)
      const latest = await this.master.query(this.deadline())
      let leftNum = latest.num
      if (Object.hasOwn(latest.groups, gid)) {
        leftNum = (await this.master.mutate({ type: 'Leave', gid }, this.deadline())).num
        await this.publish(leftNum)
      }
      group.state = 'leaving'
      await awaitHandOff(this.admin, gid, group.members, leftNum, this.deadline())
      await this.stopGroup(group)
    })
  }

  /** Gives `shard` to group `gid` until the next join or leave rebalances. */
  async move(shard: number, gid: number): Promise<void> {
    this.assertOpen()
    if (!Number.isInteger(shard) || shard < 0 || shard >= this.settings.shards) {
      throw new ShardKVError('ERR_INVALID_SHARD', `shard must be an integer in 0..${this.settings.shards - 1}, got ${describe(shard)}`)
    }
    return this.serialize(async () => {
      if (this.groups.get(gid)?.state !== 'joined') throw unknownGroup(gid)
      const result = await this.master.mutate({ type: 'Move', shard, gid }, this.deadline())
      await this.publish(result.num)
    })
  }

  /** Configuration `num`, or the latest when absent or negative. */
  async query(num?: number): Promise<ClusterConfig> {
    this.assertOpen()
    if (num !== undefined && !Number.isSafeInteger(num)) {
      throw new ShardKVError('ERR_INVALID_OPTION', `query: num must be an integer (negative or absent for the latest), got ${describe(num)}`)
    }
    return this.master.query(this.deadline(), num)
  }

  /** The shard of `key`: FNV-1a 32 of its UTF-8 bytes, mod the shard count (see shard-hash.ts). */
  shardOf(key: string): number {
    checkKey(key, this.settings)
    return shardOf(key, this.settings.shards)
  }

  actors(): ClusterActor[] {
    return this.system.actors().map((actor) => {
      const gid = this.gidOfActor.get(actor.id)
      const role: ActorRole = actor.running ? this.roleOf(actor.id, gid) : 'down'
      return gid === undefined
        ? { id: actor.id, kind: 'master', role, restarts: actor.restarts }
        : { id: actor.id, kind: 'storage', gid, role, restarts: actor.restarts }
    })
  }

  /** Fault injection by actor id: kill, partition, heal, unreliable, reliable, pause. */
  get faults(): ActorSystem['faults'] {
    return this.system.faults
  }

  on<E extends keyof ClusterEvents>(event: E, listener: ClusterEvents[E]): this {
    checkEvent(event)
    this.events.on(event, listener)
    return this
  }

  off<E extends keyof ClusterEvents>(event: E, listener: ClusterEvents[E]): this {
    checkEvent(event)
    this.events.off(event, listener)
    return this
  }

  async stats(): Promise<ClusterStats> {
    this.assertOpen()
    const system = await this.system.stats()
    return { ...system, configNum: this.configNum, groups: this.groups.size, clients: this.clientTotals() }
  }

  /** Stops every thread; pending operations and later calls fail with ERR_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const reason = new ShardKVError('ERR_CLOSED', 'the cluster was closed')
    for (const client of [...this.clients]) client.closeWith(reason)
    this.admin.close(reason)
    this.roleEndpoint.close()
    await this.system.close()
  }

  private async startGroup(replicas: number): Promise<Group> {
    const gid = this.nextGid++
    const members = Array.from({ length: replicas }, (_, index) => `g${gid}-n${index + 1}`)
    const group: Group = { gid, members, supervisor: `group-${gid}`, state: 'joining' }
    await this.system.supervisor(group.supervisor)
    this.groups.set(gid, group)
    const { shards, maxKeyBytes, maxValueBytes } = this.settings
    const args = { gid, shards, masters: this.clientSettings.masters, maxKeyBytes, maxValueBytes, members, roleObserver: ROLES_ENDPOINT }
    for (const id of members) {
      this.gidOfActor.set(id, gid)
      const spec = { id, kind: 'storage', module: STORAGE_MODULE, exportName: 'StorageNodeActor', args, supervisor: group.supervisor }
      // The read view lets clients answer gets in their own thread while this node leads (view-publisher.ts).
      await this.system.spawn({ ...spec, stableStorageBytes: STORAGE_NODE_STABLE_BYTES, readView: { shards } })
    }
    return group
  }

  /** Resolves once a member of `group` reports that it leads; ERR_TIMEOUT after opTimeoutMs. */
  private async awaitLeader(group: Group): Promise<void> {
    const deadlineMs = this.deadline()
    while (!group.members.some((id) => this.roles.get(id) === 'leader')) {
      this.assertOpen()
      if (performance.now() >= deadlineMs) throw new ShardKVError('ERR_TIMEOUT', `group ${group.gid} elected no leader within ${this.settings.opTimeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, LEADER_POLL_MS))
    }
  }

  private onRoleMessage(message: Message, from: string): void {
    if (message.type !== 'role') return
    const { role } = message as RoleReport
    if (role !== 'leader' && role !== 'follower' && role !== 'candidate') return
    const previous = this.roles.get(from)
    this.roles.set(from, role)
    if (role !== 'leader' || previous === 'leader') return
    const gid = this.gidOfActor.get(from)
    this.events.emit('leader', { group: gid ?? 'master', leader: from } satisfies LeaderEvent)
  }

  /** A master replica answered a request with a result, so it led then: a new leader for masters that do not report roles. */
  private onMasterAnswer(id: string): void {
    if (id === this.answeringMaster) return
    this.answeringMaster = id
    if (!this.roles.has(id)) this.events.emit('leader', { group: 'master', leader: id } satisfies LeaderEvent)
  }

  private roleOf(id: string, gid: number | undefined): ReplicaRole {
    const reported = this.roles.get(id)
    if (reported !== undefined) return reported
    if (gid === undefined && id === this.answeringMaster) return 'leader'
    return 'follower'
  }

  private async stopGroup(group: Group): Promise<void> {
    await this.system.removeSupervisor(group.supervisor)
    this.groups.delete(group.gid)
    for (const id of group.members) this.gidOfActor.delete(id)
  }

  /** Fetches configuration `num` and announces it. */
  private async publish(num: number): Promise<void> {
    const config = await this.master.query(this.deadline(), num)
    this.configNum = Math.max(this.configNum, config.num)
    this.events.emit('config', config)
  }

  private serialize<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.adminQueue.then(() => {
      this.assertOpen()
      return operation()
    })
    this.adminQueue = run.catch(() => {})
    return run.catch((error: unknown) => {
      throw this.closed ? new ShardKVError('ERR_CLOSED', 'the cluster was closed') : error
    })
  }

  private clientTotals(): ClusterStats['clients'] {
    const totals = { count: 0, ops: 0, viewReads: 0, retries: 0, timeouts: 0, wrongGroup: 0, notReady: 0, outstanding: 0, configNum: -1 }
    for (const client of this.clients) {
      const stats = client.stats()
      totals.count++
      for (const name of ['ops', 'viewReads', 'retries', 'timeouts', 'wrongGroup', 'notReady', 'outstanding'] as const) totals[name] += stats[name]
      totals.configNum = Math.max(totals.configNum, stats.configNum)
    }
    return totals
  }

  private deadline(): number {
    return performance.now() + this.settings.opTimeoutMs
  }

  private assertOpen(): void {
    if (this.closed) throw new ShardKVError('ERR_CLOSED', 'the cluster was closed; create a new one')
  }
}

function readClusterOptions(options: unknown): { [K in keyof typeof CLUSTER_OPTIONS]: number } {
  return readIntegerOptions('createCluster', options, CLUSTER_OPTIONS)
}

function unknownGroup(gid: unknown): ShardKVError {
  return new ShardKVError('ERR_UNKNOWN_GROUP', `group ${describe(gid)} is not in the cluster; cluster.query() lists the groups`)
}

function checkEvent(event: string): void {
  if (!(EVENTS as readonly string[]).includes(event)) {
    throw new ShardKVError('ERR_INVALID_OPTION', `unknown event "${event}"; events: ${EVENTS.join(', ')}`)
  }
}
