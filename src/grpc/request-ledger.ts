/**
 * The server's memory of remote request ids (RequestId in shardkv.proto):
 * what makes a retried Put, Append or Delete take effect at most once over
 * gRPC. Used by the unary methods and the Pipeline streams alike, so a retry
 * may come by either.
 *
 * Per (client, seq) the ledger keeps the operation's outcome as a promise:
 * - pending: a duplicate awaits the same promise (one run, one effect);
 * - settled OK or with a definite error: a duplicate gets that outcome again;
 * - settled with ERR_TIMEOUT: the outcome is unknown inside the cluster too,
 *   so the entry is dropped and the next duplicate runs again. The caller
 *   runs every mutation of one remote client through the same in-process
 *   KvClient (KvPool.pickFor), whose RetryMemory then resends the re-run
 *   under its own first seq: the storage nodes deduplicate it.
 *
 * Bounds, so that clients that never come back cannot grow the server:
 * - `acked_below`: the client will not resend a seq below it, so those are
 *   forgotten, and a request below it is refused (a late copy);
 * - MAX_SEQS_PER_CLIENT per client, the lowest forgotten first: the client
 *   keeps `seq - acked_below` below it, so a well-behaved client never loses
 *   one it may still resend;
 * - MAX_LEDGER_CLIENTS clients, the least recently used forgotten whole;
 * - MAX_LEDGER_SEQS in all, the lowest seq of the least recently used client
 *   forgotten first: the two bounds above alone would allow 4M entries.
 * A forgotten pair is a new request if it comes again: at most once holds
 * for as long as the server remembers the pair.
 */
import { ShardKVError } from '../errors.js'
import { describe } from '../client/options.js'
import type { WireRequestId } from './wire.js'

/** Clients remembered; one entry costs a Map and a few numbers, so this is about stale clients, not memory. */
export const MAX_LEDGER_CLIENTS = 4096
/** Seqs remembered per client: the window a client keeps between acked_below and its newest seq. */
export const MAX_SEQS_PER_CLIENT = 1024
/** Seqs remembered in all (about 150 bytes each: tens of MB at the bound). */
export const MAX_LEDGER_SEQS = 262_144
/** Client ids are nanoids (21 characters) in our client; the bound stops a bad one from growing the ledger. */
export const MAX_CLIENT_ID_CHARS = 256

export type MutationKind = 'put' | 'append' | 'delete'

/** A validated RequestId. */
export interface RequestId {
  readonly client: string
  readonly seq: number
  readonly ackedBelow: number
}

export interface LedgerLimits {
  /** Default MAX_LEDGER_CLIENTS. */
  readonly maxClients: number
  /** Default MAX_SEQS_PER_CLIENT. */
  readonly maxSeqsPerClient: number
  /** Default MAX_LEDGER_SEQS. */
  readonly maxSeqs: number
}

export const DEFAULT_LEDGER_LIMITS: LedgerLimits = { maxClients: MAX_LEDGER_CLIENTS, maxSeqsPerClient: MAX_SEQS_PER_CLIENT, maxSeqs: MAX_LEDGER_SEQS }

interface Entry {
  readonly kind: MutationKind
  readonly outcome: Promise<unknown>
}

interface ClientMemory {
  ackedBelow: number
  /** seq -> entry; Map order is arrival order, which is roughly ascending seq. */
  readonly entries: Map<number, Entry>
}

/**
 * The id of a request, validated; undefined when it has none (it then runs
 * as every request did before ids). A malformed id is ERR_INVALID_OPTION.
 */
export function readRequestId(wire: WireRequestId | undefined): RequestId | undefined {
  if (wire === undefined || wire === null) return undefined
  // Absent proto3 scalars are their defaults: "" and 0.
  const client = wire.client ?? ''
  const seq = wire.seq ?? 0
  const ackedBelow = wire.ackedBelow ?? 0
  if (typeof client !== 'string' || client.length === 0 || client.length > MAX_CLIENT_ID_CHARS) {
    throw new ShardKVError('ERR_INVALID_OPTION', `id.client must be 1..${MAX_CLIENT_ID_CHARS} characters, got ${describe(client)}`)
  }
  if (!isWireInteger(seq)) throw new ShardKVError('ERR_INVALID_OPTION', `id.seq must be an integer in 0..2^53-1, got ${describe(seq)}`)
  if (!isWireInteger(ackedBelow) || ackedBelow > seq) {
    throw new ShardKVError('ERR_INVALID_OPTION', `id.acked_below must be an integer in 0..seq (${seq}), got ${describe(ackedBelow)}`)
  }
  return { client, seq, ackedBelow }
}

