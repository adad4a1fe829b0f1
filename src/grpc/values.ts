/**
 * Values on the wire: bytes plus a `text` flag, so a string comes back as a
 * string and bytes as bytes, in every language. Text travels as UTF-8; text
 * that is not valid UTF-8 is refused (ERR_INVALID_VALUE), never repaired.
 */
import type { Value } from '../client/kv-client.js'
import { ShardKVError } from '../errors.js'
import type { WireValue } from './wire.js'

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export function toWireValue(value: Value): WireValue {
  if (typeof value === 'string') return { data: Buffer.from(value, 'utf8'), text: true }
  return { data: value, text: false }
}

/** A value received from the wire; `absent` says what a missing value means for this call. */
export function fromWireValue(wire: WireValue | undefined, absent: () => ShardKVError): Value {
  if (wire === undefined) throw absent()
  const data = wire.data ?? new Uint8Array(0)
  if (wire.text !== true) return copyBytes(data)
  try {
    return strictUtf8.decode(data)
  } catch {
    throw new ShardKVError('ERR_INVALID_VALUE', 'a value flagged as text must be valid UTF-8; send other bytes with text = false')
  }
}

/**
 * A plain Uint8Array of its own: the loader's Buffer may be a view into a
 * pooled buffer (which would travel whole through the cluster's codec), and
 * the in-process client returns plain Uint8Arrays too.
 */
function copyBytes(data: Uint8Array): Uint8Array {
  const copy = new Uint8Array(data.byteLength)
  copy.set(data)
  return copy
}

export function missingValue(): ShardKVError {
  return new ShardKVError('ERR_INVALID_VALUE', 'the request has no value')
}
