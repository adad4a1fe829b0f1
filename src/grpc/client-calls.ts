/**
 * What the unary client and the pipeline share: the interface they both
 * offer (that of the in-process KvClient, plus per-call options), argument
 * checks made before anything is sent, and decoding a Get.
 */
import type { KvClient, Value } from '../client/kv-client.js'
import { checkValue } from '../client/limits.js'
import { describe } from '../client/options.js'
import { ShardKVError } from '../errors.js'
import { fromWireValue } from './values.js'
import type { GetResponse } from './wire.js'

/** put / get / append / delete / close, as on the in-process client. */
export type KeyValueStore = Pick<KvClient, 'put' | 'get' | 'append' | 'delete' | 'close'>

export interface CallOptions {
  /** This call's deadline, ms from now; default: the client's deadlineMs. Past it: ERR_TIMEOUT (outcome unknown). */
  readonly deadlineMs?: number
}

/** Size limits are the server's to enforce: it knows its maxKeyBytes and maxValueBytes. */
const NO_SIZE_LIMITS = { maxKeyBytes: Number.MAX_SAFE_INTEGER, maxValueBytes: Number.MAX_SAFE_INTEGER }
export const MAX_DEADLINE_MS = 3_600_000

/**
 * Refuses what cannot be encoded faithfully: a key that is not a string, a
 * value that is neither a string nor bytes, a string with a lone surrogate
 * (UTF-8 would turn it into U+FFFD), a bad deadline.
 */
export function checkCall(key: unknown, value: unknown, options: CallOptions | undefined): void {
  if (typeof key !== 'string') throw new ShardKVError('ERR_INVALID_KEY', `key must be a string, got ${describe(key)}`)
  if (value !== undefined) checkValue(value, NO_SIZE_LIMITS)
  checkCallOptions(options)
}

export function checkCallOptions(options: CallOptions | undefined): void {
  const deadlineMs = options?.deadlineMs
  if (deadlineMs !== undefined && !(Number.isSafeInteger(deadlineMs) && deadlineMs >= 1 && deadlineMs <= MAX_DEADLINE_MS)) {
    throw new ShardKVError('ERR_INVALID_OPTION', `deadlineMs must be an integer in 1..${MAX_DEADLINE_MS}, got ${describe(deadlineMs)}`)
  }
}

export function decodeGetResponse(response: GetResponse): Value | undefined {
  if (response.found !== true) return undefined
  return fromWireValue(response.value, () => new ShardKVError('ERR_CODEC', 'the server said found but sent no value'))
}
