/**
 * Options of one Multi-Paxos replica, with defaults and validation that names
 * the bad option. Times are in ticks: the host decides how long a tick is
 * (the core has no clock), e.g. one tick every 10 ms.
 */
import { ShardKVError } from '../errors.js'
import type { AcceptedEntry } from './messages.js'
import type { Ballot } from './ballot.js'

/**
 * What safety depends on, kept in stable storage and handed back on restart.
 *
 * - `promised`: the acceptor must never accept or promise below a ballot it
 *   has promised; forgetting it would let two leaders both get a majority.
 *   It also keeps a restarted replica from reusing one of its own ballots
 *   (a candidate promises its own ballot before sending any prepare).
 * - `accepted`: every slot above the snapshot the acceptor accepted (or
 *   learned as committed). A value chosen by a majority is found again by
 *   the next leader only because every majority still holds it; an acceptor
 *   that forgot its accepted values could let a new leader fill a chosen slot
 *   with something else.
 * - `snapshotIndex`: slots up to it live only in the application's snapshot,
 *   which the host stores before it stores this state (see `Ready`).
 *
 * The commit index is not here: it is only knowledge, and a restarted
 * replica learns it again from the leader.
 */
export interface AcceptorState<C> {
  readonly promised: Ballot
  readonly snapshotIndex: number
  /** [slot, entry] pairs, slots ascending, all above snapshotIndex. */
  readonly accepted: readonly (readonly [number, AcceptedEntry<C>])[]
}

/** The application's state after applying every slot up to `index`. */
export interface Snapshot<S> {
  readonly index: number
  readonly snapshot: S
}

export interface MultiPaxosOptions<C, S> {
  /** This replica's id; one of `peers`. */
  self: string
  /** Every replica of the group, `self` included; 1..MAX_REPLICAS distinct ids. */
  peers: readonly string[]
  /** Uniform in [0, 1): the only randomness, for election timeouts. The host injects ctx.random. */
  random: () => number
  /** A follower starts an election after hearing no leader for a timeout drawn in [min, max] ticks. Default 10..20. */
  electionTimeoutMinTicks?: number
  electionTimeoutMaxTicks?: number
  /** The leader heartbeats (and retransmits unacknowledged accepts) every this many ticks. Default 2; below the election timeout. */
  heartbeatTicks?: number
  /** Most commands in one slot (one group-commit batch). Default 256. */
  maxBatch?: number
  /** Commands queued at the leader waiting for a slot; past it propose() says 'overloaded'. Default 4 * maxBatch * maxInflightSlots. */
  maxPendingCommands?: number
  /** Slots the leader has proposed but not committed at once (the pipeline window). Default 8. */
  maxInflightSlots?: number
  /** Slots kept above the snapshot; past it the leader stops proposing and acceptors stop accepting until the app snapshots. Default 1024. */
  maxLogSlots?: number
  /** Hint to the app (`snapshotDue`): snapshot once this many slots are applied above the last snapshot. Default 128. */
  snapshotEvery?: number
  /** Most slots in one accept or catch-up message. Default 64. */
  maxSlotsPerMessage?: number
  /** Most committed slots handed out by one ready(); the rest follow in the next. Default 256. */
  maxCommittedPerReady?: number
  /** Most messages waiting for ready(); past it new ones are dropped (Paxos tolerates loss) and counted. Default 1024. */
  maxOutboxMessages?: number
  /** State from stable storage after a restart, and the app's latest stored snapshot. */
  restored?: { acceptor: AcceptorState<C>; snapshot?: Snapshot<S> }
  /** Leader leases for local reads (see MultiPaxos.canReadLocally); none by default. */
  lease?: LeaseOptions
}

/**
 * A leader lease: how the leader may answer a read from its own state,
 * without a round through the log. The host's side of the safety argument
 * (MultiPaxos.canReadLocally has the whole of it): `durationMs` must be
 * shorter than the real time a follower keeps refusing other candidates
 * after it last heard the leader. A follower refuses for
 * electionTimeoutMinTicks ticks of its own; ticks fire at least one tick
 * length apart, but the first may come at once, so that is at least
 * (electionTimeoutMinTicks - 1) tick lengths. Take one tick less again as a
 * margin for the clocks of two threads.
 */
export interface LeaseOptions {
  /** The host's monotonic clock, ms (ctx.now). */
  readonly now: () => number
  readonly durationMs: number
}

export type ResolvedOptions<C, S> = Required<Omit<MultiPaxosOptions<C, S>, 'restored' | 'lease'>> & { readonly lease: LeaseOptions | undefined }

