/**
 * The key-value client: put / get / append / delete over any Endpoint (the
 * main thread's, or one connected in another worker thread).
 *
 * Routing: key -> shardOf(key) -> the owning group in the cached
 * configuration -> the member believed to lead. Retries keep the request's
 * identity (this client's nanoid + seq), so an operation takes effect at most
 * once however often it is resent, even when a retry lands on the shard's new
 * owner after a move (the duplicate table travels with the shard).
 *
 * Per attempt: wait FIRST_ATTEMPT_MS for the reply, doubling on each
 * unanswered attempt up to MAX_ATTEMPT_MS. WrongGroup refreshes the
 * configuration from the master (or, when the node is behind us, waits for
 * it); NotReady (the shard is on its way) backs off briefly; NotLeader
 * follows the hint, or without one (an election is under way) tries the
 * next member after a brief back-off. The whole operation is bounded by `opTimeoutMs`, after
 * which it fails with ERR_TIMEOUT: its outcome is unknown, and calling the
 * same mutation again on this client is safe (see retry-memory.ts).
 *
 * Pipelining: many operations may be in flight at once, at most
 * MAX_OUTSTANDING_OPS (ERR_OVERLOADED past it). Every request tells the
 * servers `ackedBelow`, the lowest seq still outstanding (or remembered for a
 * retry), below which they may forget this client's replies. A storage node
 * keeps at most DEFAULT_MAX_APPLIED_PER_CLIENT replies per client and shard,
 * dropping the lowest past that, so the client never lets a new seq get
 * SEQ_WINDOW or more above `ackedBelow`: otherwise the reply of an early,
 * still-retrying operation could be dropped and its retry applied twice. A
 * new operation that would pass the window waits (up to its deadline) for
 * the oldest outstanding one to finish.
 */
import { performance } from 'node:perf_hooks'
import { nanoid } from 'nanoid'
import type { KvOp, KvReply, KvRequest, StoredValue } from '../actors/messages.js'
import { shardOf } from '../actors/shard-hash.js'
import { DEFAULT_MAX_APPLIED_PER_CLIENT } from '../actors/storage-state.js'
import { ShardKVError } from '../errors.js'
import type { Endpoint } from '../runtime/endpoint.js'
import { NOT_IN_VIEW, sharedClockMs, type ViewRead } from '../runtime/read-view.js'
import { ConfigCache, type Route } from './config-cache.js'
import { checkKey, checkValue, type ValueLimits } from './limits.js'
import { MasterClient } from './master-client.js'
import { lowestOutstanding, RetryMemory } from './retry-memory.js'
import { isSendFailure, RpcChannel, sleep } from './rpc.js'

export type Value = StoredValue

export interface ClientSettings extends ValueLimits {
  readonly shards: number
  /** Shard-master replica ids. */
  readonly masters: readonly string[]
  readonly opTimeoutMs: number
}

export interface ClientStats {
  /** Operations started (validation failures excluded). */
  readonly ops: number
  /** Gets answered from a leader's read view in the client's own thread (counted in ops too). */
  readonly viewReads: number
  /** Attempts beyond each operation's first. */
  readonly retries: number
  readonly timeouts: number
  readonly wrongGroup: number
  readonly notReady: number
  readonly outstanding: number
  /** Number of the cached configuration; -1 before the first. */
  readonly configNum: number
}

/** Seqs between `ackedBelow` and the newest seq sent: what a storage node remembers per client and shard. */
export const SEQ_WINDOW = DEFAULT_MAX_APPLIED_PER_CLIENT
/** Most operations one client keeps in flight; more is ERR_OVERLOADED. Never above SEQ_WINDOW. */
export const MAX_OUTSTANDING_OPS = SEQ_WINDOW
export const FIRST_ATTEMPT_MS = 250
export const MAX_ATTEMPT_MS = 2000
const FIRST_BACKOFF_MS = 2
const MAX_BACKOFF_MS = 100
/** An attempt whose send the endpoint refused (not wired, or its outbox full): back off, same member. */
const SEND_REFUSED = null
/** How long an attempt waits for the endpoint to be wired to a member before refreshing the configuration. */
const PEER_WAIT_MS = 100

type Counters = { -readonly [K in keyof Omit<ClientStats, 'outstanding' | 'configNum'>]: number }

interface Operation {
  readonly op: KvOp
  readonly key: string
  readonly value: StoredValue | undefined
  readonly seq: number
  readonly shard: number
  readonly deadlineMs: number
}

