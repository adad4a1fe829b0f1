/**
 * Request/reply over one Endpoint. The endpoint has one message handler, so
 * every client component of a thread's endpoint (key-value operations, master
 * queries, status polls) shares this channel, and replies are matched to
 * their waiter by reply type and `seq`.
 *
 * An attempt waits for its reply at most `timeoutMs`, then resolves
 * `undefined`: what to do next (retry, another replica, give up) is the
 * caller's decision. Expiry is checked by one sweep timer for all attempts,
 * not a timer per request, because a pipelined client has thousands in
 * flight; an attempt therefore expires up to SWEEP_INTERVAL_MS late.
 *
 * A reply nobody waits for (a late answer to an attempt that already timed
 * out, a duplicate from the fault layer) is dropped. That is safe because a
 * retry reuses the request's identity, so any answer to any attempt is an
 * answer to the request.
 */
import { performance } from 'node:perf_hooks'
// For its side effect too: it registers the store's codec layouts in this thread.
import '../actors/messages.js'
import type { KvReply, MasterReply, StatusReply } from '../actors/messages.js'
import { assert, ShardKVError } from '../errors.js'
import type { Message } from '../runtime/actor.js'
import type { Endpoint } from '../runtime/endpoint.js'
import type { ReadViewReader } from '../runtime/read-view.js'

export type Reply = KvReply | MasterReply | StatusReply
export type ReplyType = Reply['type']
export type ReplyOf<T extends ReplyType> = Extract<Reply, { type: T }>

/** How often expired attempts are looked for; the lateness bound of an attempt timeout. */
const SWEEP_INTERVAL_MS = 10
/** How often `waitForPeer` looks whether the endpoint has been wired to an actor. */
const PEER_POLL_MS = 5

interface Waiter {
  readonly expiresAtMs: number
  readonly resolve: (reply: Reply | undefined) => void
  readonly reject: (error: ShardKVError) => void
}

export class RpcChannel {
  private readonly waiters: Record<ReplyType, Map<number, Waiter>> = { kvr: new Map(), masterr: new Map(), statusr: new Map() }
  private waiterCount = 0
  private sweepTimer: NodeJS.Timeout | undefined
  private closedReason: ShardKVError | undefined
  private readonly closeHandlers: ((reason: ShardKVError) => void)[] = []
  /** Seqs of master and status requests: transport-level matching only, not request identity. */
  private nextControlSeq = 1

  constructor(private readonly endpoint: Endpoint) {
    endpoint.onMessage((message) => this.deliver(message))
    endpoint.onClose((reason) => this.shutDown(reason))
  }

  get isOpen(): boolean {
    return this.closedReason === undefined
  }

  /** Fresh seq for a master or status request. */
  controlSeq(): number {
    return this.nextControlSeq++
  }

  /** Runs `handler` once when the channel closes (at once if it is closed). */
  onClose(handler: (reason: ShardKVError) => void): void {
    if (this.closedReason !== undefined) handler(this.closedReason)
    else this.closeHandlers.push(handler)
  }

  /** Throws the reason the channel closed, if it did. */
  assertOpen(): void {
    if (this.closedReason !== undefined) throw this.closedReason
  }

  has(id: string): boolean {
    return this.endpoint.has(id)
  }

  /** A reader of actor `id`'s read view, when it publishes one. */
  readView(id: string): ReadViewReader | undefined {
    return this.endpoint.readView(id)
  }

  /**
   * Sends `request` to `to` and resolves with the reply of type `replyType`
   * carrying `request.seq`, or `undefined` after `timeoutMs`. Rejects with
   * ERR_CLOSED when the channel closes, and with the endpoint's error when the
   * send itself fails (ERR_UNKNOWN_ACTOR: not wired; ERR_OVERLOADED: the
   * destination's outbox is full).
   */
  call<T extends ReplyType>(to: string, request: Message & { readonly seq: number }, replyType: T, timeoutMs: number): Promise<ReplyOf<T> | undefined> {
    this.assertOpen()
    const waiting = this.waiters[replyType]
    assert(!waiting.has(request.seq), `two attempts of ${replyType} seq ${request.seq} at once`)
    this.endpoint.send(to, request)
    return new Promise<ReplyOf<T> | undefined>((resolve, reject) => {
      const expiresAtMs = performance.now() + timeoutMs
      waiting.set(request.seq, { expiresAtMs, resolve: resolve as (reply: Reply | undefined) => void, reject })
      this.waiterCount++
      this.sweepTimer ??= setInterval(this.sweep, SWEEP_INTERVAL_MS)
    })
  }

  /** Resolves true once the endpoint is wired to `id`, false at `deadlineMs` (performance.now() time). */
  async waitForPeer(id: string, deadlineMs: number): Promise<boolean> {
    while (!this.endpoint.has(id)) {
      this.assertOpen()
      const leftMs = deadlineMs - performance.now()
      if (leftMs <= 0) return false
      await sleep(Math.min(PEER_POLL_MS, leftMs))
    }
    return true
  }

  /** Leaves the network; waiters reject with `reason`. */
  close(reason: ShardKVError): void {
    if (this.closedReason !== undefined) return
    this.shutDown(reason)
    this.endpoint.close()
  }

  private deliver(message: Message): void {
    const type = message.type
    if (type !== 'kvr' && type !== 'masterr' && type !== 'statusr') return
    const reply = message as Reply
    const waiting = this.waiters[type]
    const waiter = waiting.get(reply.seq)
    if (waiter === undefined) return
    waiting.delete(reply.seq)
    this.waiterCount--
    this.stopSweepingIfIdle()
    waiter.resolve(reply)
  }

  private readonly sweep = (): void => {
    const nowMs = performance.now()
    for (const waiting of Object.values(this.waiters)) {
      for (const [seq, waiter] of waiting) {
        if (waiter.expiresAtMs > nowMs) continue
        waiting.delete(seq)
        this.waiterCount--
        waiter.resolve(undefined)
      }
    }
    this.stopSweepingIfIdle()
  }

  private stopSweepingIfIdle(): void {
    if (this.waiterCount > 0 || this.sweepTimer === undefined) return
    clearInterval(this.sweepTimer)
    this.sweepTimer = undefined
  }

  private shutDown(reason: ShardKVError): void {
    if (this.closedReason !== undefined) return
    this.closedReason = reason
    for (const waiting of Object.values(this.waiters)) {
      for (const waiter of waiting.values()) waiter.reject(reason)
      waiting.clear()
    }
    this.waiterCount = 0
    this.stopSweepingIfIdle()
    for (const handler of this.closeHandlers.splice(0)) handler(reason)
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** The endpoint refused a send: the destination is not (or no longer) wired, or its outbox is full. Both pass. */
export function isSendFailure(error: unknown): boolean {
  return error instanceof ShardKVError && (error.code === 'ERR_UNKNOWN_ACTOR' || error.code === 'ERR_OVERLOADED')
}
