/**
 * The message codec: the one place where messages and stored values become
 * bytes and back.
 *
 * Two encodings share one entry point:
 *
 * - Layouts. A hot message type (client requests and replies, Paxos accept
 *   batches) registers a `Layout`: a one-byte id and an ordered list of typed
 *   fields. Its frame is `[id][presence bitmap][fields...]` with no field
 *   names and no per-value tags, which is what keeps the data path cheap.
 * - The generic encoding, for every other message and for stable storage and
 *   snapshots: a small tagged binary format in the spirit of MessagePack.
 *   A frame of a message without a layout is `[0][generic value]`.
 *
 * Generic encoding, one tag byte per value (multi-byte integers are
 * little-endian; `varint` is unsigned LEB128, at most 5 bytes):
 *
 *   0x00-0x7f  integer 0..127            0x90-0x9f  array of 0..15 items
 *   0x80 undefined  0x81 null            0xa0-0xbf  string of 0..31 UTF-8 bytes
 *   0x82 false      0x83 true            0xc0-0xcf  object of 0..15 entries
 *   0x84 int16      0x85 int32           0xe0-0xff  integer -32..-1
 *   0x86 float64 (NaN written canonical, -0 and infinities kept)
 *   0x87 / 0x88 bigint >= 0 / < 0: varint byte count, big-endian magnitude
 *   0x89 string: varint byte count, UTF-8   0x8a Uint8Array: varint count, bytes
 *   0x8b array: varint count, items         0x8c object: varint count, entries
 *   0x8d Map: varint count, key+value pairs 0x8e Set: varint count, items
 *   An object entry is a key (varint byte count + UTF-8, no tag) then a value.
 *   0x8f and 0xd0-0xdf are unassigned and rejected.
 *
 * Strings are UTF-8 as the WHATWG TextEncoder writes it: a lone surrogate
 * becomes U+FFFD, so a string that is not well-formed UTF-16 decodes to its
 * `toWellFormed()` form (the same bytes the shard hash sees). Decoding is
 * fatal on invalid UTF-8 and keeps a leading U+FEFF.
 *
 * Scope of the generic encoding: undefined, null, booleans, numbers, bigints,
 * strings, Uint8Array (a Buffer is accepted and comes back as a plain
 * Uint8Array), arrays (holes come back as undefined), plain objects (own
 * enumerable string keys; symbol keys are skipped) and Map and Set. Anything
 * else, and nesting deeper than MAX_DEPTH (which is how cycles surface), is an
 * ERR_CODEC naming what and where.
 *
 * Decoding never trusts the input: every length is checked against the bytes
 * that remain before anything is allocated, nesting is bounded, unknown tags
 * and trailing bytes are rejected, and the only error it throws is ERR_CODEC.
 * The result never aliases the input: callers decode views into ring buffers
 * that are overwritten as soon as decode returns.
 */
import { assert, ShardKVError } from '../errors.js'
import type { Message } from './actor.js'

export type FieldKind = 'u8' | 'u16' | 'u32' | 'i32' | 'f64' | 'bool' | 'str' | 'bytes' | 'value'

/** A field kind; a trailing '?' makes the field optional (undefined or absent). */
export type FieldSpec = FieldKind | `${FieldKind}?`

/**
 * A message type's binary layout. Fields are written in order; an optional
 * field that is undefined costs one bit and decodes as absent (no property).
 * A message with a layout must carry no other defined fields: encode rejects
 * them rather than drop them.
 */
export interface Layout {
  readonly type: string
  /** 1..255; 0 marks a frame in the generic encoding. */
  readonly id: number
  readonly fields: ReadonlyArray<readonly [name: string, kind: FieldSpec]>
}

type KindOf<S> = S extends `${infer K}?` ? K : S

type KindValue<K> = K extends 'u8' | 'u16' | 'u32' | 'i32' | 'f64'
  ? number
  : K extends 'bool'
    ? boolean
    : K extends 'str'
      ? string
      : K extends 'bytes'
        ? Uint8Array
        : unknown

/**
 * The message type a layout encodes, so a message interface cannot drift from
 * its layout: declare the layout `as const satisfies Layout` and derive the
 * interface from it (or check one against the other).
 */
