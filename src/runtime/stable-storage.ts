/**
 * Stable storage: per-actor key -> bytes that outlives the actor's worker.
 *
 * The supervisor (main thread) owns one SharedArrayBuffer per actor and hands
 * it to every incarnation of that actor's worker, so a restarted actor reads
 * back what it stored. This is how shardkv answers Paxos amnesia: acceptor
 * state (promised and accepted ballots) lives here and survives restarts.
 *
 * Crash safety against `worker.terminate()` at any instruction:
 *
 *   [ header 64 B | region 0: capacityBytes | region 1: capacityBytes ]
 *
 * The header holds Int32 words: a magic, the capacity, the active region and
 * the published length of each region. The active region is a log of
 * records. `set`/`delete` write a record past the published length, then
 * publish it with one `Atomics.store` of the new length. When the record
 * does not fit, the live map (with the change applied) is written, compacted,
 * into the other region, its length is published, and one `Atomics.store`
 * flips the active word. A reader trusts only the active word and that
 * region's published length, so a writer killed half-way leaves bytes that
 * nobody reads: every key holds its old or its new value, never a torn one.
 *
 * Exactly one writer at a time: the supervisor starts an incarnation only
 * after the previous one has exited.
 */
import { ShardKVError, assert } from '../errors.js'
import type { StableStorage } from './actor.js'

/** Default capacity of one region: the most live data (keys, values, record headers) an actor can keep. */
export const DEFAULT_STABLE_STORAGE_BYTES = 4 * 1024 * 1024
/** Lower bound so that the header and at least a few records always fit. */
export const MIN_STABLE_STORAGE_BYTES = 256
/** Upper bound so that both regions and the header stay addressable by Int32 lengths. */
export const MAX_STABLE_STORAGE_BYTES = 512 * 1024 * 1024
/** Keys are names chosen by code ("paxos/promised"), not data: bounded small. */
export const MAX_STABLE_KEY_BYTES = 1024

const MAGIC = 0x534b_5631 // "SKV1"
const HEADER_BYTES = 64
const WORD_MAGIC = 0
const WORD_CAPACITY = 1
const WORD_ACTIVE_REGION = 2
const WORD_REGION_LENGTH = 3 // region r's published length is word 3 + r
const HEADER_WORDS = 5

const RECORD_SET = 1
const RECORD_DELETE = 2
/** kind (u8), key length (u32), value length (u32), then key and value bytes. */
const RECORD_HEADER_BYTES = 9

/** A delete record carries the key and no value. */
const EMPTY_VALUE = new Uint8Array(0)

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Allocates and formats a buffer for one actor's stable storage. Each of the
 * two regions holds `capacityBytes`, so the buffer is 2 * capacityBytes + 64.
 */
export function createStableStorageBuffer(capacityBytes: number = DEFAULT_STABLE_STORAGE_BYTES): SharedArrayBuffer {
  validateStableStorageCapacity(capacityBytes)
  const buffer = new SharedArrayBuffer(HEADER_BYTES + 2 * capacityBytes)
  const words = new Int32Array(buffer, 0, HEADER_WORDS)
  words[WORD_CAPACITY] = capacityBytes
  words[WORD_ACTIVE_REGION] = 0
  // The magic goes last so a buffer is never seen as formatted before it is.
  Atomics.store(words, WORD_MAGIC, MAGIC)
  return buffer
}

interface Entry {
  readonly keyBytes: Uint8Array
  readonly value: Uint8Array
}

/** Where a live value sits in the shared buffer: its bytes are read from there, never kept on the JS heap. */
interface StoredRecord {
  readonly keyBytes: Uint8Array
  /** Absolute offset of the value in the buffer (inside the active region). */
  valueStart: number
  readonly valueLength: number
}

