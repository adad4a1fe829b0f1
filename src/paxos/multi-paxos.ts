/**
 * Multi-Paxos as a pure, synchronous state machine, in the manner of etcd's
 * raft library: the host feeds it messages (`step`) and clock ticks (`tick`),
 * proposes commands (`propose`), and after each of those asks `ready()` for
 * what to do: state to write to stable storage, messages to send, committed
 * slots to apply. No I/O, no clock, no randomness of its own (election
 * timeouts draw from the injected `random`).
 *
 * Protocol, one replica playing proposer, acceptor and learner:
 *
 * - Phase 1 (election). A replica that hears no leader for a randomized
 *   election timeout takes a ballot (round, self) above every round it has
 *   seen, promises it to itself and sends prepare(ballot, commitIndex). An
 *   acceptor promises a ballot at least its promised one and reports every
 *   slot it holds above the candidate's commit index, each with the ballot it
 *   accepted it at, flagged `chosen` when it knows the slot committed. With
 *   promises from a majority the candidate leads: for each slot above its
 *   commit index it adopts a reported chosen value, else the value reported
 *   with the highest ballot, else a no-op (a gap), and re-proposes all of
 *   them at its own ballot.
 * - Phase 2 (stable leader). Commands queue at the leader and go out in one
 *   slot per batch (group commit) when the host calls ready(); up to
 *   maxInflightSlots slots are in flight at once (pipelining). A slot commits
 *   when a majority accepted it at the leader's ballot; the commit index
 *   rides on accepts and heartbeats. A follower commits a slot when the
 *   entry it holds there was accepted at the leader's current ballot (so it
 *   is the leader's value); anything else it gets by catch-up.
 * - Catch-up. A follower whose log cannot take it to the commit index a
 *   heartbeat carries asks for the chosen values (catch-up-request); it gets
 *   them in chunks, or the snapshot when the slots it needs are truncated.
 *   Chosen values need no ballot: any replica may send them, to anyone.
 *
 * Stability. An acceptor that heard the leader within the minimum election
 * timeout ignores prepares from other replicas, so a replica rejoining after
 * a partition with a high round does not depose a healthy leader; refusing to
 * promise is always safe. A leader that hears from no majority for an
 * election timeout steps down, so its leader hint does not mislead clients.
 *
 * Leases (optional, `lease` option): a leader may answer reads from its own
 * state while a majority has recently acknowledged its heartbeats; see
 * canReadLocally for the argument.
 *
 * Safety rests on the acceptor state the host persists before it sends
 * anything (see AcceptorState in options.ts for which state and why): a
 * replica restarted from it never breaks a promise, never reuses a ballot
 * and never forgets an accepted value.
 */
import { assert } from '../errors.js'
import { type Ballot, ZERO_BALLOT, ballotsEqual, compareBallots, nextBallot } from './ballot.js'
import { PaxosLog } from './log.js'
import type {
  AcceptMessage,
  AcceptedEntry,
  AcceptedMessage,
  CatchUpMessage,
  HeartbeatMessage,
  HeartbeatReplyMessage,
  NackMessage,
  PaxosMessage,
  PrepareMessage,
  PromiseMessage,
  ReportedEntry,
  SnapshotMessage,
} from './messages.js'
import { type AcceptorState, type MultiPaxosOptions, type ResolvedOptions, type Snapshot, resolveOptions } from './options.js'

export type Role = 'follower' | 'candidate' | 'leader'

/** 'queued': in the next batch, not yet committed (it may still be lost if leadership changes; the app retries by request id). */
export type ProposeResult = 'queued' | 'not_leader' | 'overloaded'

export interface OutgoingMessage<C, S> {
  readonly to: string
  readonly message: PaxosMessage<C, S>
}

/** One committed slot; `commands` is empty for a no-op. Indexes arrive contiguous and ascending (a snapshot skips ahead). */
export interface CommittedSlot<C> {
  readonly index: number
  readonly commands: readonly C[]
}

/**
 * What the host must do, in this order:
 * 1. `snapshotToInstall`: replace the application state with it and store it durably;
 * 2. `persist`: write it to stable storage (replacing the previous one);
 * 3. `messages`: send them;
 * 4. `committed`: apply them in order (after a snapshot, they continue from its index).
 * Storing before sending is what makes a promise or an acceptance binding
 * across a crash; storing the snapshot before the acceptor state is what
 * lets the acceptor state drop the slots the snapshot covers.
 */