export type MessageOf<L extends Layout> = { readonly type: L['type'] } & {
  readonly [F in L['fields'][number] as F[1] extends `${string}?` ? never : F[0]]: KindValue<F[1]>
} & {
  readonly [F in L['fields'][number] as F[1] extends `${string}?` ? F[0] : never]?: KindValue<KindOf<F[1]>>
}

/** Deepest nesting of arrays, objects, Maps and Sets, on encode and on decode. */
export const MAX_DEPTH = 64

/**
 * Largest encoding the codec produces. Frames above a lane's capacity are
 * chunked by the transport; this ceiling only stops a runaway value (or a bug)
 * from allocating without end.
 */
export const MAX_ENCODED_BYTES = 1024 * 1024 * 1024

/** Largest bigint magnitude: far beyond any ballot or counter, small enough to convert quickly. */
export const MAX_BIGINT_BYTES = 8 * 1024

/** Most fields in one layout: a layout is a hot message, not a record store. */
export const MAX_LAYOUT_FIELDS = 64

const GENERIC_FRAME_ID = 0
const LAYOUT_ID_MAX = 255

const TAG_UNDEFINED = 0x80
const TAG_NULL = 0x81
const TAG_FALSE = 0x82
const TAG_TRUE = 0x83
const TAG_INT16 = 0x84
const TAG_INT32 = 0x85
const TAG_FLOAT64 = 0x86
const TAG_BIGINT_POSITIVE = 0x87
const TAG_BIGINT_NEGATIVE = 0x88
const TAG_STRING = 0x89
const TAG_BYTES = 0x8a
const TAG_ARRAY = 0x8b
const TAG_OBJECT = 0x8c
const TAG_MAP = 0x8d
const TAG_SET = 0x8e
const TAG_FIXARRAY = 0x90
const TAG_FIXSTRING = 0xa0
const TAG_FIXOBJECT = 0xc0
const TAG_NEGATIVE_FIXINT = 0xe0
const FIXARRAY_MAX = 15
const FIXSTRING_MAX = 31
const FIXOBJECT_MAX = 15
const POSITIVE_FIXINT_MAX = 0x7f
const NEGATIVE_FIXINT_MIN = -32

const VARINT_MAX = 0x7fffffff

// Short strings are cheaper to copy char by char than to cross into native
// TextEncoder/TextDecoder code, whose fixed cost is ~100 ns per call.
const ASCII_ENCODE_MAX_CHARS = 32
const ASCII_DECODE_MAX_BYTES = 16

// Above this, size a string's UTF-8 exactly instead of reserving 3 bytes per
// UTF-16 unit, so a large string does not reserve three times its size.
const EXACT_UTF8_SIZING_MIN_CHARS = 4096

const INITIAL_SCRATCH_BYTES = 4096
// A scratch buffer grown by one big value is dropped afterwards rather than
// kept for the life of the process.
const RETAINED_SCRATCH_BYTES = 256 * 1024

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

// Field kinds as small integers: the encode and decode loops switch on these.
const KIND_U8 = 0
const KIND_U16 = 1
const KIND_U32 = 2
const KIND_I32 = 3
const KIND_F64 = 4
const KIND_BOOL = 5
const KIND_STR = 6
const KIND_BYTES = 7
const KIND_VALUE = 8
const KIND_CODES: Readonly<Record<FieldKind, number>> = {
  u8: KIND_U8,
  u16: KIND_U16,
  u32: KIND_U32,
  i32: KIND_I32,
  f64: KIND_F64,
  bool: KIND_BOOL,
  str: KIND_STR,
  bytes: KIND_BYTES,
  value: KIND_VALUE,
}
const KIND_NAMES = Object.keys(KIND_CODES) as FieldKind[]

const FIELD_NAME_PATTERN = /^[A-Za-z_$][A-Za-z0-9_$]*$/

function codecError(message: string): ShardKVError {
  return new ShardKVError('ERR_CODEC', message)
}

// ---------------------------------------------------------------------------
// Writer: a growable scratch buffer, reused across encodes, copied out once.

class Writer {
  bytes: Uint8Array = new Uint8Array(INITIAL_SCRATCH_BYTES)
  view: DataView = new DataView(this.bytes.buffer)
  offset = 0

