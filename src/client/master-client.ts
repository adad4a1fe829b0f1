/**
 * Talks to the shard master: Query for clients, Join / Leave / Move for the
 * cluster's admin. Shaped for several master replicas: a request goes to the
 * replica believed to lead; a reply without a result names the leader
 * (`leaderHint`) or, without a hint, sends us to the next replica; a timeout
 * moves on to the next replica and lengthens the next attempt.
 *
 * Mutations carry a request id (this client's id and a seq) that stays the
 * same across retries, so a Join that was applied but whose reply was lost is
 * not applied again. The master remembers only each client's latest
 * mutation, so a client keeps at most one mutation in flight: `mutate`
 * queues them.
 */
import { performance } from 'node:perf_hooks'
import type { MasterReply, MasterRequest } from '../actors/messages.js'
import type { Config } from '../actors/shard-config.js'
import type { MasterOp, MutationResult } from '../actors/shard-master-state.js'
import { assert, ShardKVError } from '../errors.js'
import { isSendFailure, sleep, type RpcChannel } from './rpc.js'

export const FIRST_MASTER_ATTEMPT_MS = 250
export const MAX_MASTER_ATTEMPT_MS = 2000
/** Pause before going round the replicas again when none answered as leader. */
const ROUND_BACKOFF_MS = 20

type Mutation = Exclude<MasterOp, { type: 'Query' }>
type MutationWithoutId = Mutation extends infer M ? (M extends Mutation ? Omit<M, 'requestId'> : never) : never
export type MutationSuccess = Exclude<MutationResult, { type: 'Error' }>

export class MasterClient {
  private leaderIndex = 0
  private nextMutationSeq = 1
  private mutations: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly rpc: RpcChannel,
    private readonly masters: readonly string[],
    private readonly clientId: string,
    /** Told which replica answered with a result (so led then); for the cluster's view of master roles. */
    private readonly onAnswer: (master: string) => void = () => {},
  ) {
    assert(masters.length > 0, 'a master client needs at least one master replica')
  }

  /** Configuration `num` (latest when absent or negative). Throws ERR_TIMEOUT at `deadlineMs`. */
  async query(deadlineMs: number, num?: number): Promise<Config> {
    const op: MasterOp = num === undefined ? { type: 'Query' } : { type: 'Query', num }
    const result = await this.request(op, deadlineMs)
    if (result.type === 'Config') return result.config
    if (result.type === 'Error') throw new ShardKVError(result.code, result.message)
    throw new ShardKVError('ERR_CODEC', `the master answered a Query with ${result.type}`)
  }

  /** Applies a Join, Leave or Move, one at a time per client; a master-side refusal is thrown as its ShardKVError. */
  mutate(op: MutationWithoutId, deadlineMs: number): Promise<MutationSuccess> {
    const run = this.mutations.then(() => this.mutateNow(op, deadlineMs))
    this.mutations = run.catch(() => {})
    return run
  }

  private async mutateNow(op: MutationWithoutId, deadlineMs: number): Promise<MutationSuccess> {
    const requestId = { clientId: this.clientId, seq: this.nextMutationSeq++ }
    const result = await this.request({ ...op, requestId } as Mutation, deadlineMs)
    switch (result.type) {
      case 'Joined':
      case 'Left':
      case 'Moved':
        return result
      case 'Error':
        throw new ShardKVError(result.code, result.message)
      case 'Config':
      case 'Stale':
        // Stale: an older seq than one the master already saw, impossible while mutations are queued.
        throw new ShardKVError('ERR_CODEC', `the master answered a ${op.type} with ${result.type}`)
      default: {
        const never: never = result
        throw new Error(`unknown master result ${JSON.stringify(never)}`)
      }
    }
  }

  private async request(op: MasterOp, deadlineMs: number): Promise<NonNullable<MasterReply['result']>> {
    let attemptMs = FIRST_MASTER_ATTEMPT_MS
    let unanswered = 0
    for (;;) {
      const leftMs = deadlineMs - performance.now()
      if (leftMs <= 0) throw new ShardKVError('ERR_TIMEOUT', `the shard master did not answer ${op.type} in time`)
      const master = this.masters[this.leaderIndex]!
      if (!(await this.rpc.waitForPeer(master, Math.min(deadlineMs, performance.now() + attemptMs)))) {
        this.nextReplica()
        continue
      }
      const message: MasterRequest = { type: 'master', seq: this.rpc.controlSeq(), op }
      const reply = await callOrMiss(this.rpc, master, message, Math.min(attemptMs, leftMs))
      if (reply?.result !== undefined) {
        this.onAnswer(master)
        return reply.result
      }
      if (reply === undefined) attemptMs = Math.min(2 * attemptMs, MAX_MASTER_ATTEMPT_MS)
      this.followHint(reply?.leaderHint)
      if (++unanswered % this.masters.length === 0) await sleep(ROUND_BACKOFF_MS)
    }
  }

  private followHint(hint: string | undefined): void {
    const index = hint === undefined ? -1 : this.masters.indexOf(hint)
    if (index >= 0) this.leaderIndex = index
    else this.nextReplica()
  }

  private nextReplica(): void {
    this.leaderIndex = (this.leaderIndex + 1) % this.masters.length
  }
}

/** A send that failed (the replica was unwired meanwhile, or its outbox is full) counts as an unanswered attempt. */
async function callOrMiss(rpc: RpcChannel, master: string, message: MasterRequest, timeoutMs: number): Promise<MasterReply | undefined> {
  try {
    return await rpc.call(master, message, 'masterr', timeoutMs)
  } catch (error) {
    if (isSendFailure(error)) return undefined
    throw error
  }
}