export interface Ready<C, S> {
  readonly snapshotToInstall?: Snapshot<S>
  readonly persist?: AcceptorState<C>
  readonly messages: readonly OutgoingMessage<C, S>[]
  readonly committed: readonly CommittedSlot<C>[]
}

interface LeaderState<C> {
  readonly ballot: Ballot
  /** Commands waiting for a slot; at most maxPendingCommands. */
  readonly pending: C[]
  nextSlot: number
  /** Replicas that accepted each uncommitted slot at `ballot`; at most maxLogSlots keys. */
  readonly acks: Map<number, Set<string>>
  /** Per other replica, the highest slot sent to it; retransmission lowers it. */
  readonly sentThrough: Map<string, number>
  /** Per other replica, the first slot it had not acknowledged at the last heartbeat (see retransmitFrom). */
  readonly unackedAtHeartbeat: Map<string, number>
  heartbeatElapsedTicks: number
  quorumCheckElapsedTicks: number
  /** Replicas heard since the last quorum check. */
  readonly heardFrom: Set<string>
  /** Per other replica, the send time (leader's clock) of the latest heartbeat it acknowledged at `ballot`. */
  readonly leaseAcks: Map<string, number>
  /** When the lease those acknowledgements give ends (see canReadLocally); kept up to date as they arrive, so a read costs one clock reading. */
  leaseEndsAtMs: number
  /**
   * The last slot re-proposed on election: once it is applied, every write
   * acknowledged by an earlier leader is in our state (phase 1 found it).
   */
  readonly barrier: number
}

/** Ticks since the leader was heard, before it ever was: far above any election timeout. */
const NEVER_HEARD_TICKS = Number.MAX_SAFE_INTEGER

export class MultiPaxos<C, S = unknown> {
  private readonly options: ResolvedOptions<C, S>
  private readonly self: string
  private readonly others: readonly string[]
  private readonly quorum: number

  // Acceptor state: persisted (see AcceptorState).
  private promised: Ballot = ZERO_BALLOT
  private readonly log: PaxosLog<C>

  // Learner state: volatile, rebuilt from peers after a restart.
  private commitIndexValue = 0
  /** Slots handed to the application through ready(); never above commitIndex, never below the snapshot. */
  private emittedIndex = 0
  /** The latest snapshot, kept to bring lagging replicas up to date. */
  private snapshot: Snapshot<S> | undefined
  private pendingSnapshotInstall: Snapshot<S> | undefined

  // Election state: volatile.
  private roleValue: Role = 'follower'
  private leaderId: string | undefined
  private highestRound = 0
  private electionElapsedTicks = 0
  private electionTimeoutTicks: number
  private leaderHeardElapsedTicks = NEVER_HEARD_TICKS
  private candidateBallot: Ballot = ZERO_BALLOT
  private readonly promises = new Map<string, PromiseMessage<C>>()
  private leaderState: LeaderState<C> | undefined

  // Outputs.
  private outbox: OutgoingMessage<C, S>[] = []
  private persistDirty = false
  private elapsedTicks = 0
  /** Ticks since this incarnation started: with leases, it promises nothing for an election timeout (see onPrepare). */
  private startedTicks = 0
  /** Per replica, the tick a snapshot was last sent to it: one per election timeout at most. */
  private readonly snapshotSentAtTick = new Map<string, number>()
  private droppedMessagesCount = 0

  constructor(options: MultiPaxosOptions<C, S>) {
    this.options = resolveOptions(options)
    this.self = this.options.self
    this.others = this.options.peers.filter((peer) => peer !== this.self)
    this.quorum = Math.floor(this.options.peers.length / 2) + 1
    this.log = new PaxosLog<C>(this.options.maxLogSlots)
    this.electionTimeoutTicks = this.randomElectionTimeout()
    if (options.restored !== undefined) this.restore(options.restored.acceptor, options.restored.snapshot)
  }

  get role(): Role {
    return this.roleValue
  }

  get isLeader(): boolean {
    return this.roleValue === 'leader'
  }

  /** The replica this one believes leads (itself included), or undefined while it knows of none. */
  get leaderHint(): string | undefined {
    return this.leaderId
  }

  /** The highest ballot this replica has promised. */
  get promisedBallot(): Ballot {
    return this.promised
  }

  get commitIndex(): number {
    return this.commitIndexValue
  }

  get snapshotIndex(): number {
    return this.log.snapshotIndex
  }

  /** Slots held above the snapshot: at most maxLogSlots. */
  get logSize(): number {
    return this.log.size
  }