export class KvClient {
  readonly clientId = nanoid()
  private readonly rpc: RpcChannel
  private readonly config: ConfigCache
  /** Seqs of new operations in flight; Set order is ascending seq. Reissued timed-out calls live in `retryMemory`. */
  private readonly inflight = new Set<number>()
  private readonly retryMemory = new RetryMemory()
  private outstanding = 0
  private nextSeq = 1
  private readonly counters: Counters = { ops: 0, viewReads: 0, retries: 0, timeouts: 0, wrongGroup: 0, notReady: 0 }

  /** `onClosed` runs once when the client closes, for whoever keeps track of it. */
  constructor(
    endpoint: Endpoint,
    private readonly settings: ClientSettings,
    onClosed: () => void = () => {},
  ) {
    this.rpc = new RpcChannel(endpoint)
    this.rpc.onClose(onClosed)
    this.config = new ConfigCache(new MasterClient(this.rpc, settings.masters, this.clientId))
  }

  /** Stores `value` (a string or bytes) under `key`, replacing what was there. */
  async put(key: string, value: Value): Promise<void> {
    await this.run('put', key, value)
  }

  /**
   * The value under `key`, in the type it was stored; undefined when absent.
   * Answered in this thread from the leader's read view when it can be
   * (readFromView), else by asking the leader.
   */
  async get(key: string): Promise<Value | undefined> {
    this.rpc.assertOpen()
    checkKey(key, this.settings)
    const viewed = this.readFromView(key, shardOf(key, this.settings.shards))
    if (viewed !== NOT_IN_VIEW) {
      this.counters.ops++
      this.counters.viewReads++
      return viewed
    }
    return (await this.run('get', key, undefined)).value
  }

  /** Appends to the value under `key` (creating it when absent); the types must match, else ERR_TYPE_MISMATCH. */
  async append(key: string, value: Value): Promise<void> {
    await this.run('append', key, value)
  }

  /** Removes `key`; true when it existed. */
  async delete(key: string): Promise<boolean> {
    return (await this.run('delete', key, undefined)).existed === true
  }

  /** Leaves the network: operations in flight and later ones fail with ERR_CLOSED. */
  close(): void {
    this.closeWith(new ShardKVError('ERR_CLOSED', 'the client was closed'))
  }

  /** Resolves once the master answers and the configuration is cached; ERR_TIMEOUT after opTimeoutMs. */
  async ready(): Promise<void> {
    const deadlineMs = performance.now() + this.settings.opTimeoutMs
    while (this.config.current === undefined) {
      if (performance.now() >= deadlineMs) throw new ShardKVError('ERR_TIMEOUT', 'the shard master did not answer in time')
      await this.tryRefresh()
    }
  }

  stats(): ClientStats {
    return { ...this.counters, outstanding: this.outstanding, configNum: this.config.num }
  }

  /** @internal Closes with a given reason (the cluster closing its clients). */
  closeWith(reason: ShardKVError): void {
    this.rpc.close(reason)
  }

  private async run(op: KvOp, key: string, value: StoredValue | undefined): Promise<KvReply> {
    this.rpc.assertOpen()
    checkKey(key, this.settings)
    if (op === 'put' || op === 'append') checkValue(value, this.settings)
    if (this.outstanding >= MAX_OUTSTANDING_OPS) {
      throw new ShardKVError('ERR_OVERLOADED', `${MAX_OUTSTANDING_OPS} operations are already in flight on this client; await some first`)
    }
    const deadlineMs = performance.now() + this.settings.opTimeoutMs
    this.outstanding++
    this.counters.ops++
    let seq: number | undefined
    try {
      // The common case claims synchronously: an await per operation is a promise and a microtask hop.
      seq = this.claimSeqNow(op, key, value) ?? (await this.claimSeq(deadlineMs))
      return await this.execute({ op, key, value, seq, shard: shardOf(key, this.settings.shards), deadlineMs })
    } catch (error) {
      if (seq !== undefined) this.rememberIfUnknown(op, key, value, seq, error)
      throw error
    } finally {
      this.outstanding--
      if (seq !== undefined) this.inflight.delete(seq)
    }
  }

  /**
   * The remembered seq of this call if it is the retry of a timed-out one,
   * else a new seq if one fits in the window; undefined when the window is full.
   */
  private claimSeqNow(op: KvOp, key: string, value: StoredValue | undefined): number | undefined {
    this.retryMemory.expire(performance.now(), this.nextSeq)
    const retriedSeq = op === 'get' ? undefined : this.retryMemory.take(op, key, value)
    if (retriedSeq !== undefined) return retriedSeq
    return this.nextSeq - this.ackedBelow() >= SEQ_WINDOW ? undefined : this.newSeq()
  }

  /** A new seq once one fits in the window. */
  private async claimSeq(deadlineMs: number): Promise<number> {
    await this.awaitWindow(deadlineMs)
    return this.newSeq()
  }

