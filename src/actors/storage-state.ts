/**
 * A replica group's state machine: the shards it holds, their duplicate
 * tables, and its walk through the shard master's configurations (MIT 6.824
 * shardkv). Pure and synchronous, like ShardMasterState: operations in,
 * results out, no I/O, no clock, no randomness. Every node of a group
 * applies the same operations from the group's Paxos log and ends in the
 * same state; only the node that proposed an operation sends its result
 * (see storage-node.ts).
 *
 * Configurations are applied one at a time, in order, and only once the
 * previous transition is settled: every shard gained has arrived and every
 * shard lost has been acknowledged by its new owner. Per shard:
 * - gained from gid 0 (unassigned): starts empty and is served at once;
 * - gained from another group: `waiting` (answered `not_ready`) until that
 *   group's ShardPush installs the data and the sessions;
 * - lost: `handing-off` from the configuration change on (answered
 *   `wrong_group`), pushed with its sessions until the new owner acks, then
 *   deleted. A shard lost to gid 0 (the last group left) has no receiver and
 *   is deleted at once: an unassigned shard starts empty when a group gains it.
 *
 * A fresh node (a new group) does not replay history: it `Start`s at a
 * configuration that does not list its gid (one before its Join), where it
 * owns nothing and has nothing to receive, and walks forward from there.
 * Replaying from configuration 0 would fail once the master has pruned old
 * configurations.
 *
 * Duplicate detection is per shard, so it moves with the shard. Per client:
 * the replies of applied mutations at or above the client's `ackedBelow`.
 * Reads are not recorded: reading again is still linearizable. A request
 * below `ackedBelow` was answered and the client no longer waits for it; it
 * is a late network copy and is dropped without a reply.
 *
 * Bounds (replicated state, so every replica evicts alike):
 * - `maxSessionsPerShard` clients per shard (default 1024), least recently
 *   active evicted first. An evicted client that still retries an applied
 *   mutation on that shard gets it applied again: it takes that many other
 *   clients writing to the shard while one request keeps failing.
 * - `maxAppliedPerClient` recorded replies per client per shard (default
 *   1024). The client keeps `seq - ackedBelow` below it; past it, the lowest
 *   seq is forgotten (its retry would be applied again).
 * - Values and keys: maxValueBytes, maxKeyBytes (UTF-8 bytes for strings),
 *   checked on every request and on the result of an append.
 * - Shard data itself is bounded only by memory; a push carries a whole
 *   shard (the transport chunks large frames, up to the codec's ceiling).
 */
import { AssertionError, assert, ShardKVError } from '../errors.js'
import type { AppliedReply, ClientSession, KvErrorCode, KvReply, KvRequest, ShardAck, ShardPush, StoredValue } from './messages.js'
import { cloneConfig, initialConfig, MAX_GID, MAX_SHARDS, MIN_SHARDS, UNASSIGNED_GID, type Config } from './shard-config.js'
import { shardOf, utf8ByteLength } from './shard-hash.js'
import { codec } from '../runtime/codec.js'

export const DEFAULT_MAX_SESSIONS_PER_SHARD = 1024
export const DEFAULT_MAX_APPLIED_PER_CLIENT = 1024
/** Client ids are nanoids (21 chars); the bound only stops a bad message from growing the tables. */
export const MAX_CLIENT_ID_CHARS = 256

export interface StorageStateOptions {
  /** This group's id: 1..MAX_GID. */
  gid: number
  /** The cluster's shard count: 1..4096. */
  shards: number
  maxKeyBytes: number
  maxValueBytes: number
  /** Clients remembered per shard; default DEFAULT_MAX_SESSIONS_PER_SHARD. */
  maxSessionsPerShard?: number
  /** Recorded replies per client per shard; default DEFAULT_MAX_APPLIED_PER_CLIENT. */
  maxAppliedPerClient?: number
}

export type StorageOp =
  | { readonly type: 'Kv'; readonly request: KvRequest }
  /** Fresh node only: adopt `config`, which must not list this gid. */
  | { readonly type: 'Start'; readonly config: Config }
  /** Applied only if it is the next configuration and the current transition is settled. */
  | { readonly type: 'Reconfigure'; readonly config: Config }
  | { readonly type: 'InstallShard'; readonly push: ShardPush }
  | { readonly type: 'ShardAcked'; readonly ack: ShardAck }

