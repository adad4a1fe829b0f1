/**
 * The storage-node actor: the thin shell around StorageState. It turns
 * messages into state operations and results into messages, polls the shard
 * master, and resends unacknowledged shard pushes. All decisions about data
 * live in the state machine, so that replication can later put a Paxos log
 * between this shell and the state without touching either's logic.
 *
 * One node per group for now, with no stable storage: a crash loses the
 * group's data (replication, a later issue, is the answer to that).
 *
 * Polling: one master query in flight at a time, sent on a timer every
 * `pollIntervalMs` while there is something to ask for, and at once after a
 * step forward (a configuration applied, the last shard of a transition
 * arrived or acknowledged) so that a node catches up without waiting a tick
 * per configuration. A fresh node first asks for the latest configuration
 * and walks back until one does not list its gid, then starts there (see
 * StorageState).
 */
import { ShardKVError } from '../errors.js'
import type { Actor, ActorContext, Message } from '../runtime/actor.js'
import {
  sendOrShed,
  type KvRequest,
  type MasterReply,
  type MasterRequest,
  type ShardAck,
  type ShardPush,
  type StatusReply,
  type StatusRequest,
  type StoreMessage,
} from './messages.js'
import type { Config } from './shard-config.js'
import { isWellFormedConfig, StorageState } from './storage-state.js'

export const DEFAULT_POLL_INTERVAL_MS = 50
/** Resending a whole shard is costly, so pushes are retried less often than the master is polled. */
export const DEFAULT_PUSH_RETRY_MS = 200

export interface StorageNodeArgs {
  readonly gid: number
  readonly shards: number
  /** Every shard-master replica's actor id. */
  readonly masters: readonly string[]
  readonly maxKeyBytes: number
  readonly maxValueBytes: number
  /** How often the master is asked for the next configuration. Default DEFAULT_POLL_INTERVAL_MS. */
  readonly pollIntervalMs?: number
  /** How often unacknowledged shard pushes are sent again. Default DEFAULT_PUSH_RETRY_MS. */
  readonly pushRetryMs?: number
}

/** The node's own timer message; ignored unless it comes from the node itself. */
interface TickMessage {
  readonly type: 'storage-tick'
}

type NodeMessage = StoreMessage | TickMessage

const TICK: TickMessage = { type: 'storage-tick' }
/** Configuration number for "the latest" in a Query. */
const LATEST = -1

export class StorageNodeActor implements Actor {
  private readonly state: StorageState
  private readonly masters: readonly string[]
  private readonly pollIntervalMs: number
  private readonly pushRetryMs: number
  private masterIndex = 0
  private nextMasterSeq = 1
  /** Seq of the master query awaiting its reply; undefined when none is. */
  private pollSeq: number | undefined
  /** While fresh: the configuration to look at next (LATEST first, then walking back). */
  private probeNum = LATEST
  private lastPushMs = Number.NEGATIVE_INFINITY
  /** Rotates pushes over the receiving group's members, so one dead member cannot block a hand-off. */
  private pushRound = 0

  constructor(args: StorageNodeArgs) {
    this.state = new StorageState(args)
    this.masters = actorIds('masters', args.masters)
    this.pollIntervalMs = positiveMs('pollIntervalMs', args.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS)
    this.pushRetryMs = positiveMs('pushRetryMs', args.pushRetryMs ?? DEFAULT_PUSH_RETRY_MS)
  }

  start(ctx: ActorContext): void {
    this.poll(ctx)
    ctx.setTimer(this.pollIntervalMs, TICK)
  }

  receive(message: Message, ctx: ActorContext): void {
    const received = message as NodeMessage
    switch (received.type) {
      case 'kv':
        return this.onKv(received, ctx)
      case 'shard-push':
        return this.onShardPush(received, ctx)
      case 'shard-ack':
        return this.onShardAck(received, ctx)
      case 'masterr':
        return this.onMasterReply(received, ctx)
      case 'status':
        return this.onStatus(received, ctx)
      case 'storage-tick':
        return this.onTick(ctx)
      case 'kvr':
      case 'master':
      case 'statusr':
        return
      default: {
        // Unknown types come from the network, not from our code: drop them rather than crash.
        const unexpected: never = received
        return void unexpected
      }
    }
  }

