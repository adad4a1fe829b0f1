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
 *
 * This module holds the `Codec` (the layout registry and the public API) and
 * the process-wide `codec`. Its parts: codec-limits.ts, codec-errors.ts,
 * codec-writer.ts and codec-reader.ts (bytes in and out), codec-value.ts (the
 * generic encoding and its tags) and codec-layout.ts (layouts).
 */
import { assert } from '../errors.js'
import type { Message } from './actor.js'
import { codecError, describe, EncodeFault, toCodecError } from './codec-errors.js'
import {
  checkLayout,
  compileLayout,
  readLayoutMessage,
  sameLayout,
  writeLayoutMessage,
  type CompiledLayout,
  type Layout,
  LAYOUT_ID_MAX,
} from './codec-layout.js'
import { Reader } from './codec-reader.js'
import { readValue, writeValue } from './codec-value.js'
import { Writer } from './codec-writer.js'

export { MAX_BIGINT_BYTES, MAX_DEPTH, MAX_ENCODED_BYTES, MAX_LAYOUT_FIELDS } from './codec-limits.js'
export type { FieldKind, FieldSpec, Layout, MessageOf } from './codec-layout.js'

const GENERIC_FRAME_ID = 0

export class Codec {
  private readonly byId = new Array<CompiledLayout | undefined>(LAYOUT_ID_MAX + 1).fill(undefined)
  private readonly byType = new Map<string, CompiledLayout>()
  private readonly writer = new Writer()
  private readonly reader = new Reader()
  // A getter run during an encode could encode again; it then gets a writer of its own.
  private writing = false
  /** Counts uses of the scratch writer: a borrowed encoding is intact while this has not moved. */
  private scratchUses = 0

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
   * valid only until the next encode on this codec (while `scratchVersion`
   * stays the same). For a caller that copies the frame straight into a ring.
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

  /**
   * Like `encodeValue`, without the copy: a view into the scratch, valid
   * only until the next encode on this codec. For stable storage, which
   * copies what it is given.
   */
  encodeValueBorrowed(value: unknown): Uint8Array {
    const w = this.acquireWriter()
    try {
      writeRoot(w, value, '$')
      return w.bytes.subarray(0, w.offset)
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

  /** Moves whenever the scratch buffer is written: a view `encodeBorrowed` returned is intact while this stays the same. */
  get scratchVersion(): number {
    return this.scratchUses
  }

  private acquireWriter(): Writer {
    if (this.writing) return new Writer()
    this.writing = true
    this.scratchUses++
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
