/**
 * Hosts a Multi-Paxos replica inside an actor: the glue between the pure
 * consensus core (src/paxos) and the actor context. The actor keeps its own
 * state machine and gives the replica three callbacks; the replica restores
 * itself from stable storage on start, drives the core's ticks with a timer,
 * and after every event carries out `ready()` in the order the core requires:
 *
 * 1. store an installed snapshot (and hand it to the machine);
 * 2. store the acceptor state (safety: a restarted acceptor must remember
 *    what it promised and accepted, see AcceptorState);
 * 3. send the messages;
 * 4. apply committed commands, in order;
 * 5. snapshot the machine when the core says one is due and it is worth
 *    its cost (see snapshotWorthwhile), storing it before the core
 *    truncates the log it covers.
 *
 * Amnesia is handled by stable storage that outlives the worker (the
 * ActorSystem owns it), not by VR-style recovery.
 */
import { assert } from '../errors.js'
import type { ActorContext, Message } from '../runtime/actor.js'
import { codec } from '../runtime/codec.js'
import { sendOrShed } from './messages.js'
import {
  DEFAULT_ELECTION_TIMEOUT_MIN_TICKS,
  isPaxosMessage,
  MultiPaxos,
  ZERO_BALLOT,
  type AcceptedEntry,
  type AcceptorState,
  type Ballot,
  type MultiPaxosOptions,
  type PaxosMessage,
  type ProposeResult,
  type Ready,
  type Role,
  type Snapshot,
} from '../paxos/index.js'

interface PersistedHeader {
  readonly promised: Ballot
  readonly snapshotIndex: number
}

export interface ReplicatedMachine<C, S> {
  /** Applies one committed command; `index` is the log slot (commands of one slot share it). */
  apply(command: C, index: number): void
  /** The machine's state now, as plain data the codec can encode (a copy). */
  snapshot(): S
  /** Replaces the machine's state with a snapshot (restart, or a leader's snapshot transfer). */
  restore(snapshot: S): void
}

export interface ReplicaOptions<C, S> {
  /** Every replica of the group, this one included. */
  readonly peers: readonly string[]
  /** How often the core ticks; election timeouts and heartbeats are counted in ticks. */
  readonly tickMs: number
  readonly paxos?: Partial<MultiPaxosOptions<C, S>>
  /** Called when this replica's role changes (leader elected, stepped down). */
  readonly onRoleChange?: (role: Role, ctx: ActorContext) => void
  /** Leader leases, so that canReadLocally() can say yes (see MultiPaxos.canReadLocally). Default false. */
  readonly leaseReads?: boolean
  /**
   * When true, handle() leaves the core's output to the actor's own flush()
   * call, once per batch of messages (Actor.afterBatch): every proposal of
   * the batch goes into one slot, and one accept, one persist and one
   * doorbell serve them all. Default false: flush after every message.
   */
  readonly flushPerBatch?: boolean
}

/** The promised ballot and snapshot index; each accepted slot has a key of its own (SLOT_PREFIX + slot). */
const ACCEPTOR_KEY = 'replica/acceptor'
const SLOT_PREFIX = 'replica/slot/'
const SNAPSHOT_KEY = 'replica/snapshot'
const TICK_TYPE = 'replica.tick'
/**
 * Log bytes per snapshot byte before the next snapshot (see snapshotWorthwhile).
 * With the bench's 10k records a group snapshots about every 280 slots at 1;
 * above ~1.8 the slot bound decides (every 512), and the 50/50 workload ran
 * about 5% faster (two interleaved runs each of 1 and 3).
 */
const SNAPSHOT_LOG_RATIO = 2
/** ready() rounds per event: each round can unlock only a bounded amount of new work. */
const MAX_READY_ROUNDS = 16

export class Replica<C, S> {
  private core: MultiPaxos<C, S> | undefined
  private appliedIndex = 0
  private lastRole: Role = 'follower'
  /** What stable storage holds per slot, by identity of the core's entry objects (see persist). */
  private readonly persistedSlots = new Map<number, AcceptedEntry<C>>()
  /** Encoded size of the last stored snapshot, and of the slots persisted since it (see snapshotWorthwhile). */
  private snapshotBytes = 0
  private loggedBytes = 0

  constructor(
    private readonly machine: ReplicatedMachine<C, S>,
    private readonly options: ReplicaOptions<C, S>,
  ) {}

  get role(): Role {
    return this.core?.role ?? 'follower'
  }

