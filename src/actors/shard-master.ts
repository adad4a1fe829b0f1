/**
 * The shard-master actor: one replica of the replicated configuration
 * service. ShardMasterState is the state machine; a Multi-Paxos log (hosted
 * by Replica) orders every mutation, so every replica applies the same ops in
 * the same order. A Query is answered by a leader holding a lease from its
 * applied state at once, and otherwise goes through the log like the rest;
 * either way it reads the latest committed configuration (linearizable; the
 * argument is in MultiPaxos.canReadLocally).
 *
 * Request path:
 * - the leader proposes the op as a command carrying (op, replyTo, seq) and
 *   the proposal's identity; every replica applies it when it commits, and
 *   only the replica that proposed it, in the same incarnation, answers
 *   `replyTo`, so a client gets one reply per attempt however many replicas
 *   apply it;
 * - a replica that knows another leader answers `{ seq, leaderHint }`
 *   without a result, and the client retries there;
 * - a replica that knows no leader (an election is under way) parks the
 *   request for at most one election timeout rather than bounce the client
 *   around the ring, then serves it as above, or answers without a hint
 *   (the client moves on to the next replica).
 *
 * A proposal can be lost when its leader loses leadership before it
 * commits. Nobody answers it; the client times out and retries under the
 * same requestId, and ShardMasterState's duplicate detection keeps Join,
 * Leave and Move at most once even if the first copy did commit after all.
 *
 * Amnesia: the acceptor state and the snapshots live in stable storage
 * (Replica), so a restarted replica never breaks a promise and catches up
 * from its snapshot, the log and its peers. This actor adds one stable key:
 * its incarnation number, which makes proposal identities unique across
 * restarts (a command proposed by a previous incarnation that commits after
 * the restart must not be mistaken for a new one and answered to the wrong
 * request).
 *
 * A malformed request (not an op object, or no integer seq to answer under)
 * is dropped: the state machine answers bad arguments inside a well-formed
 * op with an Error result, but must never be handed a shape it would throw on
 * (it would throw on every replica that applies it).
 */
import { assert, AssertionError, ShardKVError } from '../errors.js'
import type { MultiPaxosOptions, Role } from '../paxos/index.js'
import { MAX_REPLICAS } from '../paxos/index.js'
import { resolveOptions } from '../paxos/options.js'
import type { Actor, ActorContext, Message } from '../runtime/actor.js'
import { codec } from '../runtime/codec.js'
import { reportRole, sendOrShed, type MasterReply, type MasterRequest } from './messages.js'
import { Replica } from './replica.js'
import { ShardMasterState, type MasterOp, type MasterResult, type ShardMasterSnapshot } from './shard-master-state.js'

/** Paxos options the master lets its owner tune (times in ticks, bounds in counts). */
export type MasterPaxosOptions = Partial<Omit<MultiPaxosOptions<MasterCommand, ShardMasterSnapshot>, 'self' | 'peers' | 'random' | 'restored'>>

export interface ShardMasterArgs {
  /** The cluster's shard count: 1..4096. */
  readonly shards: number
  /** Every shard-master replica's actor id, this one included: 1..7 distinct ids, an odd count. */
  readonly replicas: readonly string[]
  /** Milliseconds per Paxos tick. Default DEFAULT_MASTER_TICK_MS (10). */
  readonly tickMs?: number
  /** Overrides MASTER_PAXOS_DEFAULTS (or SOLO_PAXOS_TIMING for a single replica). */
  readonly paxos?: MasterPaxosOptions
  /** Actor or endpoint told of this replica's role (RoleReport) on start, on every change and every ROLE_REPORT_INTERVAL_MS; none by default. */
  readonly roleObserver?: string
}

/** One log entry: the op and who to answer, and which proposal it is. */
export interface MasterCommand {
  readonly op: MasterOp
  readonly replyTo: string
  readonly seq: number
  readonly proposer: string
  readonly incarnation: number
  readonly proposal: number
}