export type StorageResult =
  /** `reply` undefined: drop the request silently (malformed identity, or a late copy below ackedBelow). */
  | { readonly type: 'Kv'; readonly reply: KvReply | undefined }
  | { readonly type: 'Start'; readonly applied: boolean }
  | { readonly type: 'Reconfigure'; readonly applied: boolean }
  /** `ack` undefined: not installable now (a newer configuration, or not a shard we expect); the sender retries. */
  | { readonly type: 'InstallShard'; readonly ack: ShardAck | undefined }
  | { readonly type: 'ShardAcked'; readonly deleted: boolean }

export type StorageResultOf<T extends StorageOp['type']> = Extract<StorageResult, { type: T }>

/** A shard to send to its new owner; `push` shares the held maps, which hosts copy when they encode it. */
export interface OutgoingPush {
  readonly toGid: number
  readonly members: readonly string[]
  readonly push: ShardPush
}

export interface StorageStatus {
  readonly gid: number
  readonly configNum: number
  readonly shardsHeld: number[]
  readonly shardsWaiting: number[]
  readonly keys: number
}

interface ShardData {
  readonly data: Map<string, StoredValue>
  readonly sessions: Map<string, ClientSession>
}

type ShardSlot =
  | { readonly phase: 'waiting'; readonly fromGid: number }
  | ({ readonly phase: 'serving' } & ShardData)
  | ({ readonly phase: 'handing-off'; readonly toGid: number; readonly configNum: number } & ShardData)

interface StorageSnapshot {
  readonly version: 1
  readonly config: Config
  readonly started: boolean
  readonly slots: readonly (readonly [number, ShardSlot])[]
}

interface SessionLimits {
  readonly maxSessions: number
  readonly maxApplied: number
}

const KV_OPS: ReadonlySet<string> = new Set(['get', 'put', 'append', 'delete'])
const OK: AppliedReply = Object.freeze({ status: 'ok' })
const TYPE_MISMATCH: AppliedReply = Object.freeze({ status: 'type_mismatch' })
const VALUE_TOO_LARGE: AppliedReply = Object.freeze({ status: 'invalid', errorCode: 'ERR_VALUE_TOO_LARGE' })

export class StorageState {
  readonly gid: number
  readonly shardCount: number
  private readonly maxKeyBytes: number
  private readonly maxValueBytes: number
  private readonly limits: SessionLimits
  /** The applied configuration; configuration 0 (owns nothing) until Start. A stored config is never mutated. */
  private config: Config
  private started = false
  /** Exactly the shards owned in `config` (waiting or serving) plus the ones handing off. */
  private readonly slots = new Map<number, ShardSlot>()

  constructor(options: StorageStateOptions) {
    this.gid = integerOption('gid', options.gid, 1, MAX_GID)
    this.shardCount = integerOption('shards', options.shards, MIN_SHARDS, MAX_SHARDS)
    this.maxKeyBytes = integerOption('maxKeyBytes', options.maxKeyBytes, 1, Number.MAX_SAFE_INTEGER)
    this.maxValueBytes = integerOption('maxValueBytes', options.maxValueBytes, 1, Number.MAX_SAFE_INTEGER)
    this.limits = {
      maxSessions: integerOption('maxSessionsPerShard', options.maxSessionsPerShard ?? DEFAULT_MAX_SESSIONS_PER_SHARD, 1, Number.MAX_SAFE_INTEGER),
      maxApplied: integerOption('maxAppliedPerClient', options.maxAppliedPerClient ?? DEFAULT_MAX_APPLIED_PER_CLIENT, 1, Number.MAX_SAFE_INTEGER),
    }
    this.config = initialConfig(this.shardCount)
  }

  get isStarted(): boolean {
    return this.started
  }

  get configNum(): number {
    return this.config.num
  }

  /** Started, and every shard gained has arrived and every shard lost has been acknowledged. */
  get isSettled(): boolean {
    if (!this.started) return false
    for (const slot of this.slots.values()) if (slot.phase !== 'serving') return false
    return true
  }

  apply<O extends StorageOp>(op: O): StorageResultOf<O['type']> {
    return this.dispatch(op) as StorageResultOf<O['type']>
  }

  /**
   * Answers a get from the state as it is, changing nothing: what applying
   * it through the log would answer at this point (a get records nothing).
   * For a leader that holds a lease (see StorageNodeActor.onKv).
   */
  read(request: KvRequest): KvReply | undefined {
    assert(request.op === 'get', `read() answers gets only, not ${String(request.op)}`)
    return this.kv(request)
  }