export class SharedStableStorage implements StableStorage {
  readonly capacityBytes: number
  private readonly words: Int32Array
  private readonly bytes: Uint8Array
  private readonly view: DataView
  /**
   * The live map, rebuilt from the log on open: where each live value is in
   * the active region. Values stay only in the buffer, so storing a snapshot
   * or a log slot allocates nothing that lives on the JS heap.
   */
  private readonly entries = new Map<string, StoredRecord>()
  /** Size the live map takes once compacted; decides whether compaction can help. */
  private live = 0
  private activeRegion = 0
  private publishedBytes = 0

  constructor(buffer: SharedArrayBuffer) {
    this.capacityBytes = readCapacity(buffer)
    this.words = new Int32Array(buffer, 0, HEADER_WORDS)
    this.bytes = new Uint8Array(buffer)
    this.view = new DataView(buffer)
    this.load()
  }

  get liveBytes(): number {
    return this.live
  }

  /** Bytes of the log in the active region, including superseded records not yet compacted away. */
  get usedBytes(): number {
    return this.publishedBytes
  }

  get(key: string): Uint8Array | undefined {
    const record = this.entries.get(key)
    // A copy out of shared memory: later compactions rewrite the region, and a caller must not change what is stored.
    return record === undefined ? undefined : this.bytes.slice(record.valueStart, record.valueStart + record.valueLength)
  }

  /** Copies `value` into the buffer: the caller may reuse it (a codec's scratch) as soon as this returns. */
  set(key: string, value: Uint8Array): void {
    const keyBytes = encodeStableKey(key)
    validateValue(key, value)
    const previous = this.entries.get(key)
    const valueStart = this.append(RECORD_SET, key, { keyBytes, value })
    const record: StoredRecord = { keyBytes, valueStart, valueLength: value.length }
    this.live += recordSizeBytes(record) - (previous === undefined ? 0 : recordSizeBytes(previous))
    this.entries.set(key, record)
  }

  delete(key: string): void {
    const previous = this.entries.get(key)
    if (previous === undefined) return
    this.append(RECORD_DELETE, key, { keyBytes: previous.keyBytes, value: EMPTY_VALUE })
    this.live -= recordSizeBytes(previous)
    this.entries.delete(key)
  }

  keys(): string[] {
    return [...this.entries.keys()]
  }

  /**
   * Appends one record, compacting first if it does not fit; returns where
   * its value now is. Throws ERR_STORAGE_FULL with nothing changed.
   */
  private append(kind: number, key: string, entry: Entry): number {
    const size = entrySizeBytes(entry)
    if (this.publishedBytes + size <= this.capacityBytes) {
      const at = this.regionStart(this.activeRegion) + this.publishedBytes
      const end = this.writeRecord(at, kind, entry.keyBytes, entry.value)
      this.publish(this.activeRegion, end - this.regionStart(this.activeRegion))
      return end - entry.value.length
    }
    return this.compactInto(1 - this.activeRegion, kind, key, entry)
  }

  /**
   * Writes the live map with the pending change applied into `region`, then
   * makes it the active one; returns where the change's value now is. Until
   * the final flip the old region stays the one readers use, so a crash here
   * loses only the pending change. The live values are copied from the old
   * region, which the new one does not overlap.
   */
  private compactInto(region: number, kind: number, key: string, change: Entry): number {
    const previous = this.entries.get(key)
    const changeBytes = kind === RECORD_SET ? entrySizeBytes(change) : 0
    const compactedBytes = this.live - (previous === undefined ? 0 : recordSizeBytes(previous)) + changeBytes
    if (compactedBytes > this.capacityBytes) {
      throw new ShardKVError(
        'ERR_STORAGE_FULL',
        `stable storage full: live data would take ${compactedBytes} bytes, capacity is ${this.capacityBytes}`,
      )
    }
    const start = this.regionStart(region)
    const moved: [StoredRecord, number][] = []
    let offset = start
    for (const [liveKey, record] of this.entries) {
      if (liveKey === key) continue
      const value = this.bytes.subarray(record.valueStart, record.valueStart + record.valueLength)
      offset = this.writeRecord(offset, RECORD_SET, record.keyBytes, value)
      moved.push([record, offset - record.valueLength])
    }
    if (kind === RECORD_SET) offset = this.writeRecord(offset, RECORD_SET, change.keyBytes, change.value)
    assert(offset - start === compactedBytes, 'compaction wrote exactly the live bytes')
    Atomics.store(this.words, WORD_REGION_LENGTH + region, compactedBytes)
    Atomics.store(this.words, WORD_ACTIVE_REGION, region)
    this.activeRegion = region
    this.publishedBytes = compactedBytes
    for (const [record, valueStart] of moved) record.valueStart = valueStart
    return offset - change.value.length
  }

