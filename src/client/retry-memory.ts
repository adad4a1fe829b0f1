/**
 * What makes "ERR_TIMEOUT: retrying the same call is safe" true.
 *
 * A mutation (put, append, delete) that timed out may or may not have been
 * applied. If the caller's retry went out under a new seq and the first had
 * been applied, an append would be applied twice. So the client remembers
 * each timed-out mutation (op, key, value, seq), and the next call with the
 * same op, key and value is sent under the remembered seq: the storage node's
 * duplicate table then answers it from the first application, if there was
 * one. While remembered, the seq stays below the client's `ackedBelow`, so
 * the server keeps its entry.
 *
 * Bounds, so that a timed-out call the caller never retries does not pin the
 * servers' duplicate tables forever:
 * - a call is recognised as a retry within `windowMs` of its timeout (the
 *   client passes its opTimeoutMs) and while fewer than RETRY_WINDOW_OPS
 *   newer operations were started (a remembered seq holds back the client's
 *   `ackedBelow`, and so its window of new seqs);
 * - at most RETRY_MEMORY_CALLS calls are remembered; past it the oldest goes.
 * A retry that comes later is a new operation.
 *
 * Reads are never remembered: answering a retried get from the first
 * attempt's result could return a value older than the retry itself.
 */
import { Buffer } from 'node:buffer'
import type { KvOp, StoredValue } from '../actors/messages.js'

export const RETRY_MEMORY_CALLS = 256
/** Below the client's SEQ_WINDOW, so that a call never retried stops holding back new operations. */
export const RETRY_WINDOW_OPS = 512
/** Expiry is a scan of up to RETRY_MEMORY_CALLS entries: not on every operation. */
const EXPIRE_INTERVAL_MS = 50

type MutationOp = Exclude<KvOp, 'get'>

interface RememberedCall {
  readonly seq: number
  readonly op: MutationOp
  readonly key: string
  readonly value: StoredValue | undefined
  /** Waiting for the caller's retry until then; undefined while the retry is in flight. */
  expiresAtMs: number | undefined
}

export class RetryMemory {
  /** seq -> call; Map order is the order of timeouts, oldest first. */
  private readonly calls = new Map<number, RememberedCall>()
  private readonly seqsByKey = new Map<string, Set<number>>()
  private lowestCache: number | undefined
  private lowestKnown = true
  private lastExpiryMs = Number.NEGATIVE_INFINITY

  get size(): number {
    return this.calls.size
  }

  /** Remembers a mutation that timed out (again, for a retry that timed out too). */
  remember(seq: number, op: MutationOp, key: string, value: StoredValue | undefined, expiresAtMs: number): void {
    this.forget(seq)
    // A copy: the caller may reuse its array, and a changed value is a different call.
    const copy = value instanceof Uint8Array ? value.slice() : value
    this.calls.set(seq, { seq, op, key, value: copy, expiresAtMs })
    let seqs = this.seqsByKey.get(key)
    if (seqs === undefined) this.seqsByKey.set(key, (seqs = new Set()))
    seqs.add(seq)
    if (this.lowestKnown && (this.lowestCache === undefined || seq < this.lowestCache)) this.lowestCache = seq
    if (this.calls.size > RETRY_MEMORY_CALLS) this.evictOldestWaiting()
  }

  /** The seq of a remembered call equal to this one, now marked in flight; undefined if there is none. */
  take(op: MutationOp, key: string, value: StoredValue | undefined): number | undefined {
    const seqs = this.seqsByKey.get(key)
    if (seqs === undefined) return undefined
    for (const seq of seqs) {
      const call = this.calls.get(seq)!
      if (call.expiresAtMs === undefined || call.op !== op || !sameValue(call.value, value)) continue
      call.expiresAtMs = undefined
      return seq
    }
    return undefined
  }

  /** The retry of `seq` finished (answered, or failed for good): forget it. */
  forget(seq: number): void {
    const call = this.calls.get(seq)
    if (call === undefined) return
    this.calls.delete(seq)
    const seqs = this.seqsByKey.get(call.key)!
    seqs.delete(seq)
    if (seqs.size === 0) this.seqsByKey.delete(call.key)
    if (seq === this.lowestCache) this.lowestKnown = false
  }

  /**
   * Drops calls whose retry window closed. `nextSeq` is the seq the next new
   * operation will get. The lowest seq is checked every time (it is what
   * holds the client's window back); a full scan runs at most every
   * EXPIRE_INTERVAL_MS.
   */
  expire(nowMs: number, nextSeq: number): void {
    if (this.calls.size === 0) return
    for (let lowest = this.lowest(); lowest !== undefined; lowest = this.lowest()) {
      const call = this.calls.get(lowest)!
      if (call.expiresAtMs === undefined || !isExpired(call, nowMs, nextSeq)) break
      this.forget(lowest)
    }
    if (nowMs - this.lastExpiryMs < EXPIRE_INTERVAL_MS) return
    this.lastExpiryMs = nowMs
    // Deleting the entry being visited is safe while iterating a Map.
    for (const call of this.calls.values()) {
      if (call.expiresAtMs !== undefined && isExpired(call, nowMs, nextSeq)) this.forget(call.seq)
    }
  }

  /** Lowest remembered seq (waiting or in flight), which the client's ackedBelow must not pass. */
  lowest(): number | undefined {
    if (!this.lowestKnown) {
      this.lowestCache = undefined
      for (const seq of this.calls.keys()) if (this.lowestCache === undefined || seq < this.lowestCache) this.lowestCache = seq
      this.lowestKnown = true
    }
    return this.lowestCache
  }

  private evictOldestWaiting(): void {
    for (const call of this.calls.values()) {
      if (call.expiresAtMs === undefined) continue
      this.forget(call.seq)
      return
    }
  }
}

function isExpired(call: RememberedCall, nowMs: number, nextSeq: number): boolean {
  return call.expiresAtMs !== undefined && (call.expiresAtMs <= nowMs || nextSeq - call.seq > RETRY_WINDOW_OPS)
}

function sameValue(left: StoredValue | undefined, right: StoredValue | undefined): boolean {
  if (typeof left === 'string' || left === undefined) return left === right
  if (!(right instanceof Uint8Array)) return false
  return Buffer.from(left.buffer, left.byteOffset, left.byteLength).equals(right)
}

/**
 * A client's `ackedBelow`: the lowest seq still in flight (`inflight` in
 * ascending order) or remembered for a retry, else `nextSeq`. Every seq
 * below it was answered, or given up on and forgotten.
 */
export function lowestOutstanding(nextSeq: number, inflight: ReadonlySet<number>, memory: RetryMemory): number {
  let lowest = nextSeq
  const firstInflight = inflight.values().next()
  if (!firstInflight.done && firstInflight.value < lowest) lowest = firstInflight.value
  const remembered = memory.lowest()
  if (remembered !== undefined && remembered < lowest) lowest = remembered
  return lowest
}