  get maxLogSlots(): number {
    return this.options.maxLogSlots
  }

  /** Outgoing messages dropped because the outbox was full (the host did not call ready() often enough). */
  get droppedMessages(): number {
    return this.droppedMessagesCount
  }

  /** True once the app has applied snapshotEvery slots above its last snapshot: it may call advanceSnapshot (and must before the log fills). */
  get snapshotDue(): boolean {
    return this.emittedIndex - this.log.snapshotIndex >= this.options.snapshotEvery
  }

  /**
   * True when this leader may answer a read from its state, applied through
   * `appliedIndex`, without a round through the log: linearizable because no
   * other replica can have committed anything it has not applied.
   *
   * Why. Writes are acknowledged only once committed and applied by the
   * leader that committed them. (1) Writes of earlier leaders: a majority
   * promised our ballot, so phase 1 found every slot they committed, and we
   * re-proposed it at or below `barrier`; once the barrier is applied, they
   * are in our state. (2) Writes of later leaders: a later leader needs
   * promises from a majority. A follower that acknowledged our heartbeat
   * stamped `sentAtMs` heard us after that stamp, and refuses every other
   * candidate for at least (electionTimeoutMinTicks - 1) of its ticks from
   * then (leaderIsFresh), longer in real time than `lease.durationMs` (the
   * host's side: LeaseOptions). A follower restarted in the meantime refuses
   * all candidates for as long (startedTicks). So until the quorum-th most
   * recent stamp (ours is now) plus durationMs, every majority a candidate
   * could win holds a replica refusing it, and no other leader exists that
   * could commit. We never commit without applying before answering, so our
   * state holds every acknowledged write.
   */
  canReadLocally(appliedIndex: number): boolean {
    return this.options.lease !== undefined && this.options.lease.now() < this.localReadsUntil(appliedIndex)
  }

  /**
   * Until when (lease.now() time) canReadLocally stays true if nothing else
   * happens: the lease's end once the barrier is applied, else -Infinity.
   */
  localReadsUntil(appliedIndex: number): number {
    const leader = this.leaderState
    if (leader === undefined || this.options.lease === undefined || appliedIndex < leader.barrier) return Number.NEGATIVE_INFINITY
    return leader.leaseEndsAtMs
  }

  propose(command: C): ProposeResult {
    const leader = this.leaderState
    if (this.roleValue !== 'leader' || leader === undefined) return 'not_leader'
    if (leader.pending.length >= this.options.maxPendingCommands) return 'overloaded'
    leader.pending.push(command)
    return 'queued'
  }

  step(from: string, message: PaxosMessage<C, S>): void {
    // Input from outside the group is ignored, not asserted: it is data, not our bug.
    if (from === this.self || !this.others.includes(from)) return
    switch (message.type) {
      case 'paxos.prepare':
        return this.onPrepare(from, message)
      case 'paxos.promise':
        return this.onPromise(from, message)
      case 'paxos.accept':
        return this.onAccept(from, message)
      case 'paxos.accepted':
        return this.onAccepted(from, message)
      case 'paxos.nack':
        return this.onNack(message)
      case 'paxos.heartbeat':
        return this.onHeartbeat(from, message)
      case 'paxos.heartbeat-reply':
        return this.onHeartbeatReply(from, message)
      case 'paxos.catch-up-request':
        return this.sendCatchUp(from, message.commitIndex)
      case 'paxos.catch-up':
        return this.onCatchUp(from, message)
      case 'paxos.snapshot':
        return this.onSnapshot(message)
      default:
        return assertNever(message)
    }
  }

  tick(): void {
    this.elapsedTicks++
    if (this.startedTicks < this.options.electionTimeoutMinTicks) this.startedTicks++
    if (this.leaderHeardElapsedTicks < NEVER_HEARD_TICKS) this.leaderHeardElapsedTicks++
    const leader = this.leaderState
    if (leader === undefined) {
      this.electionElapsedTicks++
      if (this.electionElapsedTicks >= this.electionTimeoutTicks) this.campaign()
      return
    }
    this.leaderHeardElapsedTicks = 0
    leader.heartbeatElapsedTicks++
    if (leader.heartbeatElapsedTicks >= this.options.heartbeatTicks) {
      leader.heartbeatElapsedTicks = 0
      this.heartbeat(leader)
    }
    leader.quorumCheckElapsedTicks++
    if (leader.quorumCheckElapsedTicks >= this.options.electionTimeoutMaxTicks) {
      // Counting self: a leader cut off from a majority cannot commit, so it stops claiming to lead.
      if (leader.heardFrom.size + 1 < this.quorum) return this.becomeFollower(undefined)
      leader.heardFrom.clear()
      leader.quorumCheckElapsedTicks = 0
    }
  }

