/**
 * The generic encoding: any value in its scope (see codec.ts's header) to
 * tagged bytes and back. It carries messages without a layout, the `value`
 * fields of layouts, stable storage and snapshots.
 */
import { codecError, describe, EncodeFault, keySegment, rethrowInside } from './codec-errors.js'
import { MAX_BIGINT_BYTES, MAX_DEPTH } from './codec-limits.js'
import type { Reader } from './codec-reader.js'
import { TAG_FIXSTRING, TAG_STRING, type Writer } from './codec-writer.js'

const TAG_UNDEFINED = 0x80
const TAG_NULL = 0x81
const TAG_FALSE = 0x82
const TAG_TRUE = 0x83
const TAG_INT16 = 0x84
const TAG_INT32 = 0x85
const TAG_FLOAT64 = 0x86
const TAG_BIGINT_POSITIVE = 0x87
const TAG_BIGINT_NEGATIVE = 0x88
const TAG_BYTES = 0x8a
const TAG_ARRAY = 0x8b
const TAG_OBJECT = 0x8c
const TAG_MAP = 0x8d
const TAG_SET = 0x8e
const TAG_FIXARRAY = 0x90
const TAG_FIXOBJECT = 0xc0
const TAG_NEGATIVE_FIXINT = 0xe0
const FIXARRAY_MAX = 15
const FIXOBJECT_MAX = 15
const POSITIVE_FIXINT_MAX = 0x7f
const NEGATIVE_FIXINT_MIN = -32

// Generic encoding.

export function writeValue(w: Writer, value: unknown, depth: number): void {
  switch (typeof value) {
    case 'number':
      return writeNumber(w, value)
    case 'string':
      return w.string(value, true)
    case 'boolean':
      return w.u8(value ? TAG_TRUE : TAG_FALSE)
    case 'undefined':
      return w.u8(TAG_UNDEFINED)
    case 'object':
      return value === null ? w.u8(TAG_NULL) : writeContainer(w, value, depth)
    case 'bigint':
      return writeBigInt(w, value)
    default:
      throw new EncodeFault(describe(value), value)
  }
}

function writeNumber(w: Writer, value: number): void {
  // An int32 that is not -0 (0 === -0, but 1 / -0 is -Infinity).
  if ((value | 0) === value && (value !== 0 || 1 / value > 0)) return writeInteger(w, value)
  w.u8(TAG_FLOAT64)
  w.f64(value)
}

function writeInteger(w: Writer, value: number): void {
  if (value >= NEGATIVE_FIXINT_MIN && value <= POSITIVE_FIXINT_MAX) return w.u8(value & 0xff)
  if (value >= -0x8000 && value <= 0x7fff) {
    w.u8(TAG_INT16)
    return w.u16(value & 0xffff)
  }
  w.u8(TAG_INT32)
  w.i32(value)
}

function writeBigInt(w: Writer, value: bigint): void {
  const negative = value < 0n
  const hex = (negative ? -value : value).toString(16)
  const magnitudeHex = value === 0n ? '' : hex.length % 2 === 1 ? `0${hex}` : hex
  const byteLength = magnitudeHex.length / 2
  if (byteLength > MAX_BIGINT_BYTES) throw new EncodeFault(`a bigint over ${MAX_BIGINT_BYTES} bytes`, value)
  w.u8(negative ? TAG_BIGINT_NEGATIVE : TAG_BIGINT_POSITIVE)
  w.varint(byteLength)
  w.ensure(byteLength)
  for (let i = 0; i < byteLength; i++) w.bytes[w.offset++] = parseInt(magnitudeHex.slice(2 * i, 2 * i + 2), 16)
}

function writeContainer(w: Writer, value: object, depth: number): void {
  if (depth >= MAX_DEPTH) throw new EncodeFault(`a value nested deeper than ${MAX_DEPTH} (MAX_DEPTH)`, value)
  const prototype: unknown = Object.getPrototypeOf(value)
  if (prototype === Object.prototype || prototype === null) return writeObject(w, value as Record<string, unknown>, depth)
  if (Array.isArray(value)) return writeArray(w, value as readonly unknown[], depth)
  if (value instanceof Uint8Array) {
    w.u8(TAG_BYTES)
    w.varint(value.length)
    return w.raw(value)
  }
  if (prototype === Map.prototype) return writeMap(w, value as ReadonlyMap<unknown, unknown>, depth)
  if (prototype === Set.prototype) return writeSet(w, value as ReadonlySet<unknown>, depth)
  throw new EncodeFault(describe(value), value)
}

function writeCountHeader(w: Writer, count: number, fixTag: number, fixMax: number, tag: number): void {
  if (count <= fixMax) return w.u8(fixTag | count)
  w.u8(tag)
  w.varint(count)
}

function writeArray(w: Writer, array: readonly unknown[], depth: number): void {
  const length = array.length
  writeCountHeader(w, length, TAG_FIXARRAY, FIXARRAY_MAX, TAG_ARRAY)
  let index = 0
  try {
    for (; index < length; index++) writeValue(w, array[index], depth + 1)
  } catch (error) {
    rethrowInside(error, array, `[${index}]`)
  }
}

