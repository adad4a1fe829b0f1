/**
 * Layouts: the binary frame of a hot message type, `[id][presence bitmap]
 * [fields...]`. A layout is declared as an ordered list of typed fields,
 * checked and compiled once when the codec registers it, then encoded and
 * decoded by loops over its compiled form.
 */
import { assert, type ShardKVError } from '../errors.js'
import type { Message } from './actor.js'
import { codecError, describe, EncodeFault, FIELD_NAME_PATTERN, toCodecError } from './codec-errors.js'
import { MAX_LAYOUT_FIELDS } from './codec-limits.js'
import type { Reader } from './codec-reader.js'
import { readValue, writeValue } from './codec-value.js'
import type { Writer } from './codec-writer.js'

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

export const LAYOUT_ID_MAX = 255

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

export interface CompiledLayout {
  readonly layout: Layout
  readonly names: readonly string[]
  readonly kinds: readonly number[]
  /** Per field: its bit in the presence bitmap, or -1 when required. */
  readonly presenceBits: readonly number[]
  readonly presenceBytes: number
  /** Bits of the bitmap's last byte that no field uses: set only in garbage. */
  readonly unusedPresenceMask: number
}

export function compileLayout(layout: Layout): CompiledLayout {
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

export function checkLayout(layout: Layout): void {
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

export function sameLayout(a: Layout, b: Layout): boolean {
  if (a.type !== b.type || a.id !== b.id || a.fields.length !== b.fields.length) return false
  return a.fields.every(([name, kind], i) => b.fields[i]![0] === name && b.fields[i]![1] === kind)
}

function fieldTypeError(layout: Layout, name: string, spec: FieldSpec, value: unknown): ShardKVError {
  const expected = spec.endsWith('?') ? `${spec.slice(0, -1)} or undefined` : spec
  const got = value === null ? 'null' : typeof value === 'number' ? `number ${value}` : describe(value)
  return codecError(`message ${JSON.stringify(layout.type)}: field ${name} must be ${expected}, got ${got}`)
}

export function writeLayoutMessage(w: Writer, compiled: CompiledLayout, message: Readonly<Record<string, unknown>>): void {
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

export function readLayoutMessage(r: Reader, compiled: CompiledLayout): Message {
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