  get isLeader(): boolean {
    return this.core?.isLeader ?? false
  }

  get leaderHint(): string | undefined {
    return this.core?.leaderHint
  }

  /** Restores acceptor state and snapshot from stable storage and starts ticking. */
  start(ctx: ActorContext): void {
    const acceptor = this.loadAcceptor(ctx)
    const snapshotBytes = ctx.storage.get(SNAPSHOT_KEY)
    const snapshot = snapshotBytes === undefined ? undefined : (codec.decodeValue(snapshotBytes) as Snapshot<S>)
    this.snapshotBytes = snapshotBytes?.length ?? 0
    if (snapshot !== undefined) {
      this.machine.restore(snapshot.snapshot)
      this.appliedIndex = snapshot.index
    }
    const leaseMs = this.options.leaseReads === true ? leaseDurationMs(this.options) : undefined
    this.core = new MultiPaxos<C, S>({
      ...this.options.paxos,
      self: ctx.self,
      peers: this.options.peers,
      random: () => ctx.random(),
      restored: { acceptor, ...(snapshot === undefined ? {} : { snapshot }) },
      ...(leaseMs === undefined ? {} : { lease: { now: () => ctx.now(), durationMs: leaseMs } }),
    })
    ctx.setTimer(this.options.tickMs, { type: TICK_TYPE })
  }

  /** Takes the replica's own messages (ticks, Paxos traffic); false for anything else, which is the actor's. */
  handle(message: Message, ctx: ActorContext): boolean {
    const core = this.started()
    if (message.type === TICK_TYPE) {
      if (ctx.sender !== ctx.self) return true
      core.tick()
      ctx.setTimer(this.options.tickMs, { type: TICK_TYPE })
    } else if (isPaxosMessage(message)) {
      core.step(ctx.sender, message as PaxosMessage<C, S>)
    } else {
      return false
    }
    if (this.options.flushPerBatch !== true) this.flush(ctx)
    return true
  }

  /** True when this leader may answer a read from the machine's state as it is (a lease; see MultiPaxos.canReadLocally). */
  canReadLocally(): boolean {
    return this.started().canReadLocally(this.appliedIndex)
  }

  /** Until when (ctx.now() time) canReadLocally stays true if nothing else happens; -Infinity when it is false. */
  localReadsUntil(): number {
    return this.started().localReadsUntil(this.appliedIndex)
  }

  /** Queues `command` for the next slot (group commit); call `flush` once the event's proposals are in. */
  propose(command: C): ProposeResult {
    return this.started().propose(command)
  }

  /** Carries out what the core is ready to do. */
  flush(ctx: ActorContext): void {
    const core = this.started()
    for (let round = 0; round < MAX_READY_ROUNDS && core.hasReady(); round++) this.carryOut(core.ready(), ctx)
    if (core.role !== this.lastRole) {
      this.lastRole = core.role
      this.options.onRoleChange?.(core.role, ctx)
    }
  }

  private carryOut(ready: Ready<C, S>, ctx: ActorContext): void {
    if (ready.snapshotToInstall !== undefined) {
      this.storeSnapshot(ready.snapshotToInstall, ctx)
      this.machine.restore(ready.snapshotToInstall.snapshot)
      this.appliedIndex = ready.snapshotToInstall.index
    }
    if (ready.persist !== undefined) this.persist(ready.persist, ctx)
    // Paxos retransmits what is lost, so a message the transport refuses (overload) is shed, not fatal.
    for (const { to, message } of ready.messages) sendOrShed(ctx, to, message)
    for (const slot of ready.committed) {
      assert(slot.index === this.appliedIndex + 1, `${ctx.self}: slot ${slot.index} committed after ${this.appliedIndex}`)
      for (const command of slot.commands) this.machine.apply(command, slot.index)
      this.appliedIndex = slot.index
    }
    const core = this.started()
    if (core.snapshotDue && this.snapshotWorthwhile(core, ctx)) {
      const snapshot: Snapshot<S> = { index: this.appliedIndex, snapshot: this.machine.snapshot() }
      // Stored before the core drops the slots it covers (and before the next acceptor state says so).
      this.storeSnapshot(snapshot, ctx)
      core.advanceSnapshot(snapshot.index, snapshot.snapshot)
    }
  }