  /** True when ready() would return something to do. */
  hasReady(): boolean {
    return (
      this.pendingSnapshotInstall !== undefined ||
      this.persistDirty ||
      this.outbox.length > 0 ||
      this.commitIndexValue > this.emittedIndex ||
      (this.leaderState !== undefined && this.leaderState.pending.length > 0 && this.canOpenSlot(this.leaderState))
    )
  }

  ready(): Ready<C, S> {
    if (this.leaderState !== undefined) this.flushProposals(this.leaderState)
    const snapshotToInstall = this.pendingSnapshotInstall
    this.pendingSnapshotInstall = undefined
    const persist = this.persistDirty ? this.acceptorState() : undefined
    this.persistDirty = false
    const messages = this.outbox
    this.outbox = []
    const committed: CommittedSlot<C>[] = []
    const lastIndex = Math.min(this.commitIndexValue, this.emittedIndex + this.options.maxCommittedPerReady)
    for (let index = this.emittedIndex + 1; index <= lastIndex; index++) {
      const entry = this.log.get(index)
      assert(entry !== undefined, `committed slot ${index} is held until the app snapshots it`)
      committed.push({ index, commands: entry.commands })
    }
    this.emittedIndex = lastIndex
    return {
      ...(snapshotToInstall === undefined ? {} : { snapshotToInstall }),
      ...(persist === undefined ? {} : { persist }),
      messages,
      committed,
    }
  }

  /**
   * The app's state after applying every slot up to `index` (one it got from
   * ready()). The app stores it durably first; slots up to `index` are then
   * dropped from the log, and the next persisted state omits them.
   */
  advanceSnapshot(index: number, snapshot: S): void {
    assert(Number.isSafeInteger(index) && index <= this.emittedIndex, `snapshot index ${index} was applied (through ${this.emittedIndex})`)
    if (index <= this.log.snapshotIndex) return
    this.log.truncateThrough(index)
    this.snapshot = { index, snapshot }
    this.persistDirty = true
  }

  // ---- phase 1 -------------------------------------------------------------

  private campaign(): void {
    const ballot = nextBallot(this.self, Math.max(this.highestRound, this.promised.round))
    this.becomeFollower(undefined)
    // Promised to ourselves and persisted before any prepare leaves: a restart never reuses this ballot.
    this.promise(ballot)
    this.roleValue = 'candidate'
    this.candidateBallot = ballot
    this.promises.clear()
    this.promises.set(this.self, { type: 'paxos.promise', ballot, entries: this.reportAbove(this.commitIndexValue) })
    const prepare: PrepareMessage = { type: 'paxos.prepare', ballot, commitIndex: this.commitIndexValue, snapshotIndex: this.log.snapshotIndex }
    for (const peer of this.others) this.send(peer, prepare)
    if (this.promises.size >= this.quorum) this.becomeLeader()
  }

  private onPrepare(from: string, message: PrepareMessage): void {
    if (compareBallots(message.ballot, this.promised) < 0) return this.nack(from, message.ballot)
    if (this.leaderIsFresh() && message.ballot.replica !== this.leaderId) return
    // A restarted replica forgot when it last heard the leader, whose lease may still count on it: it
    // promises nothing until a whole minimum election timeout has passed (see canReadLocally).
    if (this.options.lease !== undefined && this.startedTicks < this.options.electionTimeoutMinTicks) return
    if (this.log.snapshotIndex > message.commitIndex) return this.sendCatchUp(from, message.commitIndex)
    // The candidate could not hold all we would report within its log bound: it must catch up and snapshot first.
    if (this.log.lastSlot > message.snapshotIndex + this.options.maxLogSlots) return this.sendCatchUp(from, message.commitIndex)
    if (compareBallots(message.ballot, this.promised) > 0) {
      this.becomeFollower(undefined)
      this.promise(message.ballot)
    }
    // Granting a promise restarts our own timeout: the candidate gets time to finish.
    this.electionElapsedTicks = 0
    this.send(from, { type: 'paxos.promise', ballot: message.ballot, entries: this.reportAbove(message.commitIndex) })
  }

  private onPromise(from: string, message: PromiseMessage<C>): void {
    if (this.roleValue !== 'candidate' || !ballotsEqual(message.ballot, this.candidateBallot)) return
    this.promises.set(from, message)
    if (this.promises.size >= this.quorum) this.becomeLeader()
  }

