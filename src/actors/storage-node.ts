/**
 * The storage-node actor: one replica of a group. The group's nodes run
 * StorageState as a replicated state machine over Multi-Paxos (Replica):
 * every state change, client reads included, is a command in the group's
 * log, and every node applies the committed commands in order, so all of
 * them walk through the same states. The shell around the state decides who
 * may put what into the log, and who answers:
 *
 * - Only the leader proposes. A follower answers a client `not_leader` with
 *   its leader hint, and ignores shard pushes and acks (their senders resend,
 *   rotating over our members, until the leader answers).
 * - Reads: a leader holding a lease answers a get from its applied state at
 *   once (MultiPaxos.canReadLocally has the safety argument: no other
 *   replica can have committed a write it has not applied). Without one (a
 *   new leader before its election's slots are applied, a leader that has
 *   not heard a majority lately), the read goes through the log: answered
 *   when its slot commits, after every write committed before it, and a
 *   deposed leader cut off in a minority cannot commit, so it cannot answer
 *   from a stale state.
 * - Only the node that proposed a command answers it, once it commits, to
 *   the sender recorded in the command (`pending` says which commands this
 *   node proposed). Other nodes apply silently. A command proposed by a
 *   leader that loses office may still commit unanswered; the asker retries
 *   under the same request identity and the duplicate table answers.
 * - Only the leader polls the shard master and pushes shards it hands off.
 *   Every configuration step goes through the log (Start, Reconfigure), so
 *   a leader acting on a state that lags the log is harmless: each command
 *   is checked against the state it is applied to (a Reconfigure to the
 *   wrong number, a second Start, a repeated install or ack do nothing).
 *
 * Recovery: the Replica keeps acceptor state and snapshots in stable storage
 * that outlives the worker. A restarted node restores its last snapshot,
 * comes back as a follower (it serves nothing until elected) and catches up
 * from the leader. Snapshots are StorageState.snapshot(), taken once the
 * log has outgrown the last one (and at least `snapshotEvery` slots apart),
 * so the log stays bounded.
 *
 * Polling: one master query in flight at a time, sent on a timer every
 * `pollIntervalMs` while there is something to ask for, and at once after a
 * step forward (a configuration applied, the last shard of a transition
 * arrived or acknowledged) so that a group catches up without waiting a
 * tick per configuration. A fresh group first asks for the latest
 * configuration and walks back until one does not list its gid, then starts
 * there (see StorageState).
 */
import { ShardKVError } from '../errors.js'
import type { MultiPaxosOptions, Role } from '../paxos/index.js'
import type { Actor, ActorContext, Message } from '../runtime/actor.js'
import {
  reportRole,
  sendOrShed,
  type KvReply,
  type KvRequest,
  type MasterReply,
  type MasterRequest,
  type ShardAck,
  type ShardPush,
  type StatusReply,
  type StatusRequest,
  type StoreMessage,
} from './messages.js'
import { Replica } from './replica.js'
import { ViewPublisher } from './view-publisher.js'
import type { Config } from './shard-config.js'
import { isWellFormedConfig, StorageState, type StorageOp, type StorageResult, type StorageStateOptions } from './storage-state.js'

export const DEFAULT_POLL_INTERVAL_MS = 50
/** Resending a whole shard is costly, so pushes are retried less often than the master is polled. */
export const DEFAULT_PUSH_RETRY_MS = 200
/** One Paxos tick: elections after 10..20 ticks of silence (100..200 ms), heartbeats every 2. */
export const DEFAULT_TICK_MS = 10
/**
 * Fewest slots between snapshots. A snapshot encodes and stores the whole
 * group's data, so the Replica also waits until the log has outgrown the
 * last snapshot; accepted slots are persisted one key each.
 */
export const DEFAULT_SNAPSHOT_EVERY = 128
/**
 * Slots a leader keeps in flight. Few: a leader opens a slot at every turn
 * of its loop that brought proposals, so a wide window sends many small
 * slots, each waking both followers; with two, proposals that arrive while
 * they are out wait for an acknowledgement and go together (the batch grows
 * with the load). The 50/50 benchmark ran 34-35k ops/s at 8 and 37-42k at
 * 1 or 2 over three interleaved rounds on the 2-core development VM.
 */
export const DEFAULT_INFLIGHT_SLOTS = 2
/**
 * Proposals a leader queues while its slots are out; past it a request is
 * dropped and its client retries. 16 client threads with 256 in flight each
 * fit twice over (the core's default scales with the window instead).
 */