  /**
   * A snapshot costs as much as the whole state, however little changed, so
   * it waits until the log it replaces has grown to SNAPSHOT_LOG_RATIO times
   * the last one: then snapshots cost at most one encoded byte per
   * SNAPSHOT_LOG_RATIO bytes logged, whether the state is tiny or holds
   * millions of keys. Half the log's slot bound forces one anyway, so the log
   * never fills while the state is large and the writes are small; and so
   * does stable storage half full, so that the log never fills it either
   * (a slot that does not fit there would crash this replica, and again
   * after every restart, before it could snapshot).
   */
  private snapshotWorthwhile(core: MultiPaxos<C, S>, ctx: ActorContext): boolean {
    return (
      this.loggedBytes >= SNAPSHOT_LOG_RATIO * this.snapshotBytes ||
      2 * core.logSize >= core.maxLogSlots ||
      2 * ctx.storage.liveBytes >= ctx.storage.capacityBytes
    )
  }

  private storeSnapshot(snapshot: Snapshot<S>, ctx: ActorContext): void {
    const bytes = codec.encodeValueBorrowed(snapshot)
    ctx.storage.set(SNAPSHOT_KEY, bytes)
    this.snapshotBytes = bytes.length
    this.loggedBytes = 0
  }

  /**
   * Writes only what changed since the last persist: the core hands over its
   * whole acceptor state each time, and rewriting every accepted slot would
   * make each write cost as much as the log is long. The core replaces an
   * entry object whenever a slot is (re)accepted, so identity tells what
   * changed. Order matters for a crash in the middle: new slots first, then
   * the header (promise, snapshot index), then the slots the snapshot now
   * covers are deleted; a reader ignores slots at or below the snapshot index.
   * A crash before the header leaves accepted slots that were never
   * acknowledged, which is as safe as accepting and crashing before replying.
   */
  private persist(state: AcceptorState<C>, ctx: ActorContext): void {
    const live = new Set<number>()
    for (const [slot, entry] of state.accepted) {
      live.add(slot)
      if (this.persistedSlots.get(slot) === entry) continue
      // Stable storage copies what it is given, so the codec's scratch will do.
      const bytes = codec.encodeValueBorrowed(entry)
      ctx.storage.set(SLOT_PREFIX + slot, bytes)
      this.persistedSlots.set(slot, entry)
      this.loggedBytes += bytes.length
    }
    const header: PersistedHeader = { promised: state.promised, snapshotIndex: state.snapshotIndex }
    ctx.storage.set(ACCEPTOR_KEY, codec.encodeValueBorrowed(header))
    for (const slot of this.persistedSlots.keys()) {
      if (live.has(slot)) continue
      ctx.storage.delete(SLOT_PREFIX + slot)
      this.persistedSlots.delete(slot)
    }
  }

  private loadAcceptor(ctx: ActorContext): AcceptorState<C> {
    const headerBytes = ctx.storage.get(ACCEPTOR_KEY)
    if (headerBytes === undefined) return { promised: ZERO_BALLOT, snapshotIndex: 0, accepted: [] }
    const header = codec.decodeValue(headerBytes) as PersistedHeader
    const accepted: [number, AcceptedEntry<C>][] = []
    for (const key of ctx.storage.keys()) {
      if (!key.startsWith(SLOT_PREFIX)) continue
      const slot = Number(key.slice(SLOT_PREFIX.length))
      const bytes = ctx.storage.get(key)!
      if (slot <= header.snapshotIndex) {
        ctx.storage.delete(key)
        continue
      }
      const entry = codec.decodeValue(bytes) as AcceptedEntry<C>
      accepted.push([slot, entry])
      this.persistedSlots.set(slot, entry)
      this.loggedBytes += bytes.length
    }
    accepted.sort((a, b) => a[0] - b[0])
    return { promised: header.promised, snapshotIndex: header.snapshotIndex, accepted }
  }

  private started(): MultiPaxos<C, S> {
    assert(this.core !== undefined, 'replica used before start()')
    return this.core
  }
}

/**
 * The lease the host may claim (LeaseOptions): a follower refuses other
 * candidates for at least (electionTimeoutMinTicks - 1) tick lengths after
 * hearing the leader; one tick less again is the margin. Undefined (no
 * lease) when the election timeout is too short to leave one.
 */
function leaseDurationMs<C, S>(options: ReplicaOptions<C, S>): number | undefined {
  const minTicks = options.paxos?.electionTimeoutMinTicks ?? DEFAULT_ELECTION_TIMEOUT_MIN_TICKS
  return minTicks > 2 ? (minTicks - 2) * options.tickMs : undefined
}