export const DEFAULT_MASTER_TICK_MS = 10
/** A role report can be lost like any message: it is repeated this often. */
const ROLE_REPORT_INTERVAL_MS = 1000
const MAX_TICK_MS = 1000

/**
 * With 10 ms ticks: elections after 100..200 ms of silence, heartbeats every
 * 20 ms. Configuration traffic is light (queries from polling groups and
 * clients, rare mutations), so batches and the log are kept small: a
 * snapshot every 64 slots keeps the stored acceptor state (rewritten on
 * every accept) small, and a lagging replica gets a snapshot instead.
 */
export const MASTER_PAXOS_DEFAULTS: MasterPaxosOptions = {
  electionTimeoutMinTicks: 10,
  electionTimeoutMaxTicks: 20,
  heartbeatTicks: 2,
  maxBatch: 64,
  maxInflightSlots: 8,
  snapshotEvery: 64,
  maxLogSlots: 256,
}

/**
 * A lone replica has nobody to collide with, so randomized timeouts buy
 * nothing: it elects itself on its second tick, and a single-replica cluster
 * serves almost at once after a (re)start.
 */
const SOLO_PAXOS_TIMING: MasterPaxosOptions = { electionTimeoutMinTicks: 2, electionTimeoutMaxTicks: 2, heartbeatTicks: 1 }

/** Proposals awaiting their commit; above maxPendingCommands plus a full pipeline at the defaults. Past it: ERR_OVERLOADED. */
const MAX_PENDING_PROPOSALS = 4096
/**
 * A proposal that has not committed after this long was lost in a change of
 * leadership the role callback did not report; its client (whose longest
 * attempt is 2 s) has long since retried. Forgetting it keeps the pending map
 * from filling up with the dead.
 */
const PENDING_EXPIRY_MS = 10_000
/** Requests parked while no leader is known; past it a request is answered at once without a hint. */
const MAX_PARKED_REQUESTS = 1024

const INCARNATION_KEY = 'master/incarnation'
const OP_TYPES: ReadonlySet<string> = new Set<MasterOp['type']>(['Join', 'Leave', 'Move', 'Query'])

interface ClientRequest {
  readonly op: MasterOp
  readonly seq: number
  readonly replyTo: string
}

interface ParkedRequest {
  readonly request: ClientRequest
  readonly parkedAtMs: number
}

export class ShardMasterActor implements Actor {
  private state: ShardMasterState
  private readonly replicas: readonly string[]
  private readonly replica: Replica<MasterCommand, ShardMasterSnapshot>
  private readonly parkLimitMs: number
  private readonly roleObserver: string | undefined
  private lastRoleReportMs = 0
  private self = ''
  private incarnation = 0
  private nextProposal = 0
  /** Proposal number -> when it was proposed; insertion order is age order. At most MAX_PENDING_PROPOSALS. */
  private readonly pending = new Map<number, number>()
  /** Oldest first; at most MAX_PARKED_REQUESTS. */
  private parked: ParkedRequest[] = []
  /** Replies produced while applying (the machine callbacks have no ctx); sent at the end of the event. */
  private outbox: { readonly to: string; readonly reply: MasterReply }[] = []

  constructor(args: ShardMasterArgs) {
    this.replicas = validReplicas(args.replicas)
    const tickMs = validTickMs(args.tickMs ?? DEFAULT_MASTER_TICK_MS)
    const paxos = { ...MASTER_PAXOS_DEFAULTS, ...(this.replicas.length === 1 ? SOLO_PAXOS_TIMING : {}), ...args.paxos }
    // Resolved here, not first in start(), so that a bad option fails the spawn and names itself; `self` is checked in start().
    const resolved = resolveOptions<MasterCommand, ShardMasterSnapshot>({ ...paxos, self: this.replicas[0]!, peers: this.replicas, random: () => 0 })
    this.parkLimitMs = resolved.electionTimeoutMaxTicks * tickMs
    this.roleObserver = args.roleObserver
    this.state = new ShardMasterState({ shards: args.shards })
    this.replica = new Replica<MasterCommand, ShardMasterSnapshot>(
      {
        apply: (command) => this.applyCommitted(command),
        snapshot: () => this.state.snapshot(),
        restore: (snapshot) => {
          this.state = ShardMasterState.restore(snapshot)
        },
      },
      { peers: this.replicas, tickMs, paxos, onRoleChange: (role, ctx) => this.onRoleChange(role, ctx), leaseReads: true },
    )
  }