  private becomeLeader(): void {
    const ballot = this.candidateBallot
    assert(ballotsEqual(ballot, this.promised), 'a candidate leads only at the ballot it promised itself')
    const adopted = this.adoptReported()
    let lastSlot = this.commitIndexValue
    for (const slot of adopted.keys()) lastSlot = Math.max(lastSlot, slot)
    const leader: LeaderState<C> = {
      ballot,
      pending: [],
      nextSlot: lastSlot + 1,
      acks: new Map(),
      sentThrough: new Map(this.others.map((peer) => [peer, this.commitIndexValue])),
      unackedAtHeartbeat: new Map(),
      heartbeatElapsedTicks: 0,
      quorumCheckElapsedTicks: 0,
      heardFrom: new Set(),
      leaseAcks: new Map(),
      // Alone, we are the whole majority: nobody else can be elected.
      leaseEndsAtMs: this.quorum === 1 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY,
      barrier: lastSlot,
    }
    // Every slot above the commit index is re-proposed at our ballot: adopted values, and no-ops in the gaps.
    for (let slot = this.commitIndexValue + 1; slot <= lastSlot; slot++) {
      this.log.set(slot, { ballot, commands: adopted.get(slot)?.commands ?? [] })
      leader.acks.set(slot, new Set([this.self]))
    }
    this.persistDirty = this.persistDirty || lastSlot > this.commitIndexValue
    this.roleValue = 'leader'
    this.leaderId = this.self
    this.leaderState = leader
    this.promises.clear()
    this.advanceLeaderCommit(leader)
    this.heartbeat(leader)
  }

  /** Per slot above the commit index: a value reported chosen, else the one accepted at the highest ballot. */
  private adoptReported(): Map<number, ReportedEntry<C>> {
    const adopted = new Map<number, ReportedEntry<C>>()
    for (const promise of this.promises.values()) {
      for (const entry of promise.entries) {
        if (entry.slot <= this.commitIndexValue) continue
        const current = adopted.get(entry.slot)
        if (current === undefined || (!current.chosen && (entry.chosen || compareBallots(entry.ballot, current.ballot) > 0))) {
          adopted.set(entry.slot, entry)
        }
      }
    }
    return adopted
  }

  /** Every slot held above `slot`: what a promise must report. Bounded by maxLogSlots. */
  private reportAbove(slot: number): ReportedEntry<C>[] {
    return this.log.slotsAbove(slot).map((held) => {
      const entry = this.log.get(held)!
      return { slot: held, ballot: entry.ballot, commands: entry.commands, chosen: held <= this.commitIndexValue }
    })
  }

  // ---- phase 2 -------------------------------------------------------------

  private flushProposals(leader: LeaderState<C>): void {
    while (leader.pending.length > 0 && this.canOpenSlot(leader)) {
      const slot = leader.nextSlot++
      this.log.set(slot, { ballot: leader.ballot, commands: leader.pending.splice(0, this.options.maxBatch) })
      leader.acks.set(slot, new Set([this.self]))
      this.persistDirty = true
    }
    this.advanceLeaderCommit(leader)
    let previous: AcceptMessage<C> | undefined
    for (const peer of this.others) previous = this.sendAccepts(leader, peer, previous)
  }

  private canOpenSlot(leader: LeaderState<C>): boolean {
    return leader.nextSlot - 1 - this.commitIndexValue < this.options.maxInflightSlots && this.log.hasRoom(leader.nextSlot)
  }

  /**
   * At most one accept per peer per call, of at most maxSlotsPerMessage
   * uncommitted slots it was not yet sent; returns it. When it would equal
   * `previous` (what the peer before got), it is that very object, which the
   * transport then encodes once for both.
   */
  private sendAccepts(leader: LeaderState<C>, peer: string, previous?: AcceptMessage<C>): AcceptMessage<C> | undefined {
    const firstSlot = Math.max(leader.sentThrough.get(peer) ?? 0, this.commitIndexValue) + 1
    const lastSlot = Math.min(leader.nextSlot - 1, firstSlot + this.options.maxSlotsPerMessage - 1)
    if (firstSlot > lastSlot) return undefined
    leader.sentThrough.set(peer, lastSlot)
    const same = previous !== undefined && previous.firstSlot === firstSlot && previous.values.length === lastSlot - firstSlot + 1 && previous.commitIndex === this.commitIndexValue
    if (same) {
      this.send(peer, previous)
      return previous
    }
    const values: (readonly C[])[] = []
    for (let slot = firstSlot; slot <= lastSlot; slot++) values.push(this.log.get(slot)!.commands)
    const accept: AcceptMessage<C> = { type: 'paxos.accept', ballot: leader.ballot, firstSlot, values, commitIndex: this.commitIndexValue }
    this.send(peer, accept)
    return accept
  }

