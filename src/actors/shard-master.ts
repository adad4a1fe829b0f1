/**
 * The shard-master actor: the shell around ShardMasterState. One replica for
 * now, which applies every request at once and answers it; the consensus
 * issue puts a Paxos log between `receive` and `apply` and uses `replicas`
 * for leader hints, without changing the state machine.
 *
 * No stable storage yet: a crashed master comes back at configuration 0.
 * Replication (a majority remembers) is the answer, not a snapshot per
 * mutation here.
 *
 * A malformed request (not an op object, or no integer seq to answer under)
 * is dropped: the state machine answers bad arguments inside a well-formed
 * op with an Error result, but must never be handed a shape it would throw on.
 */
import { assert, ShardKVError } from '../errors.js'
import type { Actor, ActorContext, Message } from '../runtime/actor.js'
import { sendOrShed, type MasterReply, type MasterRequest } from './messages.js'
import { ShardMasterState, type MasterOp } from './shard-master-state.js'

export interface ShardMasterArgs {
  /** The cluster's shard count: 1..4096. */
  readonly shards: number
  /** Every shard-master replica's actor id, this one included. */
  readonly replicas: readonly string[]
}

const OP_TYPES: ReadonlySet<string> = new Set<MasterOp['type']>(['Join', 'Leave', 'Move', 'Query'])

export class ShardMasterActor implements Actor {
  private readonly state: ShardMasterState
  private readonly replicas: readonly string[]

  constructor(args: ShardMasterArgs) {
    if (!Array.isArray(args.replicas) || args.replicas.length === 0 || !args.replicas.every((id) => typeof id === 'string' && id.length > 0)) {
      throw new ShardKVError('ERR_INVALID_OPTION', 'replicas must be a non-empty array of actor ids')
    }
    this.replicas = [...args.replicas]
    this.state = new ShardMasterState({ shards: args.shards })
  }

  start(ctx: ActorContext): void {
    assert(this.replicas.includes(ctx.self), `shard master "${ctx.self}" is not in its replica list ${JSON.stringify(this.replicas)}`)
  }

  receive(message: Message, ctx: ActorContext): void {
    if (message.type !== 'master') return
    const request = message as MasterRequest
    if (!Number.isSafeInteger(request.seq) || !isMasterOp(request.op)) return
    const reply: MasterReply = { type: 'masterr', seq: request.seq, result: this.state.apply(request.op) }
    // The requester retries an unanswered request (mutations under their request id), so a refused reply is only lost.
    sendOrShed(ctx, ctx.sender, reply)
  }
}

/** Enough shape for ShardMasterState.apply not to throw; it checks the arguments itself. */
function isMasterOp(op: unknown): op is MasterOp {
  if (typeof op !== 'object' || op === null) return false
  const { type, requestId } = op as { type?: unknown; requestId?: unknown }
  return typeof type === 'string' && OP_TYPES.has(type) && (requestId === undefined || (typeof requestId === 'object' && requestId !== null))
}