/** Seven replicas tolerate three failures; more only slows every commit. */
export const MAX_REPLICAS = 7
/** Sanity ceiling on every count option: a typo must not become a memory bomb. */
const MAX_COUNT = 1_000_000

/** A follower that hears no leader for a random 10..20 ticks campaigns. */
export const DEFAULT_ELECTION_TIMEOUT_MIN_TICKS = 10
export const DEFAULT_ELECTION_TIMEOUT_MAX_TICKS = 20

export function resolveOptions<C, S>(options: MultiPaxosOptions<C, S>): ResolvedOptions<C, S> {
  const maxBatch = count('maxBatch', options.maxBatch ?? 256)
  const maxInflightSlots = count('maxInflightSlots', options.maxInflightSlots ?? 8)
  const resolved: ResolvedOptions<C, S> = {
    self: options.self,
    peers: [...options.peers],
    random: options.random,
    electionTimeoutMinTicks: count('electionTimeoutMinTicks', options.electionTimeoutMinTicks ?? DEFAULT_ELECTION_TIMEOUT_MIN_TICKS),
    electionTimeoutMaxTicks: count('electionTimeoutMaxTicks', options.electionTimeoutMaxTicks ?? DEFAULT_ELECTION_TIMEOUT_MAX_TICKS),
    heartbeatTicks: count('heartbeatTicks', options.heartbeatTicks ?? 2),
    maxBatch,
    maxPendingCommands: count('maxPendingCommands', options.maxPendingCommands ?? 4 * maxBatch * maxInflightSlots),
    maxInflightSlots,
    maxLogSlots: count('maxLogSlots', options.maxLogSlots ?? 1024),
    snapshotEvery: count('snapshotEvery', options.snapshotEvery ?? 128),
    maxSlotsPerMessage: count('maxSlotsPerMessage', options.maxSlotsPerMessage ?? 64),
    maxCommittedPerReady: count('maxCommittedPerReady', options.maxCommittedPerReady ?? 256),
    maxOutboxMessages: count('maxOutboxMessages', options.maxOutboxMessages ?? 1024),
    lease: options.lease,
  }
  validateRelations(resolved)
  return resolved
}

function validateRelations<C, S>(options: ResolvedOptions<C, S>): void {
  const { self, peers } = options
  if (typeof self !== 'string' || self.length === 0) invalid('self', 'must be a non-empty string')
  if (peers.length < 1 || peers.length > MAX_REPLICAS) invalid('peers', `must list 1..${MAX_REPLICAS} replicas, got ${peers.length}`)
  if (new Set(peers).size !== peers.length) invalid('peers', 'must be distinct')
  if (peers.some((peer) => typeof peer !== 'string' || peer.length === 0)) invalid('peers', 'must be non-empty strings')
  if (!peers.includes(self)) invalid('peers', `must include self ("${self}")`)
  if (typeof options.random !== 'function') invalid('random', 'must be a function returning [0, 1)')
  if (options.electionTimeoutMaxTicks < options.electionTimeoutMinTicks) {
    invalid('electionTimeoutMaxTicks', `must be >= electionTimeoutMinTicks (${options.electionTimeoutMinTicks})`)
  }
  if (options.heartbeatTicks >= options.electionTimeoutMinTicks) {
    invalid('heartbeatTicks', `must be below electionTimeoutMinTicks (${options.electionTimeoutMinTicks})`)
  }
  // Room for a full window of new slots plus the slots the app may keep unsnapshotted.
  if (options.maxLogSlots < options.maxInflightSlots + options.snapshotEvery) {
    invalid('maxLogSlots', `must be >= maxInflightSlots + snapshotEvery (${options.maxInflightSlots + options.snapshotEvery})`)
  }
  if (options.maxPendingCommands < options.maxBatch) invalid('maxPendingCommands', `must be >= maxBatch (${options.maxBatch})`)
  const { lease } = options
  if (lease !== undefined) {
    if (typeof lease.now !== 'function') invalid('lease.now', 'must be a function returning milliseconds')
    if (!(Number.isFinite(lease.durationMs) && lease.durationMs > 0)) invalid('lease.durationMs', `must be a positive number of milliseconds, got ${lease.durationMs}`)
  }
}

function count(name: string, value: number): number {
  if (!(Number.isInteger(value) && value >= 1 && value <= MAX_COUNT)) invalid(name, `must be an integer within 1..${MAX_COUNT}, got ${value}`)
  return value
}

function invalid(name: string, problem: string): never {
  throw new ShardKVError('ERR_INVALID_OPTION', `MultiPaxos option ${name} ${problem}`)
}