  private onAccept(from: string, message: AcceptMessage<C>): void {
    if (compareBallots(message.ballot, this.promised) < 0) return this.nack(from, message.ballot)
    this.followLeader(message.ballot)
    let count = 0
    for (const commands of message.values) {
      const slot = message.firstSlot + count
      if (!this.log.hasRoom(slot)) break
      // A committed slot keeps its value (the leader's is the same, Paxos says): acknowledging it is still true.
      if (slot > this.commitIndexValue) {
        this.log.set(slot, { ballot: message.ballot, commands })
        this.persistDirty = true
      }
      count++
    }
    this.learnCommit(message.ballot, message.commitIndex)
    if (count > 0) this.send(from, { type: 'paxos.accepted', ballot: message.ballot, firstSlot: message.firstSlot, count })
  }

  private onAccepted(from: string, message: AcceptedMessage): void {
    const leader = this.leaderState
    if (leader === undefined || !ballotsEqual(message.ballot, leader.ballot)) return
    leader.heardFrom.add(from)
    for (let slot = message.firstSlot; slot < message.firstSlot + message.count; slot++) leader.acks.get(slot)?.add(from)
    this.advanceLeaderCommit(leader)
  }

  private advanceLeaderCommit(leader: LeaderState<C>): void {
    for (let acks = leader.acks.get(this.commitIndexValue + 1); acks !== undefined && acks.size >= this.quorum; ) {
      leader.acks.delete(this.commitIndexValue + 1)
      this.commitIndexValue++
      acks = leader.acks.get(this.commitIndexValue + 1)
    }
  }

  /**
   * Commits, up to the leader's commit index, the slots whose entry we
   * accepted at the leader's own ballot: the leader proposed one value per
   * slot at that ballot, so ours is the committed one. Other slots wait for
   * catch-up.
   */
  private learnCommit(ballot: Ballot, leaderCommitIndex: number): void {
    while (this.commitIndexValue < leaderCommitIndex) {
      const entry = this.log.get(this.commitIndexValue + 1)
      if (entry === undefined || !ballotsEqual(entry.ballot, ballot)) return
      this.commitIndexValue++
    }
  }

  // ---- leadership and heartbeats ---------------------------------------------

  private heartbeat(leader: LeaderState<C>): void {
    // Stamped before it is sent, so a lease counted from the stamp ends no later than one counted from the send.
    const sentAtMs = this.options.lease?.now()
    const heartbeat: HeartbeatMessage = { type: 'paxos.heartbeat', ballot: leader.ballot, commitIndex: this.commitIndexValue, ...(sentAtMs === undefined ? {} : { sentAtMs }) }
    for (const peer of this.others) {
      this.send(peer, heartbeat)
      this.retransmitFrom(leader, peer)
      this.sendAccepts(leader, peer)
    }
  }

  /**
   * Resends, from the first uncommitted slot `peer` has not acknowledged, when
   * that slot was already unacknowledged at the previous heartbeat: its accept
   * or the ack may have been lost. A slot sent since then is most likely still
   * on its way (pipelining keeps several in flight), and resending it at
   * every heartbeat would double the accept traffic of a loaded leader.
   */
  private retransmitFrom(leader: LeaderState<C>, peer: string): void {
    for (let slot = this.commitIndexValue + 1; slot < leader.nextSlot; slot++) {
      if (leader.acks.get(slot)?.has(peer) !== false) continue
      if (leader.unackedAtHeartbeat.get(peer) === slot) leader.sentThrough.set(peer, slot - 1)
      else leader.unackedAtHeartbeat.set(peer, slot)
      return
    }
    leader.unackedAtHeartbeat.delete(peer)
  }