  /**
   * The whole replicated state as bytes: a copy, so the state can go on
   * changing while a replication layer keeps or ships the snapshot.
   */
  snapshot(): Uint8Array {
    const snapshot: StorageSnapshot = { version: 1, config: this.config, started: this.started, slots: [...this.slots] }
    return codec.encodeValue(snapshot)
  }

  /** A state equal to the one `snapshot()` was taken of; `options` must be the same. A malformed snapshot fails an assertion. */
  static restore(options: StorageStateOptions, bytes: Uint8Array): StorageState {
    const snapshot = codec.decodeValue(bytes) as StorageSnapshot
    assert(typeof snapshot === 'object' && snapshot !== null && snapshot.version === 1, 'storage snapshot: unknown version')
    const state = new StorageState(options)
    assert(isWellFormedConfig(snapshot.config, state.shardCount), 'storage snapshot: malformed configuration')
    state.config = snapshot.config
    state.started = snapshot.started === true
    for (const [shard, slot] of snapshot.slots) state.slots.set(shard, slot)
    state.assertSlotsMatchConfig()
    return state
  }

  /** The data of `shard` while this group serves it (owned and arrived); undefined otherwise. Read only. */
  servingData(shard: number): ReadonlyMap<string, StoredValue> | undefined {
    const slot = this.slots.get(shard)
    return slot?.phase === 'serving' ? slot.data : undefined
  }

  /** The group `shard` is being handed to; undefined unless it is handing off. */
  handOffTarget(shard: number): number | undefined {
    const slot = this.slots.get(shard)
    return slot?.phase === 'handing-off' ? slot.toGid : undefined
  }

  /** Shards handed off and not yet acknowledged, with where to send them. */
  outgoingPushes(): OutgoingPush[] {
    const pushes: OutgoingPush[] = []
    for (const [shard, slot] of this.slots) {
      if (slot.phase !== 'handing-off') continue
      const members = this.config.groups[slot.toGid]
      assert(members !== undefined, `group ${slot.toGid} receiving shard ${shard} is not in configuration ${this.config.num}`)
      const { configNum, data, sessions } = slot
      pushes.push({ toGid: slot.toGid, members, push: { type: 'shard-push', configNum, shard, fromGid: this.gid, data, sessions } })
    }
    return pushes
  }

  status(): StorageStatus {
    const shardsHeld: number[] = []
    const shardsWaiting: number[] = []
    let keys = 0
    for (const [shard, slot] of this.slots) {
      if (slot.phase === 'waiting') {
        shardsWaiting.push(shard)
      } else {
        shardsHeld.push(shard)
        keys += slot.data.size
      }
    }
    const ascending = (left: number, right: number): number => left - right
    return { gid: this.gid, configNum: this.config.num, shardsHeld: shardsHeld.sort(ascending), shardsWaiting: shardsWaiting.sort(ascending), keys }
  }

  private dispatch(op: StorageOp): StorageResult {
    switch (op.type) {
      case 'Kv':
        return { type: 'Kv', reply: this.kv(op.request) }
      case 'Start':
        return { type: 'Start', applied: this.start(op.config) }
      case 'Reconfigure':
        return { type: 'Reconfigure', applied: this.reconfigure(op.config) }
      case 'InstallShard':
        return { type: 'InstallShard', ack: this.install(op.push) }
      case 'ShardAcked':
        return { type: 'ShardAcked', deleted: this.acknowledged(op.ack) }
      default:
        return unreachable(op)
    }
  }

  // ---- client requests --------------------------------------------------------

  private kv(request: KvRequest): KvReply | undefined {
    if (!hasRequestIdentity(request)) return undefined
    const problem = this.checkRequest(request)
    if (problem !== undefined) return this.reply(request.seq, { status: 'invalid', errorCode: problem })
    const shard = shardOf(request.key, this.shardCount)
    if (this.config.shards[shard] !== this.gid) return this.reply(request.seq, { status: 'wrong_group' })
    const slot = this.slots.get(shard)
    assert(slot !== undefined && slot.phase !== 'handing-off', `owned shard ${shard} has no waiting or serving slot`)
    if (slot.phase === 'waiting') return this.reply(request.seq, { status: 'not_ready' })
    return this.execute(slot, request)
  }