  /** This replica's Paxos role (for inspection: debugging dumps, tests). */
  get role(): Role {
    return this.replica.role
  }

  /** A copy of the configuration state this replica has applied (for inspection: debugging dumps, tests). */
  inspect(): ShardMasterSnapshot {
    return this.state.snapshot()
  }

  start(ctx: ActorContext): void {
    assert(this.replicas.includes(ctx.self), `shard master "${ctx.self}" is not in its replica list ${JSON.stringify(this.replicas)}`)
    this.self = ctx.self
    this.incarnation = nextIncarnation(ctx)
    this.replica.start(ctx)
    this.reportRoleNow(ctx)
  }

  receive(message: Message, ctx: ActorContext): void {
    if (!this.replica.handle(message, ctx)) {
      if (message.type !== 'master') return
      const { seq, op } = message as MasterRequest
      if (!Number.isSafeInteger(seq) || !isMasterOp(op)) return
      this.serve({ op, seq, replyTo: ctx.sender }, ctx.now())
    }
    this.finishEvent(ctx)
  }

  /** Housekeeping, then the proposals of this event go out and the replies it produced are sent. */
  private finishEvent(ctx: ActorContext): void {
    const nowMs = ctx.now()
    if (nowMs - this.lastRoleReportMs >= ROLE_REPORT_INTERVAL_MS) this.reportRoleNow(ctx)
    this.expirePending(nowMs)
    this.releaseParked(nowMs)
    this.replica.flush(ctx)
    const outbox = this.outbox
    this.outbox = []
    // The requester retries an unanswered request (mutations under their request id), so a refused reply is only lost.
    for (const { to, reply } of outbox) sendOrShed(ctx, to, reply)
  }

  private serve(request: ClientRequest, nowMs: number): void {
    // A Query changes nothing: a leader holding a lease answers it from its state (MultiPaxos.canReadLocally).
    if (request.op.type === 'Query' && this.replica.canReadLocally()) return this.answer(request, { result: this.state.apply(request.op) })
    if (this.replica.isLeader) return this.propose(request, nowMs)
    const leader = this.knownOtherLeader()
    if (leader !== undefined) return this.answer(request, { leaderHint: leader })
    this.park(request, nowMs)
  }

  private propose(request: ClientRequest, nowMs: number): void {
    if (this.pending.size >= MAX_PENDING_PROPOSALS) return this.answerOverloaded(request)
    const proposal = this.nextProposal++
    const command: MasterCommand = { ...request, proposer: this.self, incarnation: this.incarnation, proposal }
    const outcome = this.replica.propose(command)
    switch (outcome) {
      case 'queued':
        this.pending.set(proposal, nowMs)
        return
      case 'overloaded':
        return this.answerOverloaded(request)
      case 'not_leader':
        throw new AssertionError('the core refused a proposal while this replica leads')
      default:
        return unreachable(outcome)
    }
  }

  private park(request: ClientRequest, nowMs: number): void {
    if (this.parked.length >= MAX_PARKED_REQUESTS) return this.answer(request, {})
    this.parked.push({ request, parkedAtMs: nowMs })
  }

  /** Serves parked requests once a leader is known; answers those parked for a whole election timeout without a hint. */
  private releaseParked(nowMs: number): void {
    if (this.parked.length === 0) return
    if (this.replica.isLeader || this.knownOtherLeader() !== undefined) {
      const parked = this.parked
      this.parked = []
      for (const { request } of parked) this.serve(request, nowMs)
      return
    }
    let expired = 0
    while (expired < this.parked.length && nowMs - this.parked[expired]!.parkedAtMs >= this.parkLimitMs) expired++
    for (const { request } of this.parked.splice(0, expired)) this.answer(request, {})
  }

