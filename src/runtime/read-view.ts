/**
 * A read view: a key-value table in one SharedArrayBuffer that one actor
 * (the writer) keeps and any thread of the process reads without a message.
 * A storage-node leader publishes its served shards here, with the end of
 * its lease, so that a client answers a get in its own thread: the same
 * answer the leader would give from its applied state (see storage-node.ts
 * for why that is linearizable), for a hash lookup instead of two thread
 * wake-ups.
 *
 * Single writer, many readers, no locks:
 *
 * - Records are immutable once written: [shard, keyBytes, valueBytes or
 *   NOT_CACHED, kind] then the key's and the value's UTF-8 (or raw) bytes,
 *   appended to an arena. An index of Int32 slots (open addressing, linear
 *   probing) points at records; the writer fills a record, then publishes it
 *   with one Atomics.store of its slot (insert, update) or of TOMBSTONE
 *   (delete). A reader therefore sees each key's old or new record, never a
 *   torn one.
 * - The buffer holds two halves; when the active one runs out of arena or
 *   index, the writer copies the live records into the other half and
 *   switches. It keeps the generation counter odd while it does, and while
 *   it clears a shard (seqlock): a reader that saw the generation change
 *   during its lookup discards what it read and tries again, a few times,
 *   then falls back to messaging.
 * - Readers bound every offset and length they read, so even a lookup racing
 *   a rebuild cannot throw or loop; the generation check throws its result away.
 * - The lease end is a Float64 under its own seqlock.
 * - Memory order: a reader's plain reads of a record sit between two
 *   Atomics.load of the generation. That suffices on x86-64 (loads are not
 *   reordered with loads); on a weakly ordered CPU (ARM) a seqlock also wants
 *   a load fence before the second check, which JavaScript does not offer.
 *
 * Bounds: values above MAX_CACHED_VALUE_BYTES are recorded as present but
 * not cached (a reader falls back for them); when the live records of a
 * served shard no longer fit in half the buffer even after a rebuild, that
 * shard stops being served from the view (readers fall back) until reset.
 *
 * Clock: lease ends are stored in `sharedClockMs()` time, which every thread
 * of the process reads alike (performance.timeOrigin + performance.now()).
 */
import { performance } from 'node:perf_hooks'
import type { ReadView } from './actor.js'

/** Default size of a view's buffer (both halves). */
export const DEFAULT_READ_VIEW_BYTES = 32 * 1024 * 1024
/** Values longer than this are recorded as present but not cached. */
export const MAX_CACHED_VALUE_BYTES = 64 * 1024
/** How many times a reader retries a lookup that raced a rebuild before falling back. */
const READ_ATTEMPTS = 4
/** Subtracted from every lease end, for the microsecond the conversion between clocks may be off. */
const CLOCK_MARGIN_MS = 0.05

// Header, in Int32 units.
const GENERATION = 0
const ACTIVE_HALF = 1
const INDEX_SLOTS = 2
const LEASE_SEQ = 3
// Float64 lease end at byte 16.
const LEASE_END_BYTE = 16
const SHARDS_BYTE = 64

const EMPTY = 0
const TOMBSTONE = -1
/** valueBytes of a record whose value is too large to keep here. */
const NOT_CACHED = -1
const KIND_STRING = 0
const KIND_BYTES = 1
const RECORD_HEADER_BYTES = 16
const MIN_INDEX_SLOTS = 1024
/** Grow the index when live plus dead slots pass this share of it. */
const MAX_INDEX_LOAD = 0.5
/** Most of a fresh half's arena the live records may fill; past it a shard overflows. */
const MAX_ARENA_FILL = 7 / 8

const SERVING = 1

/** What a reader gets for a key the view cannot answer: the caller asks the actor instead. */
export const NOT_IN_VIEW: unique symbol = Symbol('not in view')
export type ViewValue = string | Uint8Array
export type ViewRead = ViewValue | undefined | typeof NOT_IN_VIEW

const TIME_ORIGIN_MS = performance.timeOrigin

/** The milliseconds clock every thread of this process shares. */
export function sharedClockMs(): number {
  return TIME_ORIGIN_MS + performance.now()
}