  private execute(slot: ShardData, request: KvRequest): KvReply | undefined {
    if (request.op === 'get') return this.reply(request.seq, { status: 'ok', value: slot.data.get(request.key) })
    const session = slot.sessions.get(request.clientId)
    if (session !== undefined) {
      if (request.seq < session.ackedBelow) return undefined
      const earlier = session.applied.get(request.seq)
      if (earlier !== undefined) return this.reply(request.seq, earlier)
    }
    const outcome = applyMutation(slot.data, request, this.maxValueBytes)
    recordApplied(slot.sessions, this.limits, request, outcome)
    return this.reply(request.seq, outcome)
  }

  private reply(seq: number, outcome: AppliedReply): KvReply {
    return { type: 'kvr', seq, configNum: this.config.num, ...outcome }
  }

  /** The server's own check of what the client should have refused: a bad message must not get in. */
  private checkRequest(request: KvRequest): KvErrorCode | undefined {
    const { key } = request
    if (typeof key !== 'string' || key.length === 0) return 'ERR_INVALID_KEY'
    if (!fitsUtf8(key, this.maxKeyBytes)) return 'ERR_KEY_TOO_LARGE'
    if (request.op !== 'put' && request.op !== 'append') return undefined
    const { value } = request
    if (value instanceof Uint8Array) return value.byteLength <= this.maxValueBytes ? undefined : 'ERR_VALUE_TOO_LARGE'
    if (typeof value !== 'string') return 'ERR_INVALID_VALUE'
    return fitsUtf8(value, this.maxValueBytes) ? undefined : 'ERR_VALUE_TOO_LARGE'
  }

  // ---- configurations ----------------------------------------------------------

  private start(config: Config): boolean {
    if (this.started || !isWellFormedConfig(config, this.shardCount)) return false
    // A configuration that lists us may have given us shards whose pushes we would wrongly ack as old.
    if (Object.hasOwn(config.groups, this.gid)) return false
    this.config = cloneConfig(config)
    this.started = true
    return true
  }

  private reconfigure(next: Config): boolean {
    if (!this.isSettled || !isWellFormedConfig(next, this.shardCount) || next.num !== this.config.num + 1) return false
    for (let shard = 0; shard < this.shardCount; shard++) {
      this.changeOwner(shard, ownerOf(this.config, shard), ownerOf(next, shard), next.num)
    }
    this.config = cloneConfig(next)
    this.assertSlotsMatchConfig()
    return true
  }

  private changeOwner(shard: number, fromGid: number, toGid: number, configNum: number): void {
    if (fromGid !== this.gid && toGid === this.gid) {
      this.slots.set(shard, fromGid === UNASSIGNED_GID ? { phase: 'serving', ...emptyShard() } : { phase: 'waiting', fromGid })
      return
    }
    if (fromGid !== this.gid || toGid === this.gid) return
    const slot = this.slots.get(shard)
    assert(slot?.phase === 'serving', `shard ${shard} lost in configuration ${configNum} was not being served`)
    if (toGid === UNASSIGNED_GID) this.slots.delete(shard)
    else this.slots.set(shard, { phase: 'handing-off', toGid, configNum, data: slot.data, sessions: slot.sessions })
  }

  // ---- shard transfer ------------------------------------------------------------

  /**
   * What InstallShard would do with `push` now, changing nothing: 'install'
   * it, ack it as a 'duplicate' (already installed), or 'refuse' it (not
   * installable now; the sender retries). A replicated leader asks first so
   * that only pushes to install enter the log: a push carries a whole shard,
   * and its sender resends it until acknowledged.
   */
  classifyPush(push: ShardPush): 'install' | 'duplicate' | 'refuse' {
    if (!isPushHeader(push, this.shardCount) || push.configNum > this.config.num) return 'refuse'
    // We completed that configuration, which needed this shard installed: a duplicate.
    if (push.configNum < this.config.num) return 'duplicate'
    const slot = this.slots.get(push.shard)
    if (slot?.phase === 'serving') return 'duplicate'
    return slot?.phase === 'waiting' && slot.fromGid === push.fromGid ? 'install' : 'refuse'
  }

  private install(push: ShardPush): ShardAck | undefined {
    const decision = this.classifyPush(push)
    if (decision === 'refuse') return undefined
    const ack: ShardAck = { type: 'shard-ack', configNum: push.configNum, shard: push.shard }
    if (decision === 'duplicate') return ack
    const shard = copyShard(push, this.limits)
    if (shard === undefined) return undefined
    this.slots.set(push.shard, { phase: 'serving', ...shard })
    return ack
  }