export const DEFAULT_PENDING_COMMANDS = 8192
/** Proposals this node remembers answering; past it the oldest is forgotten (its asker retries). */
export const MAX_PENDING_PROPOSALS = 16_384
/** A retry of a command proposed longer ago than this is proposed again (the first may have been lost with a leadership change). */
const REPROPOSE_AFTER_MS = 1000
/** Roles are reported on every change, and again this often in case a report was lost. */
const ROLE_REPORT_INTERVAL_MS = 1000

/** Paxos settings a deployment or a test may tune; the rest are the core's defaults. */
export type StoragePaxosOptions = Partial<Pick<MultiPaxosOptions<unknown, unknown>, 'snapshotEvery' | 'maxLogSlots' | 'maxBatch' | 'maxInflightSlots'>>

export interface StorageNodeArgs {
  readonly gid: number
  readonly shards: number
  /** Every shard-master replica's actor id. */
  readonly masters: readonly string[]
  readonly maxKeyBytes: number
  readonly maxValueBytes: number
  /** Every node of this group, this one included (1..7). Default: this node alone. */
  readonly members?: readonly string[]
  /** Length of one Paxos tick. Default DEFAULT_TICK_MS. */
  readonly tickMs?: number
  /** Actor or endpoint told of this node's role (RoleReport); none by default. */
  readonly roleObserver?: string
  /** Default: snapshotEvery DEFAULT_SNAPSHOT_EVERY, maxInflightSlots DEFAULT_INFLIGHT_SLOTS, maxPendingCommands DEFAULT_PENDING_COMMANDS, the rest as MultiPaxos. */
  readonly paxos?: StoragePaxosOptions
  /** How often the master is asked for the next configuration. Default DEFAULT_POLL_INTERVAL_MS. */
  readonly pollIntervalMs?: number
  /** How often unacknowledged shard pushes are sent again. Default DEFAULT_PUSH_RETRY_MS. */
  readonly pushRetryMs?: number
}

/** One entry of the group's log: a state operation and, for those answered, who asked. */
export type GroupCommand = StorageOp & { readonly replyTo?: string }

/** The node's own timer message; ignored unless it comes from the node itself. */
interface TickMessage {
  readonly type: 'storage-tick'
}

type NodeMessage = StoreMessage | TickMessage

interface Proposal {
  /** Who to answer when the command commits: the latest to ask for it. */
  replyTo: string | undefined
  readonly proposedAtMs: number
}

/**
 * A lone node cannot meet a rival candidate, so it elects itself after the
 * shortest timeout the options allow (above the heartbeat interval) rather
 * than a randomized 10..20 ticks.
 */
const LONE_NODE_ELECTION = { electionTimeoutMinTicks: 3, electionTimeoutMaxTicks: 3 } as const
const TICK: TickMessage = { type: 'storage-tick' }
/** Configuration number for "the latest" in a Query. */
const LATEST = -1

export class StorageNodeActor implements Actor {
  private state: StorageState
  private readonly stateOptions: StorageStateOptions
  private readonly args: StorageNodeArgs
  private readonly masters: readonly string[]
  private readonly pollIntervalMs: number
  private readonly pushRetryMs: number
  private readonly tickMs: number
  private replicaValue: Replica<GroupCommand, Uint8Array> | undefined
  /**
   * The context of the event being handled. Replica calls the machine's
   * apply() without one, and applying a committed command is when the
   * proposer answers; the context is the same object for the actor's life.
   */
  private ctx: ActorContext | undefined
  /** Commands this node proposed as leader and will answer, by identity (see identityOf); insertion order is age. */
  private readonly pending = new Map<string, Proposal>()
  private masterIndex = 0
  private nextMasterSeq = 1
  /** Seq of the master query awaiting its reply; undefined when none is. */
  private pollSeq: number | undefined
  /** While fresh: the configuration to look at next (LATEST first, then walking back). */
  private probeNum = LATEST
  private lastPushMs = Number.NEGATIVE_INFINITY
  /** Rotates pushes over the receiving group's members until one acks, so one dead member or follower cannot block a hand-off. */
  private pushRound = 0
  /** Per receiving gid, the member that last acked a push: probably its leader. */
  private readonly ackingMember = new Map<number, string>()
  private lastRoleReportMs = Number.NEGATIVE_INFINITY
  /** Mirrors the served state into the read view while this node leads with a lease. */
  private publisher = new ViewPublisher(undefined)