  private applyCommitted(command: MasterCommand): void {
    const result = this.state.apply(command.op)
    const ours = command.proposer === this.self && command.incarnation === this.incarnation
    if (ours && this.pending.delete(command.proposal)) this.answer(command, { result })
  }

  /** A leader that stepped down will not see its uncommitted proposals through: their clients retry elsewhere. */
  private onRoleChange(role: Role, ctx: ActorContext): void {
    if (role !== 'leader') this.pending.clear()
    this.reportRoleNow(ctx)
  }

  private reportRoleNow(ctx: ActorContext): void {
    reportRole(ctx, this.roleObserver, this.replica.role)
    this.lastRoleReportMs = ctx.now()
  }

  private expirePending(nowMs: number): void {
    for (const [proposal, proposedAtMs] of this.pending) {
      if (nowMs - proposedAtMs < PENDING_EXPIRY_MS) return
      this.pending.delete(proposal)
    }
  }

  /** The leader this replica believes in, unless it is itself (then it does not lead yet: an election is under way). */
  private knownOtherLeader(): string | undefined {
    const hint = this.replica.leaderHint
    return hint === this.self ? undefined : hint
  }

  private answerOverloaded(request: ClientRequest): void {
    this.answer(request, { result: { type: 'Error', code: 'ERR_OVERLOADED', message: 'the shard master has too many requests in progress' } })
  }

  private answer(request: ClientRequest, fields: { readonly result?: MasterResult; readonly leaderHint?: string }): void {
    this.outbox.push({ to: request.replyTo, reply: { type: 'masterr', seq: request.seq, ...fields } })
  }
}

/** Bumps and stores the incarnation number before anything is proposed under it. */
function nextIncarnation(ctx: ActorContext): number {
  const stored = ctx.storage.get(INCARNATION_KEY)
  const incarnation = (stored === undefined ? 0 : (codec.decodeValue(stored) as number)) + 1
  assert(Number.isSafeInteger(incarnation) && incarnation > 0, `stored incarnation is corrupt: ${incarnation}`)
  ctx.storage.set(INCARNATION_KEY, codec.encodeValue(incarnation))
  return incarnation
}

function validReplicas(replicas: unknown): readonly string[] {
  const valid =
    Array.isArray(replicas) &&
    replicas.length >= 1 &&
    replicas.length <= MAX_REPLICAS &&
    replicas.length % 2 === 1 &&
    replicas.every((id) => typeof id === 'string' && id.length > 0) &&
    new Set(replicas).size === replicas.length
  if (!valid) {
    throw new ShardKVError('ERR_INVALID_OPTION', `replicas must be an odd number (1..${MAX_REPLICAS}) of distinct actor ids, got ${JSON.stringify(replicas)}`)
  }
  return [...(replicas as string[])]
}

function validTickMs(tickMs: unknown): number {
  if (!Number.isInteger(tickMs) || (tickMs as number) < 1 || (tickMs as number) > MAX_TICK_MS) {
    throw new ShardKVError('ERR_INVALID_OPTION', `tickMs must be an integer within 1..${MAX_TICK_MS}, got ${String(tickMs)}`)
  }
  return tickMs as number
}

/** Enough shape for ShardMasterState.apply not to throw; it checks the arguments itself. */
function isMasterOp(op: unknown): op is MasterOp {
  if (typeof op !== 'object' || op === null) return false
  const { type, requestId } = op as { type?: unknown; requestId?: unknown }
  return typeof type === 'string' && OP_TYPES.has(type) && (requestId === undefined || (typeof requestId === 'object' && requestId !== null))
}

function unreachable(value: never): never {
  throw new AssertionError(`unexpected variant ${JSON.stringify(value)}`)
}