  private acknowledged(ack: ShardAck): boolean {
    if (typeof ack !== 'object' || ack === null) return false
    const slot = this.slots.get(ack.shard)
    if (slot?.phase !== 'handing-off' || slot.configNum !== ack.configNum) return false
    this.slots.delete(ack.shard)
    return true
  }

  /** A shard is served by at most one group per configuration: ours exactly when the config says so. */
  private assertSlotsMatchConfig(): void {
    for (let shard = 0; shard < this.shardCount; shard++) {
      const owned = ownerOf(this.config, shard) === this.gid
      const phase = this.slots.get(shard)?.phase
      assert(owned === (phase === 'waiting' || phase === 'serving'), `shard ${shard}: owned ${owned} but slot ${String(phase)}`)
    }
  }
}

/** Structural check of a configuration from the network: what the state relies on. */
export function isWellFormedConfig(config: unknown, shardCount: number): config is Config {
  if (typeof config !== 'object' || config === null) return false
  const { num, shards, groups } = config as Partial<Config>
  if (!Number.isSafeInteger(num) || (num as number) < 0) return false
  if (typeof groups !== 'object' || groups === null) return false
  if (!Array.isArray(shards) || shards.length !== shardCount) return false
  for (const members of Object.values(groups)) {
    if (!Array.isArray(members) || members.length === 0 || !members.every((id) => typeof id === 'string')) return false
  }
  return shards.every((gid) => gid === UNASSIGNED_GID || (Number.isInteger(gid) && Object.hasOwn(groups, gid)))
}

function ownerOf(config: Config, shard: number): number {
  const gid = config.shards[shard]
  assert(gid !== undefined, `configuration ${config.num} has no shard ${shard}`)
  return gid
}

function emptyShard(): ShardData {
  return { data: new Map(), sessions: new Map() }
}

// ---- mutations -------------------------------------------------------------------

function applyMutation(data: Map<string, StoredValue>, request: KvRequest, maxValueBytes: number): AppliedReply {
  const { key, value } = request
  switch (request.op) {
    case 'put':
      assert(value !== undefined, 'put was validated to carry a value')
      data.set(key, value)
      return OK
    case 'append': {
      assert(value !== undefined, 'append was validated to carry a value')
      const current = data.get(key)
      if (current === undefined) {
        data.set(key, value)
        return OK
      }
      return appendTo(data, key, current, value, maxValueBytes)
    }
    case 'delete':
      return { status: 'ok', existed: data.delete(key) }
    case 'get':
      throw new AssertionError('get is not a mutation')
    default:
      return unreachable(request.op)
  }
}

function appendTo(data: Map<string, StoredValue>, key: string, current: StoredValue, suffix: StoredValue, maxValueBytes: number): AppliedReply {
  if (typeof current === 'string' && typeof suffix === 'string') {
    const joined = current + suffix
    if (!fitsUtf8(joined, maxValueBytes)) return VALUE_TOO_LARGE
    data.set(key, joined)
    return OK
  }
  if (current instanceof Uint8Array && suffix instanceof Uint8Array) {
    if (current.byteLength + suffix.byteLength > maxValueBytes) return VALUE_TOO_LARGE
    const joined = new Uint8Array(current.byteLength + suffix.byteLength)
    joined.set(current)
    joined.set(suffix, current.byteLength)
    data.set(key, joined)
    return OK
  }
  return TYPE_MISMATCH
}

/** UTF-8 length <= maxBytes, counting only when the cheap bounds (1..3 bytes per UTF-16 unit) cannot tell. */
function fitsUtf8(text: string, maxBytes: number): boolean {
  if (text.length * 3 <= maxBytes) return true
  if (text.length > maxBytes) return false
  return utf8ByteLength(text) <= maxBytes
}

// ---- duplicate detection -----------------------------------------------------------

function hasRequestIdentity(request: KvRequest): boolean {
  if (typeof request !== 'object' || request === null || !KV_OPS.has(request.op)) return false
  const { clientId, seq, ackedBelow } = request
  if (typeof clientId !== 'string' || clientId.length === 0 || clientId.length > MAX_CLIENT_ID_CHARS) return false
  return Number.isSafeInteger(seq) && seq >= 0 && Number.isSafeInteger(ackedBelow) && ackedBelow >= 0 && ackedBelow <= seq
}

