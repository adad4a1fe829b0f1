/**
 * The chaos workload: `clients` clients, each keeping `inflight` operations
 * outstanding (one sequential loop per slot), of put / append / get over
 * `keys` keys, every one recorded in a shared HistoryRecorder.
 *
 * Puts go to one key in PUT_KEY_EVERY only: a put may hide every write before
 * it from the lost-write check, so the other keys (appends and gets only)
 * keep every acknowledged append checkable.
 *
 * Every value written is a unique, delimited piece `c<client>:<seq>;`, so the
 * lost-write check finds each append exactly (a piece cannot be formed across
 * the boundary of two others) and a put is recognizable at the head of a value.
 *
 * Outcomes: an error that certainly changed nothing (a rejected argument) is
 * a failure; any other error, ERR_TIMEOUT above all, leaves the outcome
 * unknown: the write may have been applied, or may still be.
 */
import type { Cluster } from '../cluster.js'
import type { KvClient } from '../client/kv-client.js'
import type { ErrorCode } from '../errors.js'
import { ShardKVError } from '../errors.js'
import type { HistoryRecorder, KvOperationName } from '../check/history.js'
import type { Prng } from '../runtime/prng.js'

export interface WorkloadOptions {
  readonly clients: number
  readonly inflight: number
  readonly keys: readonly string[]
}

/** Relative odds of each operation on a key that takes puts; on the others a put is an append. */
const OPERATION_WEIGHTS: readonly (readonly [KvOperationName, number])[] = [
  ['append', 45],
  ['get', 40],
  ['put', 15],
]

/** One key in this many takes puts. */
export const PUT_KEY_EVERY = 4

/** Errors after which the store certainly did nothing: the client rejects them before sending. */
const NO_EFFECT_CODES: ReadonlySet<ErrorCode> = new Set(['ERR_INVALID_KEY', 'ERR_KEY_TOO_LARGE', 'ERR_INVALID_VALUE', 'ERR_VALUE_TOO_LARGE', 'ERR_TYPE_MISMATCH', 'ERR_INVALID_OPTION'])

export interface LiveCounts {
  ok: number
  failed: number
  unknown: number
}

export class Workload {
  readonly counts: LiveCounts = { ok: 0, failed: 0, unknown: 0 }
  private stopped = false
  private readonly loops: Promise<void>[] = []
  private readonly clients: KvClient[] = []
  /** A bug a loop hit (not an operating error): the run stops and reports it. */
  private failure: unknown

  constructor(
    private readonly recorder: HistoryRecorder,
    private readonly options: WorkloadOptions,
  ) {}

  /** Starts every client loop; `random` seeds each client's own stream. */
  start(cluster: Cluster, random: Prng): void {
    for (let index = 0; index < this.options.clients; index++) {
      const client = cluster.client()
      this.clients.push(client)
      const state = { clientId: `c${index}`, random: random.fork(), nextSeq: 0 }
      for (let slot = 0; slot < this.options.inflight; slot++) {
        this.loops.push(
          this.loop(client, state).catch((error: unknown) => {
            this.failure ??= error
            this.stopped = true
          }),
        )
      }
    }
  }

  /** Gets answered from a leader's read view in this thread (the rest asked a leader). */
  get viewReads(): number {
    return this.clients.reduce((sum, client) => sum + client.stats().viewReads, 0)
  }

  /** Issues no new operation; resolves when those in flight settle or `boundMs` passes (those still out stay unknown). */
  async stop(boundMs: number): Promise<void> {
    this.stopped = true
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, boundMs)
    })
    await Promise.race([Promise.all(this.loops), bound])
    clearTimeout(timer)
    if (this.failure !== undefined) throw this.failure
  }

  private async loop(client: KvClient, state: { clientId: string; random: Prng; nextSeq: number }): Promise<void> {
    while (!this.stopped) {
      const keyIndex = state.random.int(this.options.keys.length)
      const key = this.options.keys[keyIndex]!
      const drawn = drawOperation(state.random)
      const op = drawn === 'put' && keyIndex % PUT_KEY_EVERY !== 0 ? 'append' : drawn
      const piece = `${state.clientId}:${state.nextSeq++};`
      await runRecorded(this.recorder, client, state.clientId, op, key, piece, this.counts)
    }
  }
}

/** Runs one operation and records it; returns the value a get read, or undefined. */
export async function runRecorded(
  recorder: HistoryRecorder,
  client: KvClient,
  clientId: string,
  op: Exclude<KvOperationName, 'delete'>,
  key: string,
  piece: string,
  counts: LiveCounts,
): Promise<{ ok: boolean; value?: string | Uint8Array }> {
  const input = op === 'get' ? undefined : piece
  const id = recorder.begin(clientId, op, key, input)
  try {
    const value = op === 'get' ? await client.get(key) : await (op === 'put' ? client.put(key, piece) : client.append(key, piece))
    recorder.end(id, value ?? undefined)
    counts.ok++
    return value === undefined ? { ok: true } : { ok: true, value }
  } catch (error) {
    // Anything but a ShardKVError is a bug in the client: let it crash the run.
    if (!(error instanceof ShardKVError)) throw error
    if (NO_EFFECT_CODES.has(error.code)) {
      recorder.fail(id, error.code)
      counts.failed++
    } else {
      recorder.unknown(id)
      counts.unknown++
    }
    return { ok: false }
  }
}

function drawOperation(random: Prng): Exclude<KvOperationName, 'delete'> {
  const total = OPERATION_WEIGHTS.reduce((sum, [, weight]) => sum + weight, 0)
  let draw = random.int(total)
  for (const [op, weight] of OPERATION_WEIGHTS) {
    if (draw < weight) return op as Exclude<KvOperationName, 'delete'>
    draw -= weight
  }
  throw new Error('unreachable: the draw is below the total weight')
}