  private onHeartbeat(from: string, message: HeartbeatMessage): void {
    if (compareBallots(message.ballot, this.promised) < 0) return this.nack(from, message.ballot)
    this.followLeader(message.ballot)
    this.learnCommit(message.ballot, message.commitIndex)
    // Our log cannot take us to the leader's commit index (a slot missed, or held at an older ballot): ask for the
    // chosen values. Only then: under load a follower's commit index always trails the leader's a little, and a
    // leader that answered every such reply with a catch-up would resend, on every heartbeat, slots we already hold.
    if (this.commitIndexValue < message.commitIndex) this.send(from, { type: 'paxos.catch-up-request', commitIndex: this.commitIndexValue })
    const { sentAtMs } = message
    const reply: HeartbeatReplyMessage = {
      type: 'paxos.heartbeat-reply',
      ballot: message.ballot,
      ...(typeof sentAtMs === 'number' && Number.isFinite(sentAtMs) ? { sentAtMs } : {}),
    }
    this.send(from, reply)
  }

  private onHeartbeatReply(from: string, message: HeartbeatReplyMessage): void {
    const leader = this.leaderState
    if (leader === undefined || !ballotsEqual(message.ballot, leader.ballot)) return
    leader.heardFrom.add(from)
    const { sentAtMs } = message
    if (typeof sentAtMs === 'number' && sentAtMs > (leader.leaseAcks.get(from) ?? Number.NEGATIVE_INFINITY)) this.extendLease(leader, from, sentAtMs)
  }

  /**
   * Records `from`'s acknowledgement of the heartbeat stamped `sentAtMs`. Our
   * own stamp is always the newest (now), so the quorum-th newest of all is
   * the (quorum - 1)-th newest of the others': the lease runs durationMs from it.
   */
  private extendLease(leader: LeaderState<C>, from: string, sentAtMs: number): void {
    const lease = this.options.lease
    if (lease === undefined) return
    leader.leaseAcks.set(from, sentAtMs)
    const stamps = [...leader.leaseAcks.values()].sort((a, b) => b - a)
    const quorumStamp = stamps[this.quorum - 2]
    if (quorumStamp !== undefined) leader.leaseEndsAtMs = quorumStamp + lease.durationMs
  }

  private onNack(message: NackMessage): void {
    this.highestRound = Math.max(this.highestRound, message.promised.round)
    if (this.leaderState !== undefined && ballotsEqual(message.ballot, this.leaderState.ballot)) {
      // Preempted while leading, typically by a replica back from a partition with a high round. Our
      // followers still take prepares from us (see leaderIsFresh), so re-electing at once above that
      // round costs one round trip instead of an election timeout; if another replica really leads
      // now, its followers ignore us and we follow it at its next heartbeat.
      return this.campaign()
    }
    // A candidate preempted waits a randomized timeout rather than duel at once.
    if (this.roleValue === 'candidate' && ballotsEqual(message.ballot, this.candidateBallot)) this.becomeFollower(undefined)
  }

  /** A leader at `ballot` (>= promised) is alive: follow it. */
  private followLeader(ballot: Ballot): void {
    const alreadyFollowing = this.roleValue === 'follower' && this.leaderId === ballot.replica
    if (compareBallots(ballot, this.promised) > 0) this.promise(ballot)
    if (!alreadyFollowing) this.becomeFollower(ballot.replica)
    this.electionElapsedTicks = 0
    this.leaderHeardElapsedTicks = 0
  }

  private becomeFollower(leaderId: string | undefined): void {
    this.roleValue = 'follower'
    this.leaderId = leaderId
    this.leaderState = undefined
    this.promises.clear()
    this.electionElapsedTicks = 0
    this.electionTimeoutTicks = this.randomElectionTimeout()
  }

  private promise(ballot: Ballot): void {
    assert(compareBallots(ballot, this.promised) > 0, 'promised ballots only grow')
    this.promised = ballot
    this.highestRound = Math.max(this.highestRound, ballot.round)
    this.persistDirty = true
  }

  private nack(to: string, ballot: Ballot): void {
    const nack: NackMessage = { type: 'paxos.nack', ballot, promised: this.promised }
    this.send(to, nack)
  }

  private leaderIsFresh(): boolean {
    return this.leaderId !== undefined && this.leaderHeardElapsedTicks < this.options.electionTimeoutMinTicks
  }

  private randomElectionTimeout(): number {
    const { electionTimeoutMinTicks: min, electionTimeoutMaxTicks: max } = this.options
    const draw = this.options.random()
    assert(draw >= 0 && draw < 1, `random() returns [0, 1), got ${draw}`)
    return min + Math.floor(draw * (max - min + 1))
  }

  // ---- catch-up ------------------------------------------------------------------

