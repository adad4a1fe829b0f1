/**
 * The request ids a GrpcClient puts on its mutations (RequestId in
 * shardkv.proto), as kv-client.ts does inside the cluster: one nanoid per
 * client, a new seq per mutation, and the same seq again when the caller
 * retries an identical mutation whose outcome was unknown (RetryMemory), so
 * the server answers the retry from the first run instead of applying it
 * twice.
 *
 * One RequestIds serves a client's unary calls and all its pipelines: a
 * pipeline that broke mid-call cannot carry the retry itself, so the retry
 * must be recognised on another pipeline or as a unary call.
 *
 * `ackedBelow` is the lowest seq in flight or remembered for a retry (else
 * the next new seq): every seq below it was answered or given up on. The
 * server remembers at most MAX_SEQS_PER_CLIENT seqs per client, so a new seq
 * waits (until its call's deadline) while it would be that far above
 * `ackedBelow`: otherwise the server could forget an early, still-retryable
 * seq and apply its retry twice.
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { nanoid } from 'nanoid'
import type { Value } from '../client/kv-client.js'
import { lowestOutstanding, RetryMemory } from '../client/retry-memory.js'
import { ShardKVError, type ErrorCode } from '../errors.js'
import { MAX_SEQS_PER_CLIENT, type MutationKind } from './request-ledger.js'
import type { WireRequestId } from './wire.js'

/** Seqs between `ackedBelow` and the newest seq sent: what the server remembers per client. */
export const SEQ_WINDOW = MAX_SEQS_PER_CLIENT
/**
 * A call is recognised as the retry of one whose outcome was unknown for at
 * least this long after the failure (or the client's deadlineMs, if longer),
 * so a caller may back off before retrying. Cheap: a remembered call is
 * dropped anyway after RETRY_WINDOW_OPS newer mutations (retry-memory.ts).
 */
export const MIN_RETRY_WINDOW_MS = 60_000
const MAX_WINDOW_PAUSE_MS = 100

/**
 * Failures after which the mutation may or may not have been applied: a
 * deadline (ours or the cluster's), a connection or stream lost mid-call,
 * a server shutting down mid-call, an answer that did not parse. Any other
 * code is the server's definite refusal: nothing was applied.
 */
const UNKNOWN_OUTCOME_CODES: ReadonlySet<ErrorCode> = new Set(['ERR_TIMEOUT', 'ERR_CLOSED', 'ERR_CODEC'])

export interface Mutation {
  readonly op: MutationKind
  readonly key: string
  readonly value: Value | undefined
}

export class RequestIds {
  readonly clientId = nanoid()
  private nextSeq = 1
  /** Seqs of new mutations in flight; Set order is ascending seq. Retried seqs live in `retryMemory`. */
  private readonly inflight = new Set<number>()
  private readonly retryMemory = new RetryMemory()
  /** How long after an unknown outcome an identical call still counts as its retry. */
  private readonly retryWindowMs: number

  /** `deadlineMs`: the client's default call deadline. */
  constructor(deadlineMs: number) {
    this.retryWindowMs = Math.max(deadlineMs, MIN_RETRY_WINDOW_MS)
  }

  /**
   * The seq of `mutation`: the remembered one if it retries a call whose
   * outcome was unknown, else a new one once it fits in the window.
   * ERR_TIMEOUT after waiting `waitLimitMs` (the call's deadline); nothing was sent.
   */
  async claim(mutation: Mutation, waitLimitMs: number): Promise<number> {
    const deadlineAtMs = performance.now() + waitLimitMs
    let pauseMs = 1
    for (;;) {
      this.retryMemory.expire(performance.now(), this.nextSeq)
      const retried = this.retryMemory.take(mutation.op, mutation.key, mutation.value)
      if (retried !== undefined) return retried
      if (this.nextSeq - this.ackedBelow() < SEQ_WINDOW) return this.newSeq()
      const leftMs = deadlineAtMs - performance.now()
      if (leftMs <= 0) {
        throw new ShardKVError('ERR_TIMEOUT', `the oldest mutation on this client has held back new ones past the deadline (${SEQ_WINDOW} seqs outstanding); nothing was sent`)
      }
      await sleep(Math.min(pauseMs, leftMs))
      pauseMs = Math.min(2 * pauseMs, MAX_WINDOW_PAUSE_MS)
    }
  }

  /** The wire id of a claimed seq, with the current `ackedBelow`. */
  idOf(seq: number): WireRequestId {
    return { client: this.clientId, seq, ackedBelow: this.ackedBelow() }
  }

  /**
   * The call of `seq` ended: remembered for a retry when `outcomeUnknown`,
   * forgotten otherwise (answered, or refused for good).
   */
  settle(seq: number, mutation: Mutation, outcomeUnknown: boolean): void {
    this.inflight.delete(seq)
    if (outcomeUnknown) this.retryMemory.remember(seq, mutation.op, mutation.key, mutation.value, performance.now() + this.retryWindowMs)
    else this.retryMemory.forget(seq)
  }

  private newSeq(): number {
    const seq = this.nextSeq++
    this.inflight.add(seq)
    return seq
  }

  /** Lowest seq still outstanding or remembered; the next new seq when there is none. */
  private ackedBelow(): number {
    return lowestOutstanding(this.nextSeq, this.inflight, this.retryMemory)
  }
}

/** Whether a failed call's mutation may have been applied (see UNKNOWN_OUTCOME_CODES). */
export function isUnknownOutcome(error: unknown): boolean {
  return error instanceof ShardKVError && UNKNOWN_OUTCOME_CODES.has(error.code)
}
