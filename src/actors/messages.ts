/**
 * The store's wire protocol: every message between clients, storage nodes
 * and shard-master replicas. Hot messages (client requests and replies) get
 * binary codec layouts; the rest use the generic encoding.
 *
 * Request identity: a client has an id (nanoid) and numbers its operations
 * upwards (`seq`). Because a client pipelines many operations, servers keep,
 * per client, every applied seq at or above the client's `ackedBelow` (all
 * lower seqs have been answered to the client and will never be retried), so
 * any retry, even after a shard move, is answered from the table instead of
 * applied twice.
 */
import { ShardKVError, type ErrorCode } from '../errors.js'
import type { ActorContext, Message } from '../runtime/actor.js'
import { codec } from '../runtime/codec.js'
import type { MasterOp, MasterResult } from './shard-master-state.js'

export type KvOp = 'get' | 'put' | 'append' | 'delete'
export type StoredValue = string | Uint8Array

/** Client -> storage node. */
export interface KvRequest {
  readonly type: 'kv'
  readonly op: KvOp
  readonly clientId: string
  readonly seq: number
  /** Every seq below this has been answered to the client: the server may forget them. */
  readonly ackedBelow: number
  readonly key: string
  readonly value?: StoredValue
  /** The configuration the client routed by (diagnostics; the server decides by its own). */
  readonly configNum: number
}

export type KvStatus =
  | 'ok'
  /** This group does not serve the key's shard in its current configuration: refresh and retry. */
  | 'wrong_group'
  /** This group will serve the shard but has not received it yet: retry soon. */
  | 'not_ready'
  /** Not the group's leader (replicated groups): retry at `leaderHint`. */
  | 'not_leader'
  | 'type_mismatch'
  /**
   * The request breaks a limit the server enforces (see `errorCode`): a
   * malformed or oversized key or value, or an append whose result would
   * exceed maxValueBytes. Nothing changed; retrying the same request gets
   * the same answer.
   */
  | 'invalid'

/** The codes an `invalid` reply carries; the client throws ShardKVError with it. */
export type KvErrorCode = Extract<ErrorCode, 'ERR_INVALID_KEY' | 'ERR_KEY_TOO_LARGE' | 'ERR_INVALID_VALUE' | 'ERR_VALUE_TOO_LARGE'>

/** Storage node -> client. */
export interface KvReply {
  readonly type: 'kvr'
  readonly seq: number
  readonly status: KvStatus
  readonly value?: StoredValue
  /** For delete: whether the key existed. */
  readonly existed?: boolean
  readonly configNum: number
  readonly leaderHint?: string
  /** Set exactly when status is 'invalid'. */
  readonly errorCode?: KvErrorCode
}

/** Anyone -> shard-master replica. */
export interface MasterRequest {
  readonly type: 'master'
  readonly seq: number
  readonly op: MasterOp
}

/** Shard-master replica -> requester. */
export interface MasterReply {
  readonly type: 'masterr'
  readonly seq: number
  /** Absent when this replica is not the leader; retry at `leaderHint`. */
  readonly result?: MasterResult
  readonly leaderHint?: string
}

/**
 * One applied operation remembered for duplicate detection. Storage nodes
 * record mutations only: a retried read is simply read again, which is
 * still linearizable and keeps large values out of the table.
 */
export interface AppliedReply {
  readonly status: KvStatus
  readonly value?: StoredValue
  readonly existed?: boolean
  readonly errorCode?: KvErrorCode
}

/** Per client: the low-water mark and the replies of applied seqs at or above it. */
export interface ClientSession {
  ackedBelow: number
  readonly applied: Map<number, AppliedReply>
}

/** Storage node (old owner) -> storage node (new owner): a shard's data and its dedup table. */
export interface ShardPush {
  readonly type: 'shard-push'
  /** The configuration in which the receiver owns the shard. */
  readonly configNum: number
  readonly shard: number
  readonly fromGid: number
  readonly data: Map<string, StoredValue>
  readonly sessions: Map<string, ClientSession>
}

/** New owner -> old owner: the shard is installed (or was already); the sender may delete it. */
export interface ShardAck {
  readonly type: 'shard-ack'
  readonly configNum: number
  readonly shard: number
}

/** Cluster -> storage node: what it holds (used to wait for a leaving group's hand-off). */
export interface StatusRequest {
  readonly type: 'status'
  readonly seq: number
}

export interface StatusReply {
  readonly type: 'statusr'
  readonly seq: number
  readonly gid: number
  /** The configuration this node has applied. */
  readonly configNum: number
  /** Shards whose data this node still holds (serving, or handing off and not yet acknowledged). */
  readonly shardsHeld: readonly number[]
  /** Shards it owns but is still waiting to receive. */
  readonly shardsWaiting: readonly number[]
  readonly keys: number
  /** The answering node's Paxos role (replicated groups); absent from nodes that predate replication. */
  readonly role?: ReplicaRole
}

export type ReplicaRole = 'leader' | 'follower' | 'candidate'

/**
 * Storage node or shard-master replica -> the cluster's role observer (an
 * endpoint): this replica's role now. Sent on every change and again now
 * and then, because a report can be lost like any message; the observer
 * knows the sender from the transport.
 */
export interface RoleReport {
  readonly type: 'role'
  readonly role: ReplicaRole
}

/** Tells `observer` (if any) this replica's role; a refused send is only a lost report (the next one repeats it). */
export function reportRole(ctx: ActorContext, observer: string | undefined, role: ReplicaRole): void {
  const report: RoleReport = { type: 'role', role }
  if (observer !== undefined) sendOrShed(ctx, observer, report)
}

/**
 * The actors' delivery rule: send, or drop the message when the transport
 * refuses it (the destination's outbox is full, or the message is larger
 * than an outbox takes). Every message of this protocol is retried by its
 * originator (clients resend requests, storage nodes re-poll the master and
 * re-push shards on their timers), so a refused send is just a lost
 * message, which the protocol survives; letting the error escape would crash
 * the actor and, until replication, lose its data.
 */
export function sendOrShed(ctx: ActorContext, to: string, message: Message): void {
  try {
    ctx.send(to, message)
  } catch (error) {
    if (error instanceof ShardKVError && (error.code === 'ERR_OVERLOADED' || error.code === 'ERR_FRAME_TOO_LARGE')) return
    throw error
  }
}

export type StoreMessage = KvRequest | KvReply | MasterRequest | MasterReply | ShardPush | ShardAck | StatusRequest | StatusReply | RoleReport

codec.define({
  type: 'kv',
  id: 10,
  fields: [
    ['op', 'str'],
    ['clientId', 'str'],
    ['seq', 'f64'],
    ['ackedBelow', 'f64'],
    ['key', 'str'],
    ['value', 'value?'],
    ['configNum', 'u32'],
  ],
})

codec.define({
  type: 'kvr',
  id: 11,
  fields: [
    ['seq', 'f64'],
    ['status', 'str'],
    ['value', 'value?'],
    ['existed', 'bool?'],
    ['configNum', 'u32'],
    ['leaderHint', 'str?'],
    ['errorCode', 'str?'],
  ],
})
