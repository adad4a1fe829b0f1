/**
 * Key -> shard. The definition is public so that clients in other languages
 * route exactly as we do:
 *
 *   hash  = 32-bit FNV-1a over the key's UTF-8 bytes:
 *             h = 0x811c9dc5
 *             for each byte b:  h = ((h XOR b) * 0x01000193) mod 2^32
 *   shard = h mod shards          (h read as an unsigned 32-bit integer)
 *
 * UTF-8 is standard UTF-8 (what TextEncoder, Go, Rust and Python produce), with
 * one JavaScript-specific rule: a lone UTF-16 surrogate, which no other
 * language can put in a string, is encoded as U+FFFD (EF BF BD), as
 * TextEncoder does.
 *
 * Test vectors live in test/actors/shard-hash.test.ts.
 *
 * The functions walk the UTF-16 code units and produce the UTF-8 bytes on the
 * fly, so hashing allocates nothing, ASCII or not; this runs once per client
 * operation.
 */
import { assert, ShardKVError } from '../errors.js'

const FNV_OFFSET_BASIS = 0x811c9dc5
const FNV_PRIME = 0x01000193
const REPLACEMENT_CHARACTER = 0xfffd
const SURROGATE_FIRST = 0xd800
const SURROGATE_LAST = 0xdfff

/** The shard of `key` among `shards` shards: fnv1a32(utf8(key)) mod shards. */
export function shardOf(key: string, shards: number): number {
  assert(Number.isInteger(shards) && shards >= 1, `shard count must be a positive integer, got ${shards}`)
  return hashKey(key) % shards
}

/** 32-bit FNV-1a of the key's UTF-8 bytes, as an unsigned integer. */
export function hashKey(key: string): number {
  checkKey(key)
  let hash = FNV_OFFSET_BASIS
  for (let index = 0; index < key.length; index++) {
    const codeUnit = key.charCodeAt(index)
    if (codeUnit < 0x80) {
      hash = Math.imul(hash ^ codeUnit, FNV_PRIME)
      continue
    }
    const codePoint = scalarValueAt(key, index)
    if (codePoint > 0xffff) index++
    hash = hashCodePoint(hash, codePoint)
  }
  return hash >>> 0
}

/** Number of bytes of the key's UTF-8 encoding (lone surrogates count as U+FFFD, 3 bytes). */
export function utf8ByteLength(key: string): number {
  checkKey(key)
  let byteCount = 0
  for (let index = 0; index < key.length; index++) {
    const codeUnit = key.charCodeAt(index)
    if (codeUnit < 0x80) {
      byteCount += 1
      continue
    }
    const codePoint = scalarValueAt(key, index)
    if (codePoint > 0xffff) index++
    byteCount += codePointByteLength(codePoint)
  }
  return byteCount
}

/** Keys come from users (cluster.shardOf), so a non-string is an operating error, not a bug. */
function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw new ShardKVError('ERR_INVALID_KEY', `key must be a string, got ${typeof key}`)
}

/** The Unicode scalar value starting at `index`; a lone surrogate reads as U+FFFD. */
function scalarValueAt(key: string, index: number): number {
  // codePointAt joins a valid surrogate pair and returns a lone surrogate as is.
  const codePoint = key.codePointAt(index) ?? REPLACEMENT_CHARACTER
  const isLoneSurrogate = codePoint >= SURROGATE_FIRST && codePoint <= SURROGATE_LAST
  return isLoneSurrogate ? REPLACEMENT_CHARACTER : codePoint
}

function codePointByteLength(codePoint: number): number {
  if (codePoint < 0x80) return 1
  if (codePoint < 0x800) return 2
  if (codePoint < 0x10000) return 3
  return 4
}

/** Feeds the UTF-8 bytes of one non-ASCII scalar value into the hash. */
function hashCodePoint(hash: number, codePoint: number): number {
  if (codePoint < 0x800) {
    hash = hashByte(hash, 0xc0 | (codePoint >> 6))
  } else if (codePoint < 0x10000) {
    hash = hashByte(hash, 0xe0 | (codePoint >> 12))
    hash = hashByte(hash, 0x80 | ((codePoint >> 6) & 0x3f))
  } else {
    hash = hashByte(hash, 0xf0 | (codePoint >> 18))
    hash = hashByte(hash, 0x80 | ((codePoint >> 12) & 0x3f))
    hash = hashByte(hash, 0x80 | ((codePoint >> 6) & 0x3f))
  }
  return hashByte(hash, 0x80 | (codePoint & 0x3f))
}

function hashByte(hash: number, byte: number): number {
  return Math.imul(hash ^ byte, FNV_PRIME)
}
