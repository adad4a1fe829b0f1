/**
 * The key-value operations as the server runs them: a wire request in, a
 * wire response out, through an in-process KvClient. Shared by the unary
 * methods and the Pipeline stream, so both validate and answer alike, and a
 * mutation's request id means the same whichever way it came.
 *
 * A mutation with a request id runs through the RequestLedger, on the
 * KvClient of its remote client (KvPool.pickFor); one without, and every
 * get, round-robin.
 */
import type { KvClient } from '../client/kv-client.js'
import type { KvPool } from './kv-pool.js'
import { readRequestId, type MutationKind, type RequestLedger } from './request-ledger.js'
import { fromWireValue, missingValue, toWireValue } from './values.js'
import type { AppendRequest, AppendResponse, DeleteRequest, DeleteResponse, GetRequest, GetResponse, PutRequest, PutResponse, WireRequestId } from './wire.js'

/** What the operations run on: the server's in-process clients and its memory of request ids. */
export interface KvBackend {
  readonly pool: KvPool
  readonly ledger: RequestLedger
}

// An absent key is the empty string, which the client refuses as ERR_INVALID_KEY.

export async function runGet(backend: KvBackend, request: GetRequest): Promise<GetResponse> {
  const value = await backend.pool.pick().get(request.key ?? '')
  return value === undefined ? { found: false } : { found: true, value: toWireValue(value) }
}

export function runPut(backend: KvBackend, request: PutRequest): Promise<PutResponse> {
  return mutate(backend, 'put', request.id, async (kv) => {
    await kv.put(request.key ?? '', fromWireValue(request.value, missingValue))
    return {}
  })
}

export function runAppend(backend: KvBackend, request: AppendRequest): Promise<AppendResponse> {
  return mutate(backend, 'append', request.id, async (kv) => {
    await kv.append(request.key ?? '', fromWireValue(request.value, missingValue))
    return {}
  })
}

export function runDelete(backend: KvBackend, request: DeleteRequest): Promise<DeleteResponse> {
  return mutate(backend, 'delete', request.id, async (kv) => ({ deleted: await kv.delete(request.key ?? '') }))
}

/** Runs a mutation: at most once per request id when it has one (see request-ledger.ts). */
async function mutate<T>(backend: KvBackend, kind: MutationKind, wireId: WireRequestId | undefined, apply: (kv: KvClient) => Promise<T>): Promise<T> {
  const id = readRequestId(wireId)
  if (id === undefined) return apply(backend.pool.pick())
  const kv = backend.pool.pickFor(id.client)
  return backend.ledger.run(id, kind, () => apply(kv))
}
