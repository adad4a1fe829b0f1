/**
 * Reader: bounds-checked reads over the input; never reads past `end`.
 * Every read names what it reads, so a truncated or corrupt input fails with
 * an ERR_CODEC that says what was cut short and where.
 */
import { codecError } from './codec-errors.js'

const VARINT_MAX = 0x7fffffff

// Short strings decode faster char by char than through TextDecoder: the same
// trade-off as ASCII_ENCODE_MAX_CHARS in codec-writer.ts.
const ASCII_DECODE_MAX_BYTES = 16

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

const float64Scratch = new DataView(new ArrayBuffer(8))

export class Reader {
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
