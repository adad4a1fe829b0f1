/**
 * Writer: a growable scratch buffer, reused across encodes, copied out once.
 * It writes the fixed-width integers, varints, raw bytes and UTF-8 strings
 * that the generic encoding and the layouts are made of.
 */
import { codecError } from './codec-errors.js'
import { MAX_ENCODED_BYTES } from './codec-limits.js'

// The string tags of the generic encoding live here, not with the other tags
// in codec-value.ts: `string` writes a tagged string's header itself.
export const TAG_STRING = 0x89
export const TAG_FIXSTRING = 0xa0
export const FIXSTRING_MAX = 31

// Short strings are cheaper to copy char by char than to cross into native
// TextEncoder code, whose fixed cost is ~100 ns per call.
const ASCII_ENCODE_MAX_CHARS = 32

// Above this, size a string's UTF-8 exactly instead of reserving 3 bytes per
// UTF-16 unit, so a large string does not reserve three times its size.
const EXACT_UTF8_SIZING_MIN_CHARS = 4096

const INITIAL_SCRATCH_BYTES = 4096
// A scratch buffer grown by one big value is dropped afterwards rather than
// kept for the life of the process.
const RETAINED_SCRATCH_BYTES = 256 * 1024

const utf8Encoder = new TextEncoder()

export class Writer {
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