function writeObject(w: Writer, object: Readonly<Record<string, unknown>>, depth: number): void {
  const keys = Object.keys(object)
  writeCountHeader(w, keys.length, TAG_FIXOBJECT, FIXOBJECT_MAX, TAG_OBJECT)
  let key = ''
  try {
    for (let i = 0; i < keys.length; i++) {
      key = keys[i]!
      w.string(key, false)
      writeValue(w, object[key], depth + 1)
    }
  } catch (error) {
    rethrowInside(error, object, keySegment(key))
  }
}

function writeMap(w: Writer, map: ReadonlyMap<unknown, unknown>, depth: number): void {
  w.u8(TAG_MAP)
  w.varint(map.size)
  let index = 0
  let inKey = true
  try {
    for (const [key, value] of map) {
      inKey = true
      writeValue(w, key, depth + 1)
      inKey = false
      writeValue(w, value, depth + 1)
      index++
    }
  } catch (error) {
    rethrowInside(error, map, `[map ${inKey ? 'key' : 'value'} #${index}]`)
  }
}

function writeSet(w: Writer, set: ReadonlySet<unknown>, depth: number): void {
  w.u8(TAG_SET)
  w.varint(set.size)
  let index = 0
  try {
    for (const item of set) {
      writeValue(w, item, depth + 1)
      index++
    }
  } catch (error) {
    rethrowInside(error, set, `[set item #${index}]`)
  }
}

// Generic decoding.

export function readValue(r: Reader, depth: number): unknown {
  const tag = r.u8('value tag')
  if (tag <= POSITIVE_FIXINT_MAX) return tag
  if (tag >= TAG_NEGATIVE_FIXINT) return tag - 0x100
  if (tag >= TAG_FIXSTRING && tag < TAG_FIXOBJECT) return r.string(tag - TAG_FIXSTRING, 'string')
  if (tag >= TAG_FIXOBJECT && tag <= TAG_FIXOBJECT + FIXOBJECT_MAX) {
    return readObject(r, tag - TAG_FIXOBJECT, depth)
  }
  if (tag >= TAG_FIXARRAY && tag < TAG_FIXSTRING) return readArray(r, tag - TAG_FIXARRAY, depth)
  return readTaggedValue(r, tag, depth)
}

function readTaggedValue(r: Reader, tag: number, depth: number): unknown {
  switch (tag) {
    case TAG_UNDEFINED:
      return undefined
    case TAG_NULL:
      return null
    case TAG_FALSE:
      return false
    case TAG_TRUE:
      return true
    case TAG_INT16:
      return r.i16('int16')
    case TAG_INT32:
      return r.i32('int32')
    case TAG_FLOAT64:
      return r.f64('float64')
    case TAG_BIGINT_POSITIVE:
    case TAG_BIGINT_NEGATIVE:
      return readBigInt(r, tag === TAG_BIGINT_NEGATIVE)
    case TAG_STRING:
      return r.string(r.varint('string length'), 'string')
    case TAG_BYTES:
      return r.copy(r.varint('bytes length'), 'bytes')
    case TAG_ARRAY:
      return readArray(r, r.count('array length', 1), depth)
    case TAG_OBJECT:
      return readObject(r, r.count('object size', 2), depth)
    case TAG_MAP:
      return readMap(r, r.count('map size', 2), depth)
    case TAG_SET:
      return readSet(r, r.count('set size', 1), depth)
    default:
      throw codecError(`unknown tag 0x${tag.toString(16)} at byte ${r.offset - 1}`)
  }
}

function enterContainer(r: Reader, depth: number): void {
  if (depth >= MAX_DEPTH) throw codecError(`nesting deeper than ${MAX_DEPTH} (MAX_DEPTH) at byte ${r.offset}`)
}

function readArray(r: Reader, length: number, depth: number): unknown[] {
  enterContainer(r, depth)
  const array: unknown[] = []
  for (let i = 0; i < length; i++) array.push(readValue(r, depth + 1))
  return array
}

function readObject(r: Reader, size: number, depth: number): Record<string, unknown> {
  enterContainer(r, depth)
  const object: Record<string, unknown> = {}
  for (let i = 0; i < size; i++) {
    const key = r.string(r.varint('key length'), 'key')
    const value = readValue(r, depth + 1)
    // Assigning '__proto__' would replace the prototype instead of adding a key.
    if (key === '__proto__') {
      Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true })
    } else {
      object[key] = value
    }
  }
  return object
}

function readMap(r: Reader, size: number, depth: number): Map<unknown, unknown> {
  enterContainer(r, depth)
  const map = new Map<unknown, unknown>()
  for (let i = 0; i < size; i++) {
    const key = readValue(r, depth + 1)
    map.set(key, readValue(r, depth + 1))
  }
  return map
}

function readSet(r: Reader, size: number, depth: number): Set<unknown> {
  enterContainer(r, depth)
  const set = new Set<unknown>()
  for (let i = 0; i < size; i++) set.add(readValue(r, depth + 1))
  return set
}

const HEX_BYTES = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'))

function readBigInt(r: Reader, negative: boolean): bigint {
  const byteLength = r.varint('bigint length')
  if (byteLength > MAX_BIGINT_BYTES) throw codecError(`bigint of ${byteLength} bytes exceeds ${MAX_BIGINT_BYTES}`)
  r.need(byteLength, 'bigint')
  let hex = ''
  for (let i = 0; i < byteLength; i++) hex += HEX_BYTES[r.bytes[r.offset + i]!]
  r.offset += byteLength
  const magnitude = byteLength === 0 ? 0n : BigInt(`0x${hex}`)
  return negative ? -magnitude : magnitude
}