function recordApplied(sessions: Map<string, ClientSession>, limits: SessionLimits, request: KvRequest, outcome: AppliedReply): void {
  const session = touchSession(sessions, request.clientId, limits.maxSessions)
  raiseAckedBelow(session, request.ackedBelow)
  session.applied.set(request.seq, outcome)
  if (session.applied.size > limits.maxApplied) trimApplied(session, limits.maxApplied)
}

/** The client's session, moved to the most recent end of the map (map order is eviction order). */
function touchSession(sessions: Map<string, ClientSession>, clientId: string, maxSessions: number): ClientSession {
  const session = sessions.get(clientId) ?? { ackedBelow: 0, applied: new Map<number, AppliedReply>() }
  sessions.delete(clientId)
  sessions.set(clientId, session)
  evictOldestSessions(sessions, maxSessions)
  return session
}

function evictOldestSessions(sessions: Map<string, ClientSession>, maxSessions: number): void {
  for (const clientId of sessions.keys()) {
    if (sessions.size <= maxSessions) return
    sessions.delete(clientId)
  }
}

/**
 * Forgets replies below the new mark. Seqs arrive roughly in order, so it
 * scans from the oldest entry and stops at the first one still needed; one
 * left behind by out-of-order arrival goes in trimApplied's full sweep.
 */
function raiseAckedBelow(session: ClientSession, ackedBelow: number): void {
  if (ackedBelow <= session.ackedBelow) return
  session.ackedBelow = ackedBelow
  for (const seq of session.applied.keys()) {
    if (seq >= ackedBelow) return
    session.applied.delete(seq)
  }
}

function trimApplied(session: ClientSession, maxApplied: number): void {
  for (const seq of session.applied.keys()) if (seq < session.ackedBelow) session.applied.delete(seq)
  while (session.applied.size > maxApplied) session.applied.delete(lowestSeq(session.applied))
}

function lowestSeq(applied: Map<number, AppliedReply>): number {
  let lowest = Number.POSITIVE_INFINITY
  for (const seq of applied.keys()) lowest = Math.min(lowest, seq)
  return lowest
}

// ---- pushes from the network ------------------------------------------------------------

function isPushHeader(push: ShardPush, shardCount: number): boolean {
  if (typeof push !== 'object' || push === null) return false
  const { configNum, shard, fromGid } = push
  return Number.isSafeInteger(configNum) && configNum >= 0 && Number.isInteger(shard) && shard >= 0 && shard < shardCount && Number.isInteger(fromGid)
}

/** A private, validated copy of the pushed data and sessions; undefined if anything is malformed. */
function copyShard(push: ShardPush, limits: SessionLimits): ShardData | undefined {
  if (!(push.data instanceof Map) || !(push.sessions instanceof Map)) return undefined
  const data = new Map<string, StoredValue>()
  for (const [key, value] of push.data) {
    if (typeof key !== 'string' || !(typeof value === 'string' || value instanceof Uint8Array)) return undefined
    data.set(key, value)
  }
  const sessions = new Map<string, ClientSession>()
  for (const [clientId, session] of push.sessions) {
    const copy = copySession(session)
    if (typeof clientId !== 'string' || copy === undefined) return undefined
    sessions.set(clientId, copy)
    if (copy.applied.size > limits.maxApplied) trimApplied(copy, limits.maxApplied)
  }
  evictOldestSessions(sessions, limits.maxSessions)
  return { data, sessions }
}

function copySession(session: ClientSession): ClientSession | undefined {
  if (typeof session !== 'object' || session === null || !(session.applied instanceof Map)) return undefined
  if (!Number.isSafeInteger(session.ackedBelow)) return undefined
  const applied = new Map<number, AppliedReply>()
  for (const [seq, reply] of session.applied) {
    if (!Number.isSafeInteger(seq) || typeof reply !== 'object' || reply === null || typeof reply.status !== 'string') return undefined
    applied.set(seq, reply)
  }
  return { ackedBelow: session.ackedBelow, applied }
}

function integerOption(name: string, value: unknown, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    throw new ShardKVError('ERR_INVALID_OPTION', `${name} must be an integer in ${min}..${max}, got ${String(value)}`)
  }
  return value as number
}

function unreachable(value: never): never {
  throw new AssertionError(`unexpected variant ${JSON.stringify(value)}`)
}