  private onKv(request: KvRequest, ctx: ActorContext): void {
    const { reply } = this.state.apply({ type: 'Kv', request })
    if (reply !== undefined) sendOrShed(ctx, ctx.sender, reply)
  }

  private onShardPush(push: ShardPush, ctx: ActorContext): void {
    const wasSettled = this.state.isSettled
    const { ack } = this.state.apply({ type: 'InstallShard', push })
    if (ack !== undefined) sendOrShed(ctx, ctx.sender, ack)
    if (!wasSettled && this.state.isSettled) this.poll(ctx)
  }

  private onShardAck(ack: ShardAck, ctx: ActorContext): void {
    const { deleted } = this.state.apply({ type: 'ShardAcked', ack })
    if (deleted && this.state.isSettled) this.poll(ctx)
  }

  private onStatus(request: StatusRequest, ctx: ActorContext): void {
    if (!Number.isSafeInteger(request.seq)) return
    const reply: StatusReply = { type: 'statusr', seq: request.seq, ...this.state.status() }
    sendOrShed(ctx, ctx.sender, reply)
  }

  private onTick(ctx: ActorContext): void {
    if (ctx.sender !== ctx.self) return
    // Unanswered since the last tick: that master may be down; try the next one.
    if (this.pollSeq !== undefined) this.masterIndex = (this.masterIndex + 1) % this.masters.length
    this.poll(ctx)
    if (ctx.now() - this.lastPushMs >= this.pushRetryMs) this.sendPushes(ctx)
    ctx.setTimer(this.pollIntervalMs, TICK)
  }

  private onMasterReply(reply: MasterReply, ctx: ActorContext): void {
    const isAwaited = reply.seq === this.pollSeq
    if (reply.result === undefined) return this.followLeaderHint(reply.leaderHint)
    if (isAwaited) this.pollSeq = undefined
    if (typeof reply.result !== 'object' || reply.result === null || reply.result.type !== 'Config') return
    const { config } = reply.result
    if (!this.state.isStarted) {
      // Probing acts on the awaited reply only: a stale or duplicated one must not start a second walk.
      if (isAwaited) this.probe(config, ctx)
      return
    }
    if (this.state.apply({ type: 'Reconfigure', config }).applied) {
      this.sendPushes(ctx)
      if (this.state.isSettled) this.poll(ctx)
    }
  }

  private probe(config: Config, ctx: ActorContext): void {
    if (!isWellFormedConfig(config, this.state.shardCount)) return
    if (Object.hasOwn(config.groups, this.state.gid)) {
      this.probeNum = config.num - 1
    } else {
      this.state.apply({ type: 'Start', config })
    }
    this.poll(ctx)
  }

  /** Sends the next master query, if there is anything to ask: nothing while a transition is in progress. */
  private poll(ctx: ActorContext): void {
    if (this.state.isStarted && !this.state.isSettled) {
      this.pollSeq = undefined
      return
    }
    const num = this.state.isStarted ? this.state.configNum + 1 : this.probeNum
    const seq = this.nextMasterSeq++
    this.pollSeq = seq
    const request: MasterRequest = { type: 'master', seq, op: { type: 'Query', num } }
    sendOrShed(ctx, this.masters[this.masterIndex]!, request)
  }

  private sendPushes(ctx: ActorContext): void {
    const pushes = this.state.outgoingPushes()
    if (pushes.length === 0) return
    for (const { members, push } of pushes) sendOrShed(ctx, members[this.pushRound % members.length]!, push)
    this.pushRound++
    this.lastPushMs = ctx.now()
  }

  private followLeaderHint(leaderHint: string | undefined): void {
    const index = leaderHint === undefined ? -1 : this.masters.indexOf(leaderHint)
    if (index >= 0) this.masterIndex = index
  }
}

function actorIds(name: string, ids: unknown): string[] {
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === 'string' && id.length > 0)) {
    throw new ShardKVError('ERR_INVALID_OPTION', `${name} must be a non-empty array of actor ids`)
  }
  return [...(ids as string[])]
}

function positiveMs(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ShardKVError('ERR_INVALID_OPTION', `${name} must be a positive number of milliseconds, got ${String(value)}`)
  }
  return value
}