  /** The encoding so far, copied out of the scratch. */
  finish(): Uint8Array {
    return this.bytes.slice(0, this.offset)
  }

  /** Readies the scratch for the next encode; the bytes stay until then (see `encodeBorrowed`). */
  reset(): void {
    this.offset = 0
    if (this.bytes.length > RETAINED_SCRATCH_BYTES) this.replace(new Uint8Array(INITIAL_SCRATCH_BYTES))
  }

  ensure(count: number): void {
    if (this.offset + count > this.bytes.length) this.grow(this.offset + count)
  }

  u8(value: number): void {
    this.ensure(1)
    this.bytes[this.offset++] = value
  }

  u16(value: number): void {
    this.ensure(2)
    this.view.setUint16(this.offset, value, true)
    this.offset += 2
  }

  u32(value: number): void {
    this.ensure(4)
    this.view.setUint32(this.offset, value, true)
    this.offset += 4
  }

  i32(value: number): void {
    this.ensure(4)
    this.view.setInt32(this.offset, value, true)
    this.offset += 4
  }

  f64(value: number): void {
    this.ensure(8)
    // NaN has many bit patterns; writing one keeps equal values' bytes equal.
    this.view.setFloat64(this.offset, value === value ? value : NaN, true)
    this.offset += 8
  }

  varint(value: number): void {
    this.ensure(5)
    const bytes = this.bytes
    let rest = value
    while (rest > 0x7f) {
      bytes[this.offset++] = (rest & 0x7f) | 0x80
      rest >>>= 7
    }
    bytes[this.offset++] = rest
  }

  raw(source: Uint8Array): void {
    this.ensure(source.length)
    this.bytes.set(source, this.offset)
    this.offset += source.length
  }

  /**
   * Writes `text` as UTF-8 after its header: with `tagged`, a fixstring tag or
   * TAG_STRING + varint (a generic value); without, a bare varint (object keys
   * and layout fields, whose kind is known).
   */
  string(text: string, tagged: boolean): void {
    if (text.length <= ASCII_ENCODE_MAX_CHARS && this.asciiString(text, tagged)) return
    this.utf8String(text, tagged)
  }

  private asciiString(text: string, tagged: boolean): boolean {
    const length = text.length
    const headerBytes = stringHeaderBytes(length, tagged)
    this.ensure(headerBytes + length)
    const bytes = this.bytes
    let at = this.offset + headerBytes
    for (let i = 0; i < length; i++) {
      const code = text.charCodeAt(i)
      if (code > 0x7f) return false
      bytes[at++] = code
    }
    this.stringHeader(length, tagged)
    this.offset += length
    return true
  }

  private utf8String(text: string, tagged: boolean): void {
    const maxBytes = text.length < EXACT_UTF8_SIZING_MIN_CHARS ? text.length * 3 : Buffer.byteLength(text, 'utf8')
    const reservedBytes = stringHeaderBytes(maxBytes, tagged)
    this.ensure(reservedBytes + maxBytes)
    const start = this.offset + reservedBytes
    const { written } = utf8Encoder.encodeInto(text, this.bytes.subarray(start, start + maxBytes))
    const headerBytes = stringHeaderBytes(written, tagged)
    // The header was sized for the worst case; slide the text back so equal
    // strings always encode to equal bytes.
    if (headerBytes !== reservedBytes) this.bytes.copyWithin(this.offset + headerBytes, start, start + written)
    this.stringHeader(written, tagged)
    this.offset += written
  }

  private stringHeader(byteLength: number, tagged: boolean): void {
    if (!tagged) return this.varint(byteLength)
    if (byteLength <= FIXSTRING_MAX) return this.u8(TAG_FIXSTRING | byteLength)
    this.u8(TAG_STRING)
    this.varint(byteLength)
  }