  constructor(args: StorageNodeArgs) {
    this.args = args
    this.stateOptions = { gid: args.gid, shards: args.shards, maxKeyBytes: args.maxKeyBytes, maxValueBytes: args.maxValueBytes }
    this.state = new StorageState(this.stateOptions)
    this.masters = actorIds('masters', args.masters)
    if (args.members !== undefined) actorIds('members', args.members)
    this.pollIntervalMs = positiveMs('pollIntervalMs', args.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS)
    this.pushRetryMs = positiveMs('pushRetryMs', args.pushRetryMs ?? DEFAULT_PUSH_RETRY_MS)
    this.tickMs = positiveMs('tickMs', args.tickMs ?? DEFAULT_TICK_MS)
  }

  start(ctx: ActorContext): void {
    this.ctx = ctx
    this.publisher = new ViewPublisher(ctx.readView)
    this.publisher.start()
    this.replicaValue = new Replica<GroupCommand, Uint8Array>(
      {
        apply: (command) => this.applyCommitted(command),
        snapshot: () => this.state.snapshot(),
        restore: (bytes) => {
          this.state = StorageState.restore(this.stateOptions, bytes)
          this.publisher.invalidate()
        },
      },
      {
        peers: this.args.members ?? [ctx.self],
        tickMs: this.tickMs,
        paxos: { snapshotEvery: DEFAULT_SNAPSHOT_EVERY, maxInflightSlots: DEFAULT_INFLIGHT_SLOTS, maxPendingCommands: DEFAULT_PENDING_COMMANDS, ...(this.isAlone ? LONE_NODE_ELECTION : {}), ...this.args.paxos },
        onRoleChange: (role, roleCtx) => this.onRoleChange(role, roleCtx),
        leaseReads: true,
        flushPerBatch: true,
      },
    )
    this.replicaValue.start(ctx)
    reportRole(ctx, this.args.roleObserver, this.replica.role)
    this.lastRoleReportMs = ctx.now()
    ctx.setTimer(this.pollIntervalMs, TICK)
  }

  receive(message: Message, ctx: ActorContext): void {
    this.ctx = ctx
    if (this.replica.handle(message, ctx)) return
    this.dispatch(message as NodeMessage, ctx)
  }

  /** Group commit: the batch's proposals go into one slot; and whatever else the core has ready is carried out. */
  afterBatch(ctx: ActorContext): void {
    this.ctx = ctx
    // Before the flush sends anything. The lease counts this node among those refusing rivals; a leader that stepped
    // down in this batch (re-campaigning on a nack) may have promised a rival, and that promise must not leave while
    // the view still answers: flush reports the role change (onRoleChange) only after it has sent.
    if (!this.replica.isLeader) this.publisher.invalidate()
    this.replica.flush(ctx)
    this.publisher.publish(this.state, this.replica.localReadsUntil())
  }

  /** An orderly stop (the group left, or the cluster closes): readers stop asking the view. */
  stop(): void {
    this.publisher.invalidate()
  }

  /** This node's Paxos role (for inspection: debugging dumps, tests). */
  get role(): Role {
    return this.replica.role
  }

  /** The state this node has applied, as snapshot bytes (for inspection: equal bytes, equal state). */
  inspect(): Uint8Array {
    return this.state.snapshot()
  }

  private get isAlone(): boolean {
    return this.args.members === undefined || this.args.members.length === 1
  }

  private get replica(): Replica<GroupCommand, Uint8Array> {
    if (this.replicaValue === undefined) throw new ShardKVError('ERR_INVALID_OPTION', 'storage node used before start()')
    return this.replicaValue
  }

