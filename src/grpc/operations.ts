/**
 * The key-value operations as the server runs them: a wire request in, a
 * wire response out, through an in-process KvClient. Shared by the unary
 * methods and the Pipeline stream, so both validate and answer alike.
 */
import type { KvClient } from '../client/kv-client.js'
import { fromWireValue, missingValue, toWireValue } from './values.js'
import type { AppendRequest, AppendResponse, DeleteRequest, DeleteResponse, GetRequest, GetResponse, PutRequest, PutResponse } from './wire.js'

// An absent key is the empty string, which the client refuses as ERR_INVALID_KEY.

export async function runGet(kv: KvClient, request: GetRequest): Promise<GetResponse> {
  const value = await kv.get(request.key ?? '')
  return value === undefined ? { found: false } : { found: true, value: toWireValue(value) }
}

export async function runPut(kv: KvClient, request: PutRequest): Promise<PutResponse> {
  await kv.put(request.key ?? '', fromWireValue(request.value, missingValue))
  return {}
}

export async function runAppend(kv: KvClient, request: AppendRequest): Promise<AppendResponse> {
  await kv.append(request.key ?? '', fromWireValue(request.value, missingValue))
  return {}
}

export async function runDelete(kv: KvClient, request: DeleteRequest): Promise<DeleteResponse> {
  return { deleted: await kv.delete(request.key ?? '') }
}