  private grow(neededBytes: number): void {
    if (neededBytes > MAX_ENCODED_BYTES) {
      throw codecError(`encoding exceeds ${MAX_ENCODED_BYTES} bytes (MAX_ENCODED_BYTES)`)
    }
    let capacityBytes = this.bytes.length * 2
    while (capacityBytes < neededBytes) capacityBytes *= 2
    const grown = new Uint8Array(Math.min(capacityBytes, MAX_ENCODED_BYTES))
    // The whole buffer, not just up to `offset`: a string's text is written
    // past `offset` before its header, and the header's own ensure() may be
    // the one that grows (text copied up to `offset` only came out as zeros).
    grown.set(this.bytes)
    this.replace(grown)
  }

  private replace(bytes: Uint8Array): void {
    this.bytes = bytes
    this.view = new DataView(bytes.buffer)
  }
}

function varintBytes(value: number): number {
  if (value < 0x80) return 1
  if (value < 0x4000) return 2
  if (value < 0x200000) return 3
  if (value < 0x10000000) return 4
  return 5
}

function stringHeaderBytes(byteLength: number, tagged: boolean): number {
  if (!tagged) return varintBytes(byteLength)
  return byteLength <= FIXSTRING_MAX ? 1 : 1 + varintBytes(byteLength)
}

// ---------------------------------------------------------------------------
// Reader: bounds-checked reads over the input; never reads past `end`.

const float64Scratch = new DataView(new ArrayBuffer(8))

class Reader {
  bytes: Uint8Array = new Uint8Array(0)
  offset = 0
  end = 0

  start(bytes: Uint8Array): void {
    // A Buffer's slice() is a view, not a copy: read through a plain
    // Uint8Array so every slice below copies and comes back a Uint8Array.
    this.bytes =
      Object.getPrototypeOf(bytes) === Uint8Array.prototype
        ? bytes
        : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.offset = 0
    this.end = bytes.length
  }

  /** Drops the reference to the input so a decoded ring view is not kept alive. */
  release(): void {
    this.bytes = EMPTY_BYTES
  }

  remaining(): number {
    return this.end - this.offset
  }

  need(count: number, what: string): void {
    if (count > this.end - this.offset) {
      throw codecError(`truncated input: ${what} needs ${count} bytes at byte ${this.offset}, ${this.remaining()} left`)
    }
  }

  u8(what: string): number {
    this.need(1, what)
    return this.bytes[this.offset++]!
  }

  u16(what: string): number {
    this.need(2, what)
    const at = this.offset
    this.offset = at + 2
    return this.bytes[at]! | (this.bytes[at + 1]! << 8)
  }

  i32(what: string): number {
    this.need(4, what)
    const bytes = this.bytes
    const at = this.offset
    this.offset = at + 4
    return bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)
  }

  u32(what: string): number {
    return this.i32(what) >>> 0
  }

  i16(what: string): number {
    return (this.u16(what) << 16) >> 16
  }

  f64(what: string): number {
    this.need(8, what)
    const bytes = this.bytes
    const at = this.offset
    for (let i = 0; i < 8; i++) float64Scratch.setUint8(i, bytes[at + i]!)
    this.offset = at + 8
    return float64Scratch.getFloat64(0, true)
  }

  varint(what: string): number {
    let value = 0
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.u8(what)
      value += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) {
        if (value > VARINT_MAX) throw codecError(`${what} of ${value} at byte ${this.offset} is out of range`)
        return value
      }
    }
    throw codecError(`${what}: varint longer than 5 bytes at byte ${this.offset}`)
  }

  /** A count of items each at least `minItemBytes` long: bounded by what remains. */
  count(what: string, minItemBytes: number): number {
    const count = this.varint(what)
    if (count * minItemBytes > this.remaining()) {
      throw codecError(`${what} of ${count} at byte ${this.offset} cannot fit in the ${this.remaining()} bytes left`)
    }
    return count
  }

  copy(byteLength: number, what: string): Uint8Array {
    this.need(byteLength, what)
    const start = this.offset
    this.offset = start + byteLength
    return this.bytes.slice(start, start + byteLength)
  }

  string(byteLength: number, what: string): string {
    this.need(byteLength, what)
    const start = this.offset
    const end = start + byteLength
    this.offset = end
    if (byteLength <= ASCII_DECODE_MAX_BYTES) {
      const ascii = asciiString(this.bytes, start, end)
      if (ascii !== undefined) return ascii
    }
    try {
      return utf8Decoder.decode(this.bytes.subarray(start, end))
    } catch {
      throw codecError(`${what}: invalid UTF-8 at byte ${start}`)
    }
  }
}