  private dispatch(received: NodeMessage, ctx: ActorContext): void {
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
      case 'role':
        return
      default: {
        // Unknown types come from the network, not from our code: drop them rather than crash.
        const unexpected: never = received
        return void unexpected
      }
    }
  }

  // ---- requests: the leader proposes, followers redirect ---------------------------

  private onKv(request: KvRequest, ctx: ActorContext): void {
    if (typeof request.clientId !== 'string' || !Number.isSafeInteger(request.seq)) return
    if (!this.replica.isLeader) {
      // A lone node is electing itself and has nobody to redirect to: its asker's retry finds it leading.
      if (this.isAlone) return
      const hint = this.replica.leaderHint
      const reply: KvReply = { type: 'kvr', seq: request.seq, status: 'not_leader', configNum: this.state.configNum, ...(hint === undefined ? {} : { leaderHint: hint }) }
      return sendOrShed(ctx, ctx.sender, reply)
    }
    if (request.op === 'get' && this.replica.canReadLocally()) {
      const reply = this.state.read(request)
      if (reply !== undefined) sendOrShed(ctx, ctx.sender, reply)
      return
    }
    this.propose({ type: 'Kv', request, replyTo: ctx.sender }, ctx)
  }

  private onShardPush(push: ShardPush, ctx: ActorContext): void {
    if (!this.replica.isLeader) return
    // The leader's state is committed state, so a duplicate can be acked from it without a trip through the log.
    const decision = this.state.classifyPush(push)
    if (decision === 'duplicate') {
      const ack: ShardAck = { type: 'shard-ack', configNum: push.configNum, shard: push.shard }
      return sendOrShed(ctx, ctx.sender, ack)
    }
    if (decision === 'install') this.propose({ type: 'InstallShard', push, replyTo: ctx.sender }, ctx)
  }

  private onShardAck(ack: ShardAck, ctx: ActorContext): void {
    if (!this.replica.isLeader || typeof ack !== 'object' || ack === null) return
    const toGid = this.state.handOffTarget(ack.shard)
    if (toGid !== undefined) this.ackingMember.set(toGid, ctx.sender)
    this.propose({ type: 'ShardAcked', ack }, ctx)
  }

  private onStatus(request: StatusRequest, ctx: ActorContext): void {
    if (!Number.isSafeInteger(request.seq)) return
    const reply: StatusReply = { type: 'statusr', seq: request.seq, ...this.state.status(), role: this.replica.role }
    sendOrShed(ctx, ctx.sender, reply)
  }

  private onTick(ctx: ActorContext): void {
    if (ctx.sender !== ctx.self) return
    ctx.setTimer(this.pollIntervalMs, TICK)
    if (ctx.now() - this.lastRoleReportMs >= ROLE_REPORT_INTERVAL_MS) this.reportRoleNow(ctx)
    if (!this.replica.isLeader) return
    // Unanswered since the last tick: that master may be down; try the next one.
    if (this.pollSeq !== undefined) this.masterIndex = (this.masterIndex + 1) % this.masters.length
    this.poll(ctx)
    if (ctx.now() - this.lastPushMs >= this.pushRetryMs) this.sendPushes(ctx)
  }

  private onMasterReply(reply: MasterReply, ctx: ActorContext): void {
    if (!this.replica.isLeader) return
    const isAwaited = reply.seq === this.pollSeq
    if (reply.result === undefined) return isAwaited ? this.redirectPoll(reply.leaderHint, ctx) : undefined
    if (isAwaited) this.pollSeq = undefined
    if (typeof reply.result !== 'object' || reply.result === null || reply.result.type !== 'Config') return
    const { config } = reply.result
    if (!isWellFormedConfig(config, this.state.shardCount)) return
    if (!this.state.isStarted) {
      // Probing acts on the awaited reply only: a stale or duplicated one must not start a second walk.
      if (isAwaited) this.probe(config, ctx)
      return
    }
    if (config.num === this.state.configNum + 1 && this.state.isSettled) this.propose({ type: 'Reconfigure', config }, ctx)
  }

  private probe(config: Config, ctx: ActorContext): void {
    if (Object.hasOwn(config.groups, this.state.gid)) {
      this.probeNum = config.num - 1
      this.poll(ctx)
    } else {
      this.propose({ type: 'Start', config }, ctx)
    }
  }

  /**
   * Queues `command` for the log, remembering to answer it, unless the same
   * command is already on its way (a client's or a pusher's retry): then
   * only who to answer changes.
   */
  private propose(command: GroupCommand, ctx: ActorContext): void {
    const identity = identityOf(command)
    const earlier = this.pending.get(identity)
    if (earlier !== undefined && ctx.now() - earlier.proposedAtMs < REPROPOSE_AFTER_MS) {
      earlier.replyTo = command.replyTo
      return
    }
    // 'overloaded': dropped unanswered, and the asker retries; 'not_leader' cannot be, we checked.
    if (this.replica.propose(command) !== 'queued') return
    this.pending.delete(identity)
    this.pending.set(identity, { replyTo: command.replyTo, proposedAtMs: ctx.now() })
    if (this.pending.size > MAX_PENDING_PROPOSALS) this.pending.delete(this.pending.keys().next().value!)
  }

  // ---- the replicated state machine ----------------------------------------------

  /** Every node applies every committed command; the one that proposed it answers. */
  private applyCommitted(command: GroupCommand): void {
    const ctx = this.ctx!
    const wasSettled = this.state.isSettled
    const result = this.state.apply(command)
    // Before the answer: a client that saw its write acknowledged may read the view next.
    this.publisher.applied(this.state, command)
    const identity = identityOf(command)
    const proposal = this.pending.get(identity)
    if (proposal !== undefined) {
      this.pending.delete(identity)
      this.answer(result, proposal.replyTo, ctx)
    }
    if (this.replica.isLeader) this.followUp(result, wasSettled, ctx)
  }

  private answer(result: StorageResult, replyTo: string | undefined, ctx: ActorContext): void {
    if (replyTo === undefined) return
    if (result.type === 'Kv' && result.reply !== undefined) sendOrShed(ctx, replyTo, result.reply)
    if (result.type === 'InstallShard' && result.ack !== undefined) sendOrShed(ctx, replyTo, result.ack)
  }

  /** The leader's next steps once the group moved: push what it now hands off, ask for the next configuration. */
  private followUp(result: StorageResult, wasSettled: boolean, ctx: ActorContext): void {
    const stepped = (result.type === 'Start' || result.type === 'Reconfigure') && result.applied
    if (result.type === 'Reconfigure' && result.applied) this.sendPushes(ctx)
    if ((stepped || !wasSettled) && this.state.isSettled) this.poll(ctx)
  }

  private onRoleChange(role: Role, ctx: ActorContext): void {
    this.reportRoleNow(ctx)
    if (role === 'leader') {
      // A new leader takes over the group's duties at once rather than a tick later.
      this.pollSeq = undefined
      this.poll(ctx)
      this.sendPushes(ctx)
      return
    }
    this.publisher.invalidate()
    // Whatever we proposed may still commit under the next leader; its askers retry and the duplicate table answers.
    this.pending.clear()
    this.pollSeq = undefined
  }

  private reportRoleNow(ctx: ActorContext): void {
    reportRole(ctx, this.args.roleObserver, this.replica.role)
    this.lastRoleReportMs = ctx.now()
  }

  // ---- the leader's duties ----------------------------------------------------------

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
    const targets = new Map<number, string>()
    for (const { toGid, members, push } of pushes) {
      const target = targets.get(toGid) ?? this.pushTarget(toGid, members)
      targets.set(toGid, target)
      sendOrShed(ctx, target, push)
    }
    this.pushRound++
    this.lastPushMs = ctx.now()
  }

  /** The member that acked last (probably its leader) gets one round; if it stays silent, rounds rotate over the members. */
  private pushTarget(toGid: number, members: readonly string[]): string {
    const acking = this.ackingMember.get(toGid)
    this.ackingMember.delete(toGid)
    return acking !== undefined && members.includes(acking) ? acking : members[this.pushRound % members.length]!
  }

  /**
   * The awaited query was answered without a result: that master does not
   * lead. The query counts as answered (pollSeq cleared), or the next tick
   * would take it for a dead master and rotate away from the leader just
   * named, and a group could ask the same follower forever. With a hint we
   * ask the leader at once; without one (an election is under way) the next
   * tick asks the next master.
   */
  private redirectPoll(leaderHint: string | undefined, ctx: ActorContext): void {
    this.pollSeq = undefined
    const index = leaderHint === undefined ? -1 : this.masters.indexOf(leaderHint)
    if (index < 0 || index === this.masterIndex) {
      this.masterIndex = (this.masterIndex + 1) % this.masters.length
      return
    }
    this.masterIndex = index
    this.poll(ctx)
  }
}

/** Which proposals are the same command: a retry has the identity of its first attempt. */
function identityOf(command: GroupCommand): string {
  switch (command.type) {
    case 'Kv':
      return `kv ${command.request.clientId} ${command.request.seq}`
    case 'Start':
      return 'start'
    case 'Reconfigure':
      return `reconfigure ${command.config.num}`
    case 'InstallShard':
      return `install ${command.push.configNum} ${command.push.shard}`
    case 'ShardAcked':
      return `acked ${command.ack.configNum} ${command.ack.shard}`
    default: {
      const never: never = command
      return String(never)
    }
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