  private publish(region: number, lengthBytes: number): void {
    Atomics.store(this.words, WORD_REGION_LENGTH + region, lengthBytes)
    this.publishedBytes = lengthBytes
  }

  /** Writes one record at `offset` (absolute) and returns the offset just past it. */
  private writeRecord(offset: number, kind: number, keyBytes: Uint8Array, value: Uint8Array): number {
    this.view.setUint8(offset, kind)
    this.view.setUint32(offset + 1, keyBytes.length, true)
    this.view.setUint32(offset + 5, value.length, true)
    this.bytes.set(keyBytes, offset + RECORD_HEADER_BYTES)
    this.bytes.set(value, offset + RECORD_HEADER_BYTES + keyBytes.length)
    return offset + RECORD_HEADER_BYTES + keyBytes.length + value.length
  }

  private regionStart(region: number): number {
    return HEADER_BYTES + region * this.capacityBytes
  }

  /** Rebuilds the live map from the active region's published records only. */
  private load(): void {
    this.activeRegion = Atomics.load(this.words, WORD_ACTIVE_REGION)
    assert(this.activeRegion === 0 || this.activeRegion === 1, `stable storage active region is 0 or 1, got ${this.activeRegion}`)
    this.publishedBytes = Atomics.load(this.words, WORD_REGION_LENGTH + this.activeRegion)
    assert(this.publishedBytes >= 0 && this.publishedBytes <= this.capacityBytes, 'stable storage published length within capacity')
    const start = this.regionStart(this.activeRegion)
    const end = start + this.publishedBytes
    for (let offset = start; offset < end; ) offset = this.replayRecord(offset, end)
  }

  /** Applies the record at `offset` to the live map; returns the offset of the next one. */
  private replayRecord(offset: number, end: number): number {
    assert(offset + RECORD_HEADER_BYTES <= end, `stable storage record header at ${offset} within the published log`)
    const kind = this.view.getUint8(offset)
    const keyLength = this.view.getUint32(offset + 1, true)
    const valueLength = this.view.getUint32(offset + 5, true)
    const keyStart = offset + RECORD_HEADER_BYTES
    const next = keyStart + keyLength + valueLength
    assert(next <= end, `stable storage record at ${offset} within the published log`)
    // slice() copies out of shared memory: the region is rewritten by later compactions.
    const keyBytes = this.bytes.slice(keyStart, keyStart + keyLength)
    const key = utf8Decoder.decode(keyBytes)
    const previous = this.entries.get(key)
    if (previous !== undefined) this.live -= recordSizeBytes(previous)
    if (kind === RECORD_SET) {
      const record: StoredRecord = { keyBytes, valueStart: keyStart + keyLength, valueLength }
      this.entries.set(key, record)
      this.live += recordSizeBytes(record)
    } else {
      assert(kind === RECORD_DELETE && valueLength === 0, `stable storage record kind at ${offset} is set or delete, got ${kind}`)
      this.entries.delete(key)
    }
    return next
  }
}

/**
 * Stable storage for the simulator: a plain Map that the simulator keeps
 * across an actor's simulated crashes. Same limits and errors as
 * SharedStableStorage (capacity counted in the same record bytes), so an
 * actor that fills its storage fails the same way in both hosts.
 */
export class MemoryStableStorage implements StableStorage {
  readonly capacityBytes: number
  private readonly entries = new Map<string, Entry>()
  private live = 0