const EMPTY_BYTES = new Uint8Array(0)

/** The bytes as a string if all are ASCII, else undefined. Eight bytes per fromCharCode call. */
function asciiString(bytes: Uint8Array, start: number, end: number): string | undefined {
  let text = ''
  let at = start
  for (; at + 8 <= end; at += 8) {
    const b0 = bytes[at]!, b1 = bytes[at + 1]!, b2 = bytes[at + 2]!, b3 = bytes[at + 3]!
    const b4 = bytes[at + 4]!, b5 = bytes[at + 5]!, b6 = bytes[at + 6]!, b7 = bytes[at + 7]!
    if ((b0 | b1 | b2 | b3 | b4 | b5 | b6 | b7) & 0x80) return undefined
    text += String.fromCharCode(b0, b1, b2, b3, b4, b5, b6, b7)
  }
  for (; at < end; at++) {
    const byte = bytes[at]!
    if (byte & 0x80) return undefined
    text += String.fromCharCode(byte)
  }
  return text
}

// ---------------------------------------------------------------------------
// Encode errors carry the path to the offending value. Containers add their
// segment while the error unwinds, so the success path pays nothing for it.

class EncodeFault {
  /** Path segments from the innermost container outwards. */
  readonly segments: string[] = []
  /** Set when an enclosing container is the culprit itself: a cycle. */
  cycleSegmentsInside = -1

  constructor(
    readonly problem: string,
    readonly culprit: unknown,
  ) {}
}

function rethrowInside(error: unknown, container: object, segment: string): never {
  if (!(error instanceof EncodeFault)) throw error
  if (error.culprit === container) error.cycleSegmentsInside = error.segments.length
  error.segments.push(segment)
  throw error
}

function toCodecError(fault: EncodeFault, rootLabel: string): ShardKVError {
  const outward = fault.segments.slice().reverse()
  if (fault.cycleSegmentsInside >= 0) {
    const cyclePath = outward.slice(0, outward.length - fault.cycleSegmentsInside - 1)
    return codecError(`cannot encode a cycle: ${rootLabel}${cyclePath.join('')} contains itself`)
  }
  return codecError(`cannot encode ${fault.problem} at ${rootLabel}${outward.join('')}`)
}

function keySegment(key: string): string {
  return FIELD_NAME_PATTERN.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
}