  private newSeq(): number {
    const seq = this.nextSeq++
    this.inflight.add(seq)
    return seq
  }

  /** Waits, polling, until a new seq fits in the window; ERR_TIMEOUT at the deadline (nothing was sent). */
  private async awaitWindow(deadlineMs: number): Promise<void> {
    let pauseMs = 1
    while (this.nextSeq - this.ackedBelow() >= SEQ_WINDOW) {
      const leftMs = deadlineMs - performance.now()
      if (leftMs <= 0) {
        this.counters.timeouts++
        throw new ShardKVError('ERR_TIMEOUT', `the oldest operation on this client has held back new ones for ${this.settings.opTimeoutMs} ms; nothing was sent`)
      }
      await sleep(Math.min(pauseMs, leftMs))
      this.rpc.assertOpen()
      pauseMs = Math.min(2 * pauseMs, MAX_BACKOFF_MS)
      this.retryMemory.expire(performance.now(), this.nextSeq)
    }
  }

  /** Keeps a timed-out mutation for its retry; any other outcome is final and forgotten. */
  private rememberIfUnknown(op: KvOp, key: string, value: StoredValue | undefined, seq: number, error: unknown): void {
    if (op !== 'get' && error instanceof ShardKVError && error.code === 'ERR_TIMEOUT') {
      this.retryMemory.remember(seq, op, key, value, performance.now() + this.settings.opTimeoutMs)
    } else {
      this.retryMemory.forget(seq)
    }
  }