  constructor(capacityBytes: number = DEFAULT_STABLE_STORAGE_BYTES) {
    validateStableStorageCapacity(capacityBytes)
    this.capacityBytes = capacityBytes
  }

  get usedBytes(): number {
    return this.live
  }

  get liveBytes(): number {
    return this.live
  }

  get(key: string): Uint8Array | undefined {
    return this.entries.get(key)?.value.slice()
  }

  set(key: string, value: Uint8Array): void {
    const keyBytes = encodeStableKey(key)
    validateValue(key, value)
    const entry: Entry = { keyBytes, value: value.slice() }
    const previous = this.entries.get(key)
    const liveBytes = this.live + entrySizeBytes(entry) - (previous === undefined ? 0 : entrySizeBytes(previous))
    if (liveBytes > this.capacityBytes) {
      throw new ShardKVError('ERR_STORAGE_FULL', `stable storage full: live data would take ${liveBytes} bytes, capacity is ${this.capacityBytes}`)
    }
    this.entries.set(key, entry)
    this.live = liveBytes
  }

  delete(key: string): void {
    const previous = this.entries.get(key)
    if (previous === undefined) return
    this.live -= entrySizeBytes(previous)
    this.entries.delete(key)
  }

  keys(): string[] {
    return [...this.entries.keys()]
  }
}

function recordSizeBytes(record: StoredRecord): number {
  return RECORD_HEADER_BYTES + record.keyBytes.length + record.valueLength
}

function entrySizeBytes(entry: Entry): number {
  return RECORD_HEADER_BYTES + entry.keyBytes.length + entry.value.length
}

/** A lone surrogate would not survive UTF-8 and come back as U+FFFD: a different key. */
const LONE_SURROGATE = /\p{Cs}/u

function encodeStableKey(key: string): Uint8Array {
  if (typeof key !== 'string' || LONE_SURROGATE.test(key)) {
    throw new ShardKVError('ERR_INVALID_KEY', 'stable storage key must be a well-formed string')
  }
  const keyBytes = utf8Encoder.encode(key)
  if (keyBytes.length > MAX_STABLE_KEY_BYTES) {
    throw new ShardKVError('ERR_KEY_TOO_LARGE', `stable storage key takes ${keyBytes.length} bytes, limit is ${MAX_STABLE_KEY_BYTES}`)
  }
  return keyBytes
}

function validateValue(key: string, value: Uint8Array): void {
  if (!(value instanceof Uint8Array)) {
    throw new ShardKVError('ERR_INVALID_VALUE', `stable storage value for "${key}" must be a Uint8Array`)
  }
}

/** Throws ERR_INVALID_OPTION naming `optionName` unless `capacityBytes` is a usable region capacity. */
export function validateStableStorageCapacity(capacityBytes: number, optionName = 'capacityBytes'): void {
  if (!Number.isInteger(capacityBytes) || capacityBytes < MIN_STABLE_STORAGE_BYTES || capacityBytes > MAX_STABLE_STORAGE_BYTES) {
    throw new ShardKVError(
      'ERR_INVALID_OPTION',
      `${optionName} must be an integer within ${MIN_STABLE_STORAGE_BYTES}..${MAX_STABLE_STORAGE_BYTES}, got ${capacityBytes}`,
    )
  }
}

function readCapacity(buffer: SharedArrayBuffer): number {
  const formatted = buffer instanceof SharedArrayBuffer && buffer.byteLength >= HEADER_BYTES
  const words = formatted ? new Int32Array(buffer, 0, HEADER_WORDS) : undefined
  const capacityBytes = words === undefined ? 0 : Atomics.load(words, WORD_CAPACITY)
  if (words === undefined || Atomics.load(words, WORD_MAGIC) !== MAGIC || buffer.byteLength !== HEADER_BYTES + 2 * capacityBytes) {
    throw new ShardKVError('ERR_INVALID_OPTION', 'stable storage buffer was not made by createStableStorageBuffer')
  }
  return capacityBytes
}