function describe(value: unknown): string {
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`
  if (typeof value === 'symbol') return `a symbol (${String(value.description)})`
  if (typeof value !== 'object' || value === null) return typeof value
  const prototype: unknown = Object.getPrototypeOf(value)
  const constructorName =
    typeof prototype === 'object' && prototype !== null && 'constructor' in prototype
      ? (prototype.constructor as { name?: unknown }).name
      : undefined
  return typeof constructorName === 'string' && constructorName !== ''
    ? `an instance of ${constructorName}`
    : 'an object with a foreign prototype'
}

// ---------------------------------------------------------------------------
// Generic encoding.

function writeValue(w: Writer, value: unknown, depth: number): void {
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

// ---------------------------------------------------------------------------
// Generic decoding.

function readValue(r: Reader, depth: number): unknown {
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

// ---------------------------------------------------------------------------
// Layouts.

interface CompiledLayout {
  readonly layout: Layout
  readonly names: readonly string[]
  readonly kinds: readonly number[]
  /** Per field: its bit in the presence bitmap, or -1 when required. */
  readonly presenceBits: readonly number[]
  readonly presenceBytes: number
  /** Bits of the bitmap's last byte that no field uses: set only in garbage. */
  readonly unusedPresenceMask: number
}

function compileLayout(layout: Layout): CompiledLayout {
  const names: string[] = []
  const kinds: number[] = []
  const presenceBits: number[] = []
  let optionalCount = 0
  for (const [name, spec] of layout.fields) {
    const optional = spec.endsWith('?')
    names.push(name)
    kinds.push(KIND_CODES[(optional ? spec.slice(0, -1) : spec) as FieldKind])
    presenceBits.push(optional ? optionalCount++ : -1)
  }
  const usedInLastByte = optionalCount % 8
  const unusedPresenceMask = usedInLastByte === 0 ? 0 : 0xff & ~((1 << usedInLastByte) - 1)
  return { layout, names, kinds, presenceBits, presenceBytes: Math.ceil(optionalCount / 8), unusedPresenceMask }
}

function checkLayout(layout: Layout): void {
  const where = `layout ${JSON.stringify(layout.type)} (id ${layout.id})`
  assert(typeof layout.type === 'string' && layout.type !== '', `${where}: type must be a non-empty string`)
  assert(Number.isInteger(layout.id) && layout.id >= 1 && layout.id <= LAYOUT_ID_MAX, `${where}: id must be 1..255`)
  assert(layout.fields.length <= MAX_LAYOUT_FIELDS, `${where}: more than ${MAX_LAYOUT_FIELDS} fields`)
  const seen = new Set<string>(['type'])
  for (const [name, spec] of layout.fields) {
    assert(FIELD_NAME_PATTERN.test(name) && name !== '__proto__', `${where}: bad field name ${JSON.stringify(name)}`)
    assert(!seen.has(name), `${where}: field ${JSON.stringify(name)} is duplicated or reserved`)
    seen.add(name)
    const kind = spec.endsWith('?') ? spec.slice(0, -1) : spec
    assert((KIND_NAMES as string[]).includes(kind), `${where}: field ${name} has unknown kind ${JSON.stringify(spec)}`)
  }
}

function sameLayout(a: Layout, b: Layout): boolean {
  if (a.type !== b.type || a.id !== b.id || a.fields.length !== b.fields.length) return false
  return a.fields.every(([name, kind], i) => b.fields[i]![0] === name && b.fields[i]![1] === kind)
}

function fieldTypeError(layout: Layout, name: string, spec: FieldSpec, value: unknown): ShardKVError {
  const expected = spec.endsWith('?') ? `${spec.slice(0, -1)} or undefined` : spec
  const got = value === null ? 'null' : typeof value === 'number' ? `number ${value}` : describe(value)
  return codecError(`message ${JSON.stringify(layout.type)}: field ${name} must be ${expected}, got ${got}`)
}

function writeLayoutMessage(w: Writer, compiled: CompiledLayout, message: Readonly<Record<string, unknown>>): void {
  const { names, kinds, presenceBits, presenceBytes } = compiled
  w.u8(compiled.layout.id)
  const bitmapAt = w.offset
  w.ensure(presenceBytes)
  w.bytes.fill(0, bitmapAt, bitmapAt + presenceBytes)
  w.offset += presenceBytes
  let presentCount = 0
  for (let i = 0; i < names.length; i++) {
    const value = message[names[i]!]
    const bit = presenceBits[i]!
    if (value === undefined && bit >= 0) continue
    if (bit >= 0) w.bytes[bitmapAt + (bit >>> 3)]! |= 1 << (bit & 7)
    writeField(w, compiled, i, kinds[i]!, value)
    if (value !== undefined) presentCount++
  }
  // Cheap count first: a field the layout lacks would otherwise vanish silently.
  if (countDefinedKeys(message) !== presentCount + 1) throw extraFieldError(compiled, message)
}

function writeField(w: Writer, compiled: CompiledLayout, index: number, kind: number, value: unknown): void {
  switch (kind) {
    case KIND_U8:
      if (typeof value !== 'number' || (value & 0xff) !== value) break
      return w.u8(value)
    case KIND_U16:
      if (typeof value !== 'number' || (value & 0xffff) !== value) break
      return w.u16(value)
    case KIND_U32:
      if (typeof value !== 'number' || value >>> 0 !== value) break
      return w.u32(value)
    case KIND_I32:
      if (typeof value !== 'number' || (value | 0) !== value) break
      return w.i32(value)
    case KIND_F64:
      if (typeof value !== 'number') break
      return w.f64(value)
    case KIND_BOOL:
      if (typeof value !== 'boolean') break
      return w.u8(value ? 1 : 0)
    case KIND_STR:
      if (typeof value !== 'string') break
      return w.string(value, false)
    case KIND_BYTES:
      if (!(value instanceof Uint8Array)) break
      w.varint(value.length)
      return w.raw(value)
    default:
      return writeValueField(w, compiled, index, value)
  }
  const [name, spec] = compiled.layout.fields[index]!
  throw fieldTypeError(compiled.layout, name, spec, value)
}

function writeValueField(w: Writer, compiled: CompiledLayout, index: number, value: unknown): void {
  try {
    writeValue(w, value, 1)
  } catch (error) {
    if (!(error instanceof EncodeFault)) throw error
    error.segments.push(`.${compiled.names[index]!}`)
    throw toCodecError(error, `message ${JSON.stringify(compiled.layout.type)}: $`)
  }
}

function countDefinedKeys(message: Readonly<Record<string, unknown>>): number {
  let count = 0
  for (const key in message) if (message[key] !== undefined) count++
  return count
}

function extraFieldError(compiled: CompiledLayout, message: Readonly<Record<string, unknown>>): ShardKVError {
  const known = new Set(['type', ...compiled.names])
  const extra = Object.keys(message).filter((key) => !known.has(key) && message[key] !== undefined)
  const { type, id } = compiled.layout
  return codecError(`message ${JSON.stringify(type)}: field(s) ${extra.join(', ')} not in its layout (id ${id}) would be lost`)
}

function readLayoutMessage(r: Reader, compiled: CompiledLayout): Message {
  const { names, kinds, presenceBits, presenceBytes } = compiled
  r.need(presenceBytes, 'presence bitmap')
  const bitmapAt = r.offset
  r.offset += presenceBytes
  if (presenceBytes > 0 && (r.bytes[bitmapAt + presenceBytes - 1]! & compiled.unusedPresenceMask) !== 0) {
    throw codecError(`message ${JSON.stringify(compiled.layout.type)}: presence bitmap sets unused bits`)
  }
  const message: Record<string, unknown> = { type: compiled.layout.type }
  for (let i = 0; i < names.length; i++) {
    const bit = presenceBits[i]!
    if (bit >= 0 && (r.bytes[bitmapAt + (bit >>> 3)]! & (1 << (bit & 7))) === 0) continue
    message[names[i]!] = readField(r, kinds[i]!)
  }
  return message as unknown as Message
}

function readField(r: Reader, kind: number): unknown {
  switch (kind) {
    case KIND_U8:
      return r.u8('u8 field')
    case KIND_U16:
      return r.u16('u16 field')
    case KIND_U32:
      return r.u32('u32 field')
    case KIND_I32:
      return r.i32('i32 field')
    case KIND_F64:
      return r.f64('f64 field')
    case KIND_BOOL:
      return readBool(r)
    case KIND_STR:
      return r.string(r.varint('str field length'), 'str field')
    case KIND_BYTES:
      return r.copy(r.varint('bytes field length'), 'bytes field')
    default:
      return readValue(r, 1)
  }
}

function readBool(r: Reader): boolean {
  const byte = r.u8('bool field')
  if (byte > 1) throw codecError(`bool field holds ${byte} at byte ${r.offset - 1}`)
  return byte === 1
}

// ---------------------------------------------------------------------------
// The codec.

export class Codec {
  private readonly byId = new Array<CompiledLayout | undefined>(LAYOUT_ID_MAX + 1).fill(undefined)
  private readonly byType = new Map<string, CompiledLayout>()
  private readonly writer = new Writer()
  private readonly reader = new Reader()
  // A getter run during an encode could encode again; it then gets a writer of its own.
  private writing = false

  /**
   * Registers a binary layout for a hot message type. Registering an equal
   * layout again (a module imported twice) is a no-op; a clash of id or type
   * with a different layout is a programmer error and fails an assertion.
   */
  define(layout: Layout): void {
    checkLayout(layout)
    const sameId = this.byId[layout.id]
    const sameType = this.byType.get(layout.type)
    if (sameId !== undefined && sameLayout(sameId.layout, layout)) return
    const type = JSON.stringify(layout.type)
    assert(sameId === undefined, `layout id ${layout.id} of ${type} is taken by ${JSON.stringify(sameId?.layout.type)}`)
    assert(sameType === undefined, `message type ${type} already has layout id ${sameType?.layout.id}`)
    const compiled = compileLayout(layout)
    this.byId[layout.id] = compiled
    this.byType.set(layout.type, compiled)
  }

  /** The registered layouts, by id. */
  layouts(): Layout[] {
    return this.byId.filter((compiled) => compiled !== undefined).map((compiled) => compiled.layout)
  }

  /** Fresh bytes: `[id][fields]` for a type with a layout, else `[0][generic encoding]`. */
  encode(message: Message): Uint8Array {
    const w = this.acquireWriter()
    try {
      writeMessage(w, this.byType, message)
      return w.finish()
    } finally {
      this.releaseWriter(w)
    }
  }

  /**
   * Like `encode`, without the copy: a view into the codec's scratch buffer,
   * valid only until the next encode on this codec. For a caller that copies
   * the frame straight into a ring and never keeps it.
   */
  encodeBorrowed(message: Message): Uint8Array {
    const w = this.acquireWriter()
    try {
      writeMessage(w, this.byType, message)
      return w.bytes.subarray(0, w.offset)
    } finally {
      this.releaseWriter(w)
    }
  }

  /** Copy-safe: the message shares no memory with `bytes`. */
  decode(bytes: Uint8Array): Message {
    const r = this.startReading(bytes)
    try {
      const id = r.u8('frame id')
      const compiled = this.byId[id]
      if (id !== GENERIC_FRAME_ID && compiled === undefined) throw codecError(`unknown layout id ${id}`)
      const message = compiled === undefined ? checkGenericMessage(readValue(r, 0)) : readLayoutMessage(r, compiled)
      checkConsumed(r)
      return message
    } finally {
      r.release()
    }
  }

  /** The generic encoding alone: for stable storage and snapshots. */
  encodeValue(value: unknown): Uint8Array {
    const w = this.acquireWriter()
    try {
      writeRoot(w, value, '$')
      return w.finish()
    } finally {
      this.releaseWriter(w)
    }
  }

  /** Copy-safe: the value shares no memory with `bytes`. */
  decodeValue(bytes: Uint8Array): unknown {
    const r = this.startReading(bytes)
    try {
      const value = readValue(r, 0)
      checkConsumed(r)
      return value
    } finally {
      r.release()
    }
  }

  private acquireWriter(): Writer {
    if (this.writing) return new Writer()
    this.writing = true
    return this.writer
  }

  private releaseWriter(w: Writer): void {
    w.reset()
    if (w === this.writer) this.writing = false
  }

  private startReading(bytes: Uint8Array): Reader {
    if (!(bytes instanceof Uint8Array)) throw codecError(`cannot decode ${describe(bytes)}: expected a Uint8Array`)
    this.reader.start(bytes)
    return this.reader
  }
}

function writeMessage(w: Writer, byType: ReadonlyMap<string, CompiledLayout>, message: Message): void {
  if (typeof message !== 'object' || message === null || typeof message.type !== 'string') {
    throw codecError(`cannot encode ${describe(message)} as a message: it needs a string type`)
  }
  const compiled = byType.get(message.type)
  if (compiled !== undefined) return writeLayoutMessage(w, compiled, message as unknown as Readonly<Record<string, unknown>>)
  w.u8(GENERIC_FRAME_ID)
  writeRoot(w, message, `message ${JSON.stringify(message.type)}: $`)
}

function checkConsumed(r: Reader): void {
  if (r.offset !== r.end) throw codecError(`${r.end - r.offset} trailing bytes after byte ${r.offset}`)
}

function writeRoot(w: Writer, value: unknown, rootLabel: string): void {
  try {
    writeValue(w, value, 0)
  } catch (error) {
    if (error instanceof EncodeFault) throw toCodecError(error, rootLabel)
    throw error
  }
}

function checkGenericMessage(value: unknown): Message {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) {
    throw codecError(`generic frame holds ${describe(value)}, not a message object`)
  }
  if (!('type' in value) || typeof value.type !== 'string') {
    throw codecError('generic frame holds an object without a string type')
  }
  return value as Message
}

/** The process-wide codec; modules `codec.define(...)` their hot layouts at import time. */
export const codec = new Codec()
