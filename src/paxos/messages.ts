/**
 * Messages between Multi-Paxos replicas: plain objects tagged by `type`, so
 * they go through the runtime codec as they are (no class instances). `C` is
 * the application's command type and `S` its snapshot type; both must be
 * values the codec encodes (plain objects, arrays, Maps, Uint8Arrays ...).
 *
 * A log entry's value is the list of commands one leader batched into one
 * slot (group commit); an empty list is a no-op, which a new leader writes
 * into slots that no acceptor reported a value for.
 */
import type { Ballot } from './ballot.js'

/** One slot's value as an acceptor holds it: the ballot it was accepted at, and the batch. */
export interface AcceptedEntry<C> {
  readonly ballot: Ballot
  readonly commands: readonly C[]
}

/**
 * Phase 1a. `commitIndex`: the candidate knows every slot up to it, so
 * acceptors report only slots above it. `snapshotIndex`: the candidate's log
 * holds slots up to snapshotIndex + maxLogSlots, so an acceptor holding more
 * than that sends catch-up instead of a promise the candidate could not hold.
 */
export interface PrepareMessage {
  readonly type: 'paxos.prepare'
  readonly ballot: Ballot
  readonly commitIndex: number
  readonly snapshotIndex: number
}

/** A slot an acceptor reports in a promise; `chosen` when the acceptor knows the value is committed. */
export interface ReportedEntry<C> extends AcceptedEntry<C> {
  readonly slot: number
  readonly chosen: boolean
}

/** Phase 1b: the acceptor will accept nothing below `ballot`, and reports what it accepted above the candidate's commit index. */
export interface PromiseMessage<C> {
  readonly type: 'paxos.promise'
  readonly ballot: Ballot
  readonly entries: readonly ReportedEntry<C>[]
}

/** Phase 2a: slots firstSlot, firstSlot + 1, ... get the batches in `values` at `ballot`; the leader has committed through `commitIndex`. */
export interface AcceptMessage<C> {
  readonly type: 'paxos.accept'
  readonly ballot: Ballot
  readonly firstSlot: number
  readonly values: readonly (readonly C[])[]
  readonly commitIndex: number
}

/** Phase 2b: the acceptor accepted slots firstSlot .. firstSlot + count - 1 at `ballot`. */
export interface AcceptedMessage {
  readonly type: 'paxos.accepted'
  readonly ballot: Ballot
  readonly firstSlot: number
  readonly count: number
}

/** The receiver has promised `promised`, above the `ballot` the sender used: the sender is preempted. */
export interface NackMessage {
  readonly type: 'paxos.nack'
  readonly ballot: Ballot
  readonly promised: Ballot
}

/** The leader is alive at `ballot` and has committed through `commitIndex`; `sentAtMs`, on the leader's clock, when it holds leases. */
export interface HeartbeatMessage {
  readonly type: 'paxos.heartbeat'
  readonly ballot: Ballot
  readonly commitIndex: number
  readonly sentAtMs?: number
}

/**
 * A follower's answer to a heartbeat: it follows `ballot`. `sentAtMs` echoes
 * the heartbeat's: from then on, for a while, this follower refuses other
 * candidates (the leader's lease). A follower that lacks slots the leader has
 * committed asks for them itself (catch-up-request).
 */
export interface HeartbeatReplyMessage {
  readonly type: 'paxos.heartbeat-reply'
  readonly ballot: Ballot
  readonly sentAtMs?: number
}

/** Asks any replica for the committed slots above `commitIndex` (a candidate that is too far behind to lead). */
export interface CatchUpRequestMessage {
  readonly type: 'paxos.catch-up-request'
  readonly commitIndex: number
}

/**
 * Committed (chosen) values for slots firstSlot, firstSlot + 1, ...: no
 * ballot is needed to trust them, so any replica may send them, to anyone.
 */
export interface CatchUpMessage<C> {
  readonly type: 'paxos.catch-up'
  readonly firstSlot: number
  readonly entries: readonly AcceptedEntry<C>[]
}

/** The application state after applying every slot up to `index`: for a replica that needs slots already truncated. */
export interface SnapshotMessage<S> {
  readonly type: 'paxos.snapshot'
  readonly index: number
  readonly snapshot: S
}

export type PaxosMessage<C, S> =
  | PrepareMessage
  | PromiseMessage<C>
  | AcceptMessage<C>
  | AcceptedMessage
  | NackMessage
  | HeartbeatMessage
  | HeartbeatReplyMessage
  | CatchUpRequestMessage
  | CatchUpMessage<C>
  | SnapshotMessage<S>

export const PAXOS_MESSAGE_TYPES: ReadonlySet<string> = new Set<PaxosMessage<unknown, unknown>['type']>([
  'paxos.prepare',
  'paxos.promise',
  'paxos.accept',
  'paxos.accepted',
  'paxos.nack',
  'paxos.heartbeat',
  'paxos.heartbeat-reply',
  'paxos.catch-up-request',
  'paxos.catch-up',
  'paxos.snapshot',
])

/** For hosts that receive Paxos messages among their own: true when `message` is one of ours. */
export function isPaxosMessage<C, S>(message: { readonly type: string }): message is PaxosMessage<C, S> {
  return PAXOS_MESSAGE_TYPES.has(message.type)
}
