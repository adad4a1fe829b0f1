/**
 * What a client checks before an operation leaves its thread: a bad key or
 * value is refused here, so it never reaches, slows or crashes a storage node,
 * and the caller gets the precise reason.
 *
 * Keys: a non-empty string of at most `maxKeyBytes` UTF-8 bytes. The empty
 * string is refused (ERR_INVALID_KEY): it is almost always a missing value
 * that fell through (`obj.name ?? ''`), and refusing it is cheaper to undo
 * later than accepting it. A lone UTF-16 surrogate is allowed and means
 * U+FFFD, exactly as in the shard hash (see shard-hash.ts): "\uD800" and
 * "\uFFFD" are the same key.
 *
 * Values: a string or a Uint8Array (a Buffer is one) of at most
 * `maxValueBytes` bytes (UTF-8 bytes for a string). A string must be
 * well-formed UTF-16: a lone surrogate would come back as U+FFFD, not as
 * stored, so it is refused (ERR_INVALID_VALUE); store such data as bytes.
 * Bytes come back as a plain Uint8Array.
 */
import type { StoredValue } from '../actors/messages.js'
import { utf8ByteLength } from '../actors/shard-hash.js'
import { ShardKVError } from '../errors.js'
import { describe } from './options.js'

export interface ValueLimits {
  readonly maxKeyBytes: number
  readonly maxValueBytes: number
}

/** Throws ERR_INVALID_KEY or ERR_KEY_TOO_LARGE. */
export function checkKey(key: unknown, limits: ValueLimits): asserts key is string {
  if (typeof key !== 'string') throw new ShardKVError('ERR_INVALID_KEY', `key must be a string, got ${describe(key)}`)
  if (key.length === 0) throw new ShardKVError('ERR_INVALID_KEY', 'key must not be empty')
  // A UTF-16 code unit is 1..3 UTF-8 bytes: a cheap bound before counting.
  if (key.length * 3 <= limits.maxKeyBytes) return
  const bytes = utf8ByteLength(key)
  if (bytes > limits.maxKeyBytes) {
    throw new ShardKVError('ERR_KEY_TOO_LARGE', `key is ${bytes} UTF-8 bytes; maxKeyBytes is ${limits.maxKeyBytes}`)
  }
}

/** Throws ERR_INVALID_VALUE or ERR_VALUE_TOO_LARGE. */
export function checkValue(value: unknown, limits: ValueLimits): asserts value is StoredValue {
  if (value instanceof Uint8Array) {
    if (value.byteLength > limits.maxValueBytes) throw tooLarge(value.byteLength, limits)
    return
  }
  if (typeof value !== 'string') {
    throw new ShardKVError('ERR_INVALID_VALUE', `value must be a string or a Uint8Array, got ${describe(value)}`)
  }
  if (!isWellFormed(value)) {
    throw new ShardKVError('ERR_INVALID_VALUE', 'a string value must be well-formed UTF-16 (it has a lone surrogate); store such data as a Uint8Array')
  }
  if (value.length * 3 <= limits.maxValueBytes) return
  const bytes = utf8ByteLength(value)
  if (bytes > limits.maxValueBytes) throw tooLarge(bytes, limits)
}

function tooLarge(bytes: number, limits: ValueLimits): ShardKVError {
  return new ShardKVError('ERR_VALUE_TOO_LARGE', `value is ${bytes} bytes; maxValueBytes is ${limits.maxValueBytes}`)
}

/** String.prototype.isWellFormed (Node 20+), which our ES2022 lib typings do not declare. */
function isWellFormed(value: string): boolean {
  return (value as string & { isWellFormed(): boolean }).isWellFormed()
}