export function createReadViewBuffer(shards: number, bytes = DEFAULT_READ_VIEW_BYTES): SharedArrayBuffer {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`read view: shards must be a positive integer, got ${shards}`)
  const header = headerBytes(shards)
  if (!Number.isInteger(bytes) || bytes < header + 2 * (MIN_INDEX_SLOTS * 4 + 4096)) {
    throw new RangeError(`read view: ${bytes} bytes is too small for ${shards} shards`)
  }
  const buffer = new SharedArrayBuffer(bytes)
  const words = new Int32Array(buffer)
  words[INDEX_SLOTS] = MIN_INDEX_SLOTS
  new Float64Array(buffer, LEASE_END_BYTE, 1)[0] = Number.NEGATIVE_INFINITY
  return buffer
}

function headerBytes(shards: number): number {
  return SHARDS_BYTE + align8(shards * 4)
}

function align8(bytes: number): number {
  return (bytes + 7) & ~7
}

function align4(bytes: number): number {
  return (bytes + 3) & ~3
}

/** FNV-1a over the shard and the key's bytes. */
function hashOf(shard: number, bytes: Uint8Array, length: number): number {
  let hash = Math.imul(0x811c9dc5 ^ shard, 0x01000193)
  for (let index = 0; index < length; index++) {
    hash ^= bytes[index]!
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

const encoder = new TextEncoder()

/**
 * Writes `key`'s UTF-8 into `scratch` (which must hold key.length * 3
 * bytes) and returns its length. ASCII keys, the common case, are copied by
 * a loop: cheaper than a call into the encoder for keys of a few dozen bytes.
 */
function encodeKeyInto(key: string, scratch: Uint8Array): number {
  const length = key.length
  for (let index = 0; index < length; index++) {
    const code = key.charCodeAt(index)
    if (code >= 0x80) return encoder.encodeInto(key, scratch).written
    scratch[index] = code
  }
  return length
}

/** The geometry both sides derive from the buffer and the shard count. */
class Geometry {
  readonly words: Int32Array
  readonly bytes: Uint8Array
  readonly lease: Float64Array
  readonly shardStates: Int32Array
  readonly halfStart: readonly [number, number]
  readonly halfBytes: number

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly shards: number,
  ) {
    this.words = new Int32Array(buffer)
    this.bytes = new Uint8Array(buffer)
    this.lease = new Float64Array(buffer, LEASE_END_BYTE, 1)
    this.shardStates = new Int32Array(buffer, SHARDS_BYTE, shards)
    const header = headerBytes(shards)
    this.halfBytes = Math.floor((buffer.byteLength - header) / 2) & ~7
    this.halfStart = [header, header + this.halfBytes]
  }
}

/**
 * The writer's side; exactly one per buffer, in the owning actor's thread.
 * The runtime hands it to the actor as ActorContext.readView. Lease ends
 * arrive in the actor's now() time; `clockOriginMs` turns them into
 * sharedClockMs() time (the worker host: performance.timeOrigin, as its
 * now() is performance.now(); the simulator: 0, readers use its clock).
 */
export class ReadViewWriter implements ReadView {
  private readonly geometry: Geometry
  private half = 0
  private slots = MIN_INDEX_SLOTS
  private arenaUsed = 0
  /** Live and tombstone slots of the active index. */
  private usedSlots = 0
  private liveRecordBytes = 0
  private liveRecords = 0
  /** Shards that overflowed: not served again until reset. */
  private readonly overflowed = new Set<number>()
  private scratch = new Uint8Array(1024)

  constructor(
    buffer: SharedArrayBuffer,
    shards: number,
    private readonly clockOriginMs = 0,
  ) {
    this.geometry = new Geometry(buffer, shards)
  }

  /** Bytes of live records, for stats and tests. */
  get liveBytes(): number {
    return this.liveRecordBytes
  }

  get records(): number {
    return this.liveRecords
  }

  /** Forgets everything: no lease, no shard served, no records. */
  reset(): void {
    const { words, lease, shardStates } = this.geometry
    // A writer killed between the two bumps of a seqlock (a rebuild, a clearShard, a lease write) left its counter
    // odd. Odd while this writes, even after: a plain bump would invert the parity for good, and readers would
    // refuse the quiet view and trust it in the middle of each rebuild and clearShard.
    Atomics.store(words, LEASE_SEQ, Atomics.load(words, LEASE_SEQ) | 1)
    lease[0] = Number.NEGATIVE_INFINITY
    Atomics.add(words, LEASE_SEQ, 1)
    for (let shard = 0; shard < shardStates.length; shard++) Atomics.store(shardStates, shard, 0)
    this.overflowed.clear()
    Atomics.store(words, GENERATION, Atomics.load(words, GENERATION) | 1)
    this.half = 0
    this.slots = MIN_INDEX_SLOTS
    words[ACTIVE_HALF] = 0
    words[INDEX_SLOTS] = MIN_INDEX_SLOTS
    this.indexOf(0, MIN_INDEX_SLOTS).fill(EMPTY)
    this.arenaUsed = 0
    this.usedSlots = 0
    this.liveRecordBytes = 0
    this.liveRecords = 0
    Atomics.add(words, GENERATION, 1)
  }

  /** Readers may answer until `endMs` (the actor's now() time, see clockOriginMs); -Infinity: not at all. */
  setLeaseEnd(endMs: number): void {
    const { words, lease } = this.geometry
    const end = this.clockOriginMs + endMs - CLOCK_MARGIN_MS
    if (lease[0] === end) return
    Atomics.add(words, LEASE_SEQ, 1)
    lease[0] = end
    Atomics.add(words, LEASE_SEQ, 1)
  }

  /** Whether readers answer keys of `shard`; false (and no change) for a shard that overflowed. */
  setServing(shard: number, serving: boolean): boolean {
    if (serving && this.overflowed.has(shard)) return false
    Atomics.store(this.geometry.shardStates, shard, serving ? SERVING : 0)
    return true
  }

  isServing(shard: number): boolean {
    return Atomics.load(this.geometry.shardStates, shard) === SERVING
  }

  /**
   * Records `value` under `key`. False when the shard's records no longer
   * fit even after a rebuild: the shard is then not served until reset.
   */
  set(shard: number, key: string, value: ViewValue): boolean {
    if (this.overflowed.has(shard)) return false
    const isString = typeof value === 'string'
    const valueBytes = isString ? Buffer.byteLength(value) : value.byteLength
    const cached = valueBytes <= MAX_CACHED_VALUE_BYTES
    const keyLength = this.encodeKey(key)
    const recordBytes = align4(RECORD_HEADER_BYTES + keyLength + (cached ? valueBytes : 0))
    if (!this.makeRoom(recordBytes)) {
      this.overflow(shard)
      return false
    }
    const { bytes, words } = this.geometry
    const arenaStart = this.arenaStart(this.half, this.slots)
    const offset = arenaStart + this.arenaUsed
    const word = offset >> 2
    words[word] = shard
    words[word + 1] = keyLength
    words[word + 2] = cached ? valueBytes : NOT_CACHED
    words[word + 3] = isString ? KIND_STRING : KIND_BYTES
    bytes.set(this.scratch.subarray(0, keyLength), offset + RECORD_HEADER_BYTES)
    if (cached) {
      const valueAt = offset + RECORD_HEADER_BYTES + keyLength
      if (isString) Buffer.from(this.geometry.buffer, valueAt, valueBytes).write(value, 'utf8')
      else bytes.set(value, valueAt)
    }
    this.arenaUsed += recordBytes
    this.publish(shard, keyLength, ((offset - arenaStart) >> 2) + 1, recordBytes)
    return true
  }

  delete(shard: number, key: string): void {
    const keyLength = this.encodeKey(key)
    const index = this.indexOf(this.half, this.slots)
    const slot = this.findSlot(index, shard, keyLength)
    if (slot < 0) return
    const ref = index[slot]!
    if (ref <= 0) return
    this.liveRecordBytes -= this.recordBytesAt(this.arenaStart(this.half, this.slots) + ((ref - 1) << 2))
    this.liveRecords--
    Atomics.store(index, slot, TOMBSTONE)
  }

  /** Drops every record of `shard` (it must not be served); it may be served again once reloaded. */
  clearShard(shard: number): void {
    const { words } = this.geometry
    // Under an odd generation, like a rebuild: a lookup that found the shard
    // served just before this would otherwise meet the tombstones below and
    // answer "absent" for keys the shard held whenever it was served.
    Atomics.add(words, GENERATION, 1)
    Atomics.store(this.geometry.shardStates, shard, 0)
    this.overflowed.delete(shard)
    const index = this.indexOf(this.half, this.slots)
    const arenaStart = this.arenaStart(this.half, this.slots)
    for (let slot = 0; slot < index.length; slot++) {
      const ref = index[slot]!
      if (ref <= 0) continue
      const offset = arenaStart + ((ref - 1) << 2)
      if (words[offset >> 2] !== shard) continue
      this.liveRecordBytes -= this.recordBytesAt(offset)
      this.liveRecords--
      Atomics.store(index, slot, TOMBSTONE)
    }
    Atomics.add(words, GENERATION, 1)
  }

  private overflow(shard: number): void {
    this.clearShard(shard)
    this.overflowed.add(shard)
  }

  private encodeKey(key: string): number {
    const most = key.length * 3
    if (this.scratch.length < most) this.scratch = new Uint8Array(Math.max(most, 2 * this.scratch.length))
    return encodeKeyInto(key, this.scratch)
  }

  /** Points the key's slot at record `ref` (in 4-byte units, plus one). */
  private publish(shard: number, keyLength: number, ref: number, recordBytes: number): void {
    const index = this.indexOf(this.half, this.slots)
    const slot = this.findSlot(index, shard, keyLength)
    const previous = index[slot]!
    if (previous > 0) {
      this.liveRecordBytes -= this.recordBytesAt(this.arenaStart(this.half, this.slots) + ((previous - 1) << 2))
    } else {
      this.liveRecords++
      if (previous === EMPTY) this.usedSlots++
    }
    this.liveRecordBytes += recordBytes
    Atomics.store(index, slot, ref)
  }

  /** The slot holding the key, else the first free (tombstone or empty) slot of its probe sequence. */
  private findSlot(index: Int32Array, shard: number, keyLength: number): number {
    const mask = index.length - 1
    const arenaStart = this.arenaStart(this.half, this.slots)
    let free = -1
    for (let slot = hashOf(shard, this.scratch, keyLength) & mask; ; slot = (slot + 1) & mask) {
      const ref = index[slot]!
      if (ref === EMPTY) return free >= 0 ? free : slot
      if (ref === TOMBSTONE) {
        if (free < 0) free = slot
        continue
      }
      if (this.matches(arenaStart + ((ref - 1) << 2), shard, keyLength)) return slot
    }
  }

  private matches(offset: number, shard: number, keyLength: number): boolean {
    const { words, bytes } = this.geometry
    const word = offset >> 2
    if (words[word] !== shard || words[word + 1] !== keyLength) return false
    const keyAt = offset + RECORD_HEADER_BYTES
    for (let at = 0; at < keyLength; at++) if (bytes[keyAt + at] !== this.scratch[at]) return false
    return true
  }

  private recordBytesAt(offset: number): number {
    const { words } = this.geometry
    const word = offset >> 2
    const valueBytes = words[word + 2]!
    return align4(RECORD_HEADER_BYTES + words[word + 1]! + (valueBytes === NOT_CACHED ? 0 : valueBytes))
  }

  /** Room for one more record of `recordBytes` (a rebuild into the other half if need be); false if none. */
  private makeRoom(recordBytes: number): boolean {
    const fitsArena = this.arenaUsed + recordBytes <= this.arenaBytes(this.slots)
    const fitsIndex = this.usedSlots + 1 <= this.slots * MAX_INDEX_LOAD
    if (fitsArena && fitsIndex) return true
    let slots = MIN_INDEX_SLOTS
    while ((this.liveRecords + 1) * 2 > slots * MAX_INDEX_LOAD) slots *= 2
    // A rebuild that would leave less than an eighth free would come round again at once.
    if (this.liveRecordBytes + recordBytes > this.arenaBytes(slots) * MAX_ARENA_FILL) return false
    this.rebuild(slots)
    return true
  }

  private arenaBytes(slots: number): number {
    return this.geometry.halfBytes - slots * 4
  }

  private arenaStart(half: number, slots: number): number {
    return this.geometry.halfStart[half]! + slots * 4
  }

  private indexOf(half: number, slots: number): Int32Array {
    return new Int32Array(this.geometry.buffer, this.geometry.halfStart[half]!, slots)
  }

  /** Copies the live records into the other half with an index of `slots`, and switches to it. */
  private rebuild(slots: number): void {
    const { words, bytes } = this.geometry
    const from = this.indexOf(this.half, this.slots)
    const fromArena = this.arenaStart(this.half, this.slots)
    const half = 1 - this.half
    const to = this.indexOf(half, slots)
    const toArena = this.arenaStart(half, slots)
    Atomics.add(words, GENERATION, 1)
    to.fill(EMPTY)
    const mask = slots - 1
    let used = 0
    for (let slot = 0; slot < from.length; slot++) {
      const ref = from[slot]!
      if (ref <= 0) continue
      const offset = fromArena + ((ref - 1) << 2)
      const length = this.recordBytesAt(offset)
      bytes.copyWithin(toArena + used, offset, offset + length)
      const word = offset >> 2
      const hash = hashOf(words[word]!, bytes.subarray(offset + RECORD_HEADER_BYTES), words[word + 1]!)
      let target = hash & mask
      while (to[target] !== EMPTY) target = (target + 1) & mask
      to[target] = (used >> 2) + 1
      used += length
    }
    this.half = half
    this.slots = slots
    this.arenaUsed = used
    this.usedSlots = this.liveRecords
    words[ACTIVE_HALF] = half
    words[INDEX_SLOTS] = slots
    Atomics.add(words, GENERATION, 1)
  }
}

/** A reader's side: any number, in any threads. */
export class ReadViewReader {
  private readonly geometry: Geometry
  private readonly leaseWords: Int32Array
  /** The whole buffer as a Buffer, to decode strings from without a view object per read. */
  private readonly whole: Buffer
  private scratch = new Uint8Array(1024)

  constructor(buffer: SharedArrayBuffer, shards: number) {
    this.geometry = new Geometry(buffer, shards)
    this.leaseWords = this.geometry.words
    this.whole = Buffer.from(buffer)
  }

  /** Whether the view answers for `shard` at `nowMs` (sharedClockMs() time). */
  serves(shard: number, nowMs: number): boolean {
    return Atomics.load(this.geometry.shardStates, shard) === SERVING && nowMs < this.leaseEnd()
  }

  /**
   * The value under `key` of `shard` (a copy), undefined when absent, or
   * NOT_IN_VIEW when the view cannot answer: no lease at `nowMs`, the shard
   * not served, a value too large to cache, or a rebuild in the way.
   */
  get(shard: number, key: string, nowMs: number): ViewRead {
    const { words } = this.geometry
    const keyLength = this.encodeKey(key)
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      const generation = Atomics.load(words, GENERATION)
      if ((generation & 1) !== 0) continue
      if (!this.serves(shard, nowMs)) return NOT_IN_VIEW
      const found = this.lookup(shard, keyLength)
      if (Atomics.load(words, GENERATION) === generation) return found
    }
    return NOT_IN_VIEW
  }

  private leaseEnd(): number {
    const words = this.leaseWords
    const before = Atomics.load(words, LEASE_SEQ)
    const end = this.geometry.lease[0]!
    if ((before & 1) !== 0 || Atomics.load(words, LEASE_SEQ) !== before) return Number.NEGATIVE_INFINITY
    return end
  }

  private encodeKey(key: string): number {
    const most = key.length * 3
    if (this.scratch.length < most) this.scratch = new Uint8Array(Math.max(most, 2 * this.scratch.length))
    return encodeKeyInto(key, this.scratch)
  }

  /** Every offset and length read is bounded: a lookup racing a rebuild may read nonsense, never out of range. */
  private lookup(shard: number, keyLength: number): ViewRead {
    const { words, bytes, halfStart, halfBytes } = this.geometry
    const half = words[ACTIVE_HALF]! & 1
    const slots = words[INDEX_SLOTS]!
    if (!(slots >= MIN_INDEX_SLOTS && slots * 4 < halfBytes && (slots & (slots - 1)) === 0)) return NOT_IN_VIEW
    const indexWord = halfStart[half]! >> 2
    const arenaStart = halfStart[half]! + slots * 4
    const arenaEnd = halfStart[half]! + halfBytes
    const mask = slots - 1
    const scratch = this.scratch
    let slot = hashOf(shard, scratch, keyLength) & mask
    for (let probes = 0; probes < slots; probes++, slot = (slot + 1) & mask) {
      const ref = Atomics.load(words, indexWord + slot)
      if (ref === EMPTY) return undefined
      if (ref === TOMBSTONE) continue
      const offset = arenaStart + ((ref - 1) << 2)
      if (ref < 0 || offset + RECORD_HEADER_BYTES > arenaEnd) return NOT_IN_VIEW
      const word = offset >> 2
      if (words[word] !== shard || words[word + 1] !== keyLength) continue
      const keyAt = offset + RECORD_HEADER_BYTES
      const valueAt = keyAt + keyLength
      if (valueAt > arenaEnd) return NOT_IN_VIEW
      let same = true
      for (let at = 0; at < keyLength; at++) {
        if (bytes[keyAt + at] !== scratch[at]) {
          same = false
          break
        }
      }
      if (!same) continue
      const valueBytes = words[word + 2]!
      if (valueBytes === NOT_CACHED || valueBytes < 0 || valueAt + valueBytes > arenaEnd) return NOT_IN_VIEW
      if (words[word + 3] === KIND_STRING) return this.whole.toString('utf8', valueAt, valueAt + valueBytes)
      return bytes.slice(valueAt, valueAt + valueBytes)
    }
    return NOT_IN_VIEW
  }
}