  private async execute(operation: Operation): Promise<KvReply> {
    let attemptMs = FIRST_ATTEMPT_MS
    let backoffMs = FIRST_BACKOFF_MS
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) this.counters.retries++
      const leftMs = operation.deadlineMs - performance.now()
      if (leftMs <= 0) throw this.timeout(operation)
      const route = this.wiredRoute(operation) ?? (await this.routeTo(operation))
      const reply = route === undefined ? undefined : await this.attempt(route, operation, Math.min(attemptMs, leftMs))
      if (reply === undefined || reply === SEND_REFUSED) {
        if (route !== undefined) attemptMs = Math.min(2 * attemptMs, MAX_ATTEMPT_MS)
        // Unanswered: that member may be down or no longer lead; the next attempt asks another.
        if (route !== undefined && reply === undefined) this.config.changeMember(route.gid)
        backoffMs = await this.backOff(operation, backoffMs)
        continue
      }
      switch (reply.status) {
        case 'ok':
          this.retryMemory.forget(operation.seq)
          return reply
        case 'type_mismatch':
          throw typeMismatch(operation)
        case 'invalid':
          throw this.refused(operation, reply)
        case 'wrong_group':
          this.counters.wrongGroup++
          if (!(await this.refreshedPast(reply))) backoffMs = await this.backOff(operation, backoffMs)
          continue
        case 'not_ready':
          this.counters.notReady++
          backoffMs = await this.backOff(operation, backoffMs)
          continue
        case 'not_leader':
          this.config.changeMember(route!.gid, reply.leaderHint)
          // Without a hint the group is electing: pause, or the rotation would spin over its members until it has.
          if (reply.leaderHint === undefined) backoffMs = await this.backOff(operation, backoffMs)
          continue
        default: {
          const never: never = reply.status
          throw new ShardKVError('ERR_CODEC', `unknown reply status ${String(never)}`)
        }
      }
    }
  }

  /**
   * One send and wait: the reply, undefined when unanswered in time, or
   * SEND_REFUSED when the endpoint refused the send. Not async: the common
   * path hands back the channel's own promise, one promise less per operation.
   */
  private attempt(route: Route, operation: Operation, timeoutMs: number): Promise<KvReply | undefined | typeof SEND_REFUSED> {
    const request: KvRequest = {
      type: 'kv',
      op: operation.op,
      clientId: this.clientId,
      seq: operation.seq,
      ackedBelow: this.ackedBelow(),
      key: operation.key,
      value: operation.value,
      configNum: this.config.num,
    }
    try {
      return this.rpc.call(route.member, request, 'kvr', timeoutMs)
    } catch (error) {
      if (isSendFailure(error)) return Promise.resolve(SEND_REFUSED)
      return Promise.reject(error)
    }
  }

  /**
   * A get answered from the read view of the shard's group's leader (the
   * member believed to lead first, then the others): what that leader would
   * answer now, while its lease lasts (see view-publisher.ts). NOT_IN_VIEW
   * when no member's view answers: no configuration yet, no lease (an
   * election, a leader cut off), the shard not served there (moved, on its
   * way, too large for the view), or the value too large to keep in it.
   */
  private readFromView(key: string, shard: number): ViewRead {
    const route = this.config.route(shard)
    if (route === undefined) return NOT_IN_VIEW
    const nowMs = sharedClockMs()
    const believedView = this.rpc.readView(route.member)
    // Not `?.get() ?? NOT_IN_VIEW`: undefined (absent) is an answer.
    const believed = believedView === undefined ? NOT_IN_VIEW : believedView.get(shard, key, nowMs)
    if (believed !== NOT_IN_VIEW) return believed
    for (const member of this.config.current!.groups[route.gid]!) {
      const view = member === route.member ? undefined : this.rpc.readView(member)
      if (view === undefined || !view.serves(shard, nowMs)) continue
      this.config.changeMember(route.gid, member)
      return view.get(shard, key, nowMs)
    }
    return NOT_IN_VIEW
  }

  /** The route when the configuration has one and its member is wired: the common case, without an await. */
  private wiredRoute(operation: Operation): Route | undefined {
    const route = this.config.route(operation.shard)
    return route !== undefined && this.rpc.has(route.member) ? route : undefined
  }

  /** The member to send to, or undefined (no configuration yet, shard unassigned, member not wired): back off and retry. */
  private async routeTo(operation: Operation): Promise<Route | undefined> {
    let route = this.config.route(operation.shard)
    if (route === undefined) {
      await this.tryRefresh()
      route = this.config.route(operation.shard)
      if (route === undefined) return undefined
    }
    if (this.rpc.has(route.member)) return route
    const waitUntilMs = Math.min(operation.deadlineMs, performance.now() + PEER_WAIT_MS)
    if (await this.rpc.waitForPeer(route.member, waitUntilMs)) return route
    // The member may have left with its group: our configuration is probably old.
    await this.tryRefresh()
    return undefined
  }

  /** After WrongGroup: true when a newer configuration is now cached (retry at once). */
  private async refreshedPast(reply: KvReply): Promise<boolean> {
    const before = this.config.num
    // The node is behind the configuration we routed by: it will catch up; asking the master again would not help.
    if (reply.configNum < before) return false
    await this.tryRefresh()
    return this.config.num > before
  }

  /** A refresh that may time out: the caller's own deadline decides when to give up. */
  private async tryRefresh(): Promise<void> {
    try {
      await this.config.refresh()
    } catch (error) {
      if (!(error instanceof ShardKVError && error.code === 'ERR_TIMEOUT')) throw error
    }
  }

  /** Sleeps `backoffMs` (never past the deadline); returns the next, doubled, backoff. */
  private async backOff(operation: Operation, backoffMs: number): Promise<number> {
    const leftMs = operation.deadlineMs - performance.now()
    if (leftMs > 0) await sleep(Math.min(backoffMs, leftMs))
    this.rpc.assertOpen()
    return Math.min(2 * backoffMs, MAX_BACKOFF_MS)
  }

  /** Lowest seq still outstanding: every seq below it has been answered, or given up on and not remembered. */
  private ackedBelow(): number {
    return lowestOutstanding(this.nextSeq, this.inflight, this.retryMemory)
  }

  /** A limit only the node can check (an append whose result would pass maxValueBytes), or one our checks should have caught. */
  private refused(operation: Operation, reply: KvReply): ShardKVError {
    const code = reply.errorCode ?? 'ERR_INVALID_VALUE'
    const detail =
      code === 'ERR_VALUE_TOO_LARGE' && operation.op === 'append'
        ? `the value would grow past maxValueBytes (${this.settings.maxValueBytes})`
        : `the storage node refused it (${code})`
    return new ShardKVError(code, `${operation.op} of key ${quoteKey(operation.key)}: ${detail}; nothing changed`)
  }

  private timeout(operation: Operation): ShardKVError {
    this.counters.timeouts++
    const { op, key, shard } = operation
    return new ShardKVError(
      'ERR_TIMEOUT',
      `${op} of key ${quoteKey(key)} (shard ${shard}) did not complete within ` +
        `${this.settings.opTimeoutMs} ms; its outcome is unknown, and calling the same ${op} again on this client is safe`,
    )
  }
}

function typeMismatch(operation: Operation): ShardKVError {
  const given = typeof operation.value === 'string' ? 'a string' : 'bytes'
  const stored = typeof operation.value === 'string' ? 'bytes' : 'a string'
  return new ShardKVError('ERR_TYPE_MISMATCH', `cannot append ${given} to ${stored} (key ${quoteKey(operation.key)}); nothing changed`)
}

/** A key for an error message: quoted, and cut short when long. */
function quoteKey(key: string): string {
  return JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}...` : key)
}