  /** Sends `to` the chosen values above `theirCommitIndex` (one chunk), or our snapshot if they are truncated here. */
  private sendCatchUp(to: string, theirCommitIndex: number): void {
    if (theirCommitIndex >= this.commitIndexValue) return
    if (theirCommitIndex < this.log.snapshotIndex) return this.sendSnapshot(to)
    const firstSlot = theirCommitIndex + 1
    const lastSlot = Math.min(this.commitIndexValue, firstSlot + this.options.maxSlotsPerMessage - 1)
    const entries: AcceptedEntry<C>[] = []
    for (let slot = firstSlot; slot <= lastSlot; slot++) entries.push(this.log.get(slot)!)
    const message: CatchUpMessage<C> = { type: 'paxos.catch-up', firstSlot, entries }
    this.send(to, message)
  }

  private sendSnapshot(to: string): void {
    const snapshot = this.snapshot
    assert(snapshot !== undefined && snapshot.index === this.log.snapshotIndex, 'a truncated log has its snapshot')
    // Snapshots are big: at most one per peer per election timeout, however many requests arrive.
    const sentAt = this.snapshotSentAtTick.get(to)
    if (sentAt !== undefined && this.elapsedTicks - sentAt < this.options.electionTimeoutMinTicks) return
    this.snapshotSentAtTick.set(to, this.elapsedTicks)
    const message: SnapshotMessage<S> = { type: 'paxos.snapshot', index: snapshot.index, snapshot: snapshot.snapshot }
    this.send(to, message)
  }

  private onCatchUp(from: string, message: CatchUpMessage<C>): void {
    // A leader commits only through its own ballot's acknowledgements; it never needs catching up.
    if (this.leaderState !== undefined) return
    const before = this.commitIndexValue
    message.entries.forEach((entry, offset) => {
      const slot = message.firstSlot + offset
      // Contiguous from our commit index only: a committed prefix has no holes.
      if (slot !== this.commitIndexValue + 1 || !this.log.hasRoom(slot)) return
      // A chosen value may replace whatever we accepted there: nothing else can ever be chosen in this slot.
      this.log.set(slot, entry)
      this.commitIndexValue = slot
      this.persistDirty = true
    })
    // A full chunk that moved us: there is probably more, ask for it now rather than at the next heartbeat.
    if (this.commitIndexValue > before && message.entries.length >= this.options.maxSlotsPerMessage) {
      this.send(from, { type: 'paxos.catch-up-request', commitIndex: this.commitIndexValue })
    }
  }

  private onSnapshot(message: SnapshotMessage<S>): void {
    if (this.leaderState !== undefined || message.index <= this.commitIndexValue) return
    const snapshot: Snapshot<S> = { index: message.index, snapshot: message.snapshot }
    // Slots up to the index are chosen and in the snapshot; slots above keep what we accepted (safety needs them).
    this.log.truncateThrough(message.index)
    this.snapshot = snapshot
    this.pendingSnapshotInstall = snapshot
    this.commitIndexValue = message.index
    this.emittedIndex = message.index
    this.persistDirty = true
  }

  // ---- state and output ---------------------------------------------------------

  private restore(acceptor: AcceptorState<C>, snapshot: Snapshot<S> | undefined): void {
    const snapshotIndex = snapshot?.index ?? 0
    // The host stores the snapshot before the acceptor state that relies on it, never the other way round.
    assert(snapshotIndex >= acceptor.snapshotIndex, `restored snapshot (${snapshotIndex}) covers the acceptor state's (${acceptor.snapshotIndex})`)
    this.promised = acceptor.promised
    this.highestRound = acceptor.promised.round
    this.log.truncateThrough(snapshotIndex)
    for (const [slot, entry] of acceptor.accepted) {
      if (slot > snapshotIndex) this.log.set(slot, entry)
    }
    this.snapshot = snapshot
    this.commitIndexValue = snapshotIndex
    this.emittedIndex = snapshotIndex
  }

  private acceptorState(): AcceptorState<C> {
    const accepted = this.log.slotsAbove(this.log.snapshotIndex).map((slot) => [slot, this.log.get(slot)!] as const)
    return { promised: this.promised, snapshotIndex: this.log.snapshotIndex, accepted }
  }

  private send(to: string, message: PaxosMessage<C, S>): void {
    // Dropping is safe (Paxos tolerates lost messages) and keeps a host that stops calling ready() bounded.
    if (this.outbox.length >= this.options.maxOutboxMessages) {
      this.droppedMessagesCount++
      return
    }
    this.outbox.push({ to, message })
  }
}

function assertNever(value: never): never {
  throw new Error(`unexpected Paxos message ${JSON.stringify(value)}`)
}