export class RequestLedger {
  /** client -> memory; Map order is least recently used first. */
  private readonly clients = new Map<string, ClientMemory>()
  private seqCount = 0

  constructor(private readonly limits: LedgerLimits = DEFAULT_LEDGER_LIMITS) {}

  /** Clients and seqs remembered now. */
  get size(): { readonly clients: number; readonly seqs: number } {
    return { clients: this.clients.size, seqs: this.seqCount }
  }

  /**
   * Runs `operation` at most once for `id` (see the module comment); a
   * duplicate gets the first run's outcome. `kind` must match the first
   * run's: a seq reused for another kind of mutation is ERR_INVALID_OPTION.
   */
  run<T>(id: RequestId, kind: MutationKind, operation: () => Promise<T>): Promise<T> {
    const memory = this.touch(id.client)
    this.raiseAckedBelow(memory, id.ackedBelow)
    if (id.seq < memory.ackedBelow) {
      return Promise.reject(new ShardKVError('ERR_INVALID_OPTION', `seq ${id.seq} is below this client's acked_below (${memory.ackedBelow}): it was answered, and is not run again`))
    }
    const known = memory.entries.get(id.seq)
    if (known !== undefined) {
      if (known.kind !== kind) return Promise.reject(new ShardKVError('ERR_INVALID_OPTION', `seq ${id.seq} of this client was a ${known.kind}, not a ${kind}; use a new seq per mutation`))
      // Same kind, so the same response type as this caller's.
      return known.outcome as Promise<T>
    }
    const outcome = start(operation)
    memory.entries.set(id.seq, { kind, outcome })
    this.seqCount++
    outcome.catch((error: unknown) => {
      if (error instanceof ShardKVError && error.code === 'ERR_TIMEOUT') this.dropIfSame(id, outcome)
    })
    this.enforceBounds(memory)
    return outcome
  }

  /** The client's memory, made the most recently used; the least recently used goes past maxClients. */
  private touch(client: string): ClientMemory {
    const memory = this.clients.get(client) ?? { ackedBelow: 0, entries: new Map<number, Entry>() }
    this.clients.delete(client)
    this.clients.set(client, memory)
    if (this.clients.size > this.limits.maxClients) {
      const [oldest, forgotten] = this.clients.entries().next().value!
      this.clients.delete(oldest)
      this.seqCount -= forgotten.entries.size
    }
    return memory
  }

  /**
   * Forgets the seqs below the new mark. Seqs arrive roughly in order, so
   * this stops at the first one still needed; one left behind by
   * out-of-order arrival goes when the client reaches its bound.
   */
  private raiseAckedBelow(memory: ClientMemory, ackedBelow: number): void {
    if (ackedBelow <= memory.ackedBelow) return
    memory.ackedBelow = ackedBelow
    for (const seq of memory.entries.keys()) {
      if (seq >= ackedBelow) return
      this.delete(memory, seq)
    }
  }

  private enforceBounds(memory: ClientMemory): void {
    if (memory.entries.size > this.limits.maxSeqsPerClient) {
      for (const seq of memory.entries.keys()) if (seq < memory.ackedBelow) this.delete(memory, seq)
      while (memory.entries.size > this.limits.maxSeqsPerClient) this.delete(memory, lowestSeq(memory))
    }
    while (this.seqCount > this.limits.maxSeqs) {
      const [client, leastRecent] = this.clients.entries().next().value!
      this.delete(leastRecent, lowestSeq(leastRecent))
      if (leastRecent.entries.size === 0) this.clients.delete(client)
    }
  }

  /** After ERR_TIMEOUT: forget the pair, unless a later run already replaced it. */
  private dropIfSame(id: RequestId, outcome: Promise<unknown>): void {
    const memory = this.clients.get(id.client)
    if (memory?.entries.get(id.seq)?.outcome === outcome) this.delete(memory, id.seq)
  }

  private delete(memory: ClientMemory, seq: number): void {
    if (memory.entries.delete(seq)) this.seqCount--
  }
}

/** The operation's promise; a synchronous throw becomes its rejection. */
function start<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return operation()
  } catch (error) {
    return Promise.reject(error)
  }
}

function lowestSeq(memory: ClientMemory): number {
  let lowest = Number.POSITIVE_INFINITY
  for (const seq of memory.entries.keys()) if (seq < lowest) lowest = seq
  return lowest
}

function isWireInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}
