/**
 * A lane: a single-producer single-consumer ring of length-prefixed frames in
 * one SharedArrayBuffer. It is the only thing two actors share on the data
 * path, so it is built to survive its producer dying at any instruction: the
 * producer writes a frame's bytes first and only then publishes the new tail
 * (Atomics.store), so the consumer, which loads the tail before reading,
 * never sees a torn frame.
 *
 * Layout (bytes):
 *   0..3     head: consumer position (Int32), alone on its cache line
 *   64..67   tail: producer position (Int32), alone on its cache line
 *   128..    data area of `capacityBytes`
 *
 * Positions run over [0, 2 * capacityBytes) and the byte offset is the
 * position modulo capacityBytes. Counting two laps tells a full ring
 * (tail - head == capacity) from an empty one (tail == head) without keeping
 * a byte free, so the whole stated capacity is usable.
 *
 * A frame is an Int32 payload length, then the payload, padded to 4 bytes.
 * Every frame starts 4-byte aligned and capacity is a multiple of 8, so at
 * least 4 bytes always remain before the end of the data area: a frame that
 * does not fit there is preceded by a skip marker (length -1) and written at
 * offset 0. (The "fewer than 4 bytes left, wrap implicitly" case cannot
 * arise with this alignment.)
 */
import { AssertionError, ShardKVError, assert } from '../errors.js'

export const LANE_HEADER_BYTES = 128
export const DEFAULT_LANE_CAPACITY_BYTES = 65536
export const MIN_LANE_CAPACITY_BYTES = 256
export const MAX_LANE_CAPACITY_BYTES = 64 * 1024 * 1024

/** Int32 index of the head (byte 0) and of the tail (byte 64) in the header. */
const HEAD_INDEX = 0
const TAIL_INDEX = 16
const FRAME_HEADER_BYTES = 4
const SKIP_MARKER = -1

/** A lane's shared memory: header plus a data area of `capacityBytes`. */
export function createLaneBuffer(capacityBytes: number = DEFAULT_LANE_CAPACITY_BYTES): SharedArrayBuffer {
  validateCapacity(capacityBytes)
  return new SharedArrayBuffer(LANE_HEADER_BYTES + capacityBytes)
}

function validateCapacity(capacityBytes: number): void {
  const valid =
    Number.isInteger(capacityBytes) &&
    capacityBytes % 8 === 0 &&
    capacityBytes >= MIN_LANE_CAPACITY_BYTES &&
    capacityBytes <= MAX_LANE_CAPACITY_BYTES
  if (!valid) {
    throw new ShardKVError(
      'ERR_INVALID_OPTION',
      `capacityBytes must be a multiple of 8 in ${MIN_LANE_CAPACITY_BYTES}..${MAX_LANE_CAPACITY_BYTES}, got ${capacityBytes}`,
    )
  }
}

/** Bytes a frame with `payloadBytes` of payload occupies: header plus payload padded to 4. */
function frameBytesFor(payloadBytes: number): number {
  return (FRAME_HEADER_BYTES + payloadBytes + 3) & ~3
}

/**
 * One side's view of a lane. Build one in the producer's thread and one in
 * the consumer's; each reads its own position from the buffer when built, so
 * a restarted producer (or consumer) picks up exactly where the dead one last
 * published.
 *
 * The two-phase methods (`beginWrite`/`endWrite`, `beginRead`/`endRead`) let
 * the mailbox fill and parse frames in place through `bytes` without an
 * intermediate copy; everyone else should use `write`, `read`, `readWith`.
 */
export class Lane {
  readonly capacityBytes: number
  /**
   * Half the capacity (minus the frame header): the largest payload that is
   * guaranteed to fit once the consumer has caught up, wherever the tail is.
   * A larger frame could need more than the free space after a skip marker
   * and would wedge the producer on an empty lane.
   */
  readonly maxFrameBytes: number
  /** The data area. Offsets returned by beginWrite/beginRead index into it. */
  readonly bytes: Uint8Array
  private readonly words: Int32Array
  private readonly indices: Int32Array
  private readonly positionLimit: number
  // Producer side: its own tail, the last head it saw, and the open write.
  private tail: number
  private cachedHead: number
  private openWriteBytes = 0
  // Consumer side: its own head, the last tail it saw, and the open read.
  private head: number
  private cachedTail: number
  private openReadBytes = 0
  private openReadPayloadBytes = 0

  constructor(buffer: SharedArrayBuffer) {
    if (!(buffer instanceof SharedArrayBuffer)) {
      throw new ShardKVError('ERR_INVALID_OPTION', 'lane buffer must be a SharedArrayBuffer')
    }
    const capacityBytes = buffer.byteLength - LANE_HEADER_BYTES
    validateCapacity(capacityBytes)
    this.capacityBytes = capacityBytes
    this.maxFrameBytes = capacityBytes / 2 - FRAME_HEADER_BYTES
    this.positionLimit = 2 * capacityBytes
    this.bytes = new Uint8Array(buffer, LANE_HEADER_BYTES, capacityBytes)
    this.words = new Int32Array(buffer, LANE_HEADER_BYTES, capacityBytes / 4)
    this.indices = new Int32Array(buffer, 0, LANE_HEADER_BYTES / 4)
    this.head = this.loadPosition(HEAD_INDEX)
    this.tail = this.loadPosition(TAIL_INDEX)
    this.cachedHead = this.head
    this.cachedTail = this.tail
  }

  /** Appends one frame; false when it does not fit now (nothing is overwritten). */
  write(payload: Uint8Array): boolean {
    const offset = this.beginWrite(payload.length)
    if (offset < 0) return false
    this.bytes.set(payload, offset)
    this.endWrite()
    return true
  }

  /** A copy of the next frame's payload, or undefined when the lane is empty. */
  read(): Uint8Array | undefined {
    const offset = this.beginRead(true)
    if (offset < 0) return undefined
    const copy = this.bytes.slice(offset, offset + this.openReadPayloadBytes)
    this.endRead()
    return copy
  }

  /**
   * Calls `fn` with a view of the next frame's payload inside the ring (valid
   * only during the call), then releases the frame, even if `fn` throws, so
   * a frame whose handler fails is not delivered again. False when empty.
   */
  readWith(fn: (view: Uint8Array) => void): boolean {
    const offset = this.beginRead(true)
    if (offset < 0) return false
    try {
      fn(this.bytes.subarray(offset, offset + this.openReadPayloadBytes))
    } finally {
      this.endRead()
    }
    return true
  }

  isEmpty(): boolean {
    return Atomics.load(this.indices, HEAD_INDEX) === Atomics.load(this.indices, TAIL_INDEX)
  }

  /** Bytes between head and tail, frame headers, padding and skipped ends included. */
  usedBytes(): number {
    return this.distance(Atomics.load(this.indices, HEAD_INDEX), Atomics.load(this.indices, TAIL_INDEX))
  }

  /**
   * Producer: reserves a frame of `payloadBytes` and returns the offset in
   * `bytes` where its payload goes, or -1 when it does not fit now. The
   * frame stays invisible to the consumer until endWrite().
   */
  beginWrite(payloadBytes: number): number {
    assert(this.openWriteBytes === 0, 'lane beginWrite while a write is open')
    // Per-frame checks build their message only on failure: a template in assert() would be built every call.
    if (payloadBytes >>> 0 !== payloadBytes) throw new AssertionError(`lane payload length ${payloadBytes} is not a length`)
    if (payloadBytes > this.maxFrameBytes) {
      throw new ShardKVError(
        'ERR_FRAME_TOO_LARGE',
        `frame payload of ${payloadBytes} bytes exceeds the lane's maxFrameBytes ${this.maxFrameBytes}`,
      )
    }
    const frameBytes = frameBytesFor(payloadBytes)
    let offset = this.offsetOf(this.tail)
    const contiguousBytes = this.capacityBytes - offset
    const neededBytes = frameBytes <= contiguousBytes ? frameBytes : contiguousBytes + frameBytes
    if (!this.hasRoomFor(neededBytes)) return -1
    if (neededBytes !== frameBytes) {
      this.words[offset >> 2] = SKIP_MARKER
      offset = 0
    }
    this.words[offset >> 2] = payloadBytes
    this.openWriteBytes = neededBytes
    return offset + FRAME_HEADER_BYTES
  }

  /** Producer: publishes the frame reserved by beginWrite. */
  endWrite(): void {
    assert(this.openWriteBytes > 0, 'lane endWrite without beginWrite')
    this.tail = this.advance(this.tail, this.openWriteBytes)
    this.openWriteBytes = 0
    Atomics.store(this.indices, TAIL_INDEX, this.tail)
  }

  /**
   * Consumer: the offset in `bytes` of the next frame's payload (its length
   * is `readPayloadBytes`), or -1 when there is none. With `pollProducer`
   * false it only looks up to the tail seen by the last `pollTail()`, which
   * lets a reader drain a snapshot and stop even under a producer that never
   * pauses.
   */
  beginRead(pollProducer: boolean): number {
    assert(this.openReadBytes === 0, 'lane beginRead while a read is open')
    if (this.head === this.cachedTail) {
      if (!pollProducer) return -1
      this.pollTail()
      if (this.head === this.cachedTail) return -1
    }
    let offset = this.offsetOf(this.head)
    let skippedBytes = 0
    let payloadBytes = this.words[offset >> 2]
    if (payloadBytes === SKIP_MARKER) {
      skippedBytes = this.capacityBytes - offset
      offset = 0
      payloadBytes = this.words[0]
    }
    if (payloadBytes < 0 || payloadBytes > this.maxFrameBytes) {
      throw new AssertionError(`lane frame length ${payloadBytes} is corrupt`)
    }
    const consumedBytes = skippedBytes + frameBytesFor(payloadBytes)
    assert(consumedBytes <= this.distance(this.head, this.cachedTail), 'lane frame extends past the published tail')
    this.openReadBytes = consumedBytes
    this.openReadPayloadBytes = payloadBytes
    return offset + FRAME_HEADER_BYTES
  }

  /** Payload length of the frame opened by beginRead. */
  get readPayloadBytes(): number {
    return this.openReadPayloadBytes
  }

  /** Consumer: releases the frame opened by beginRead, freeing its space. */
  endRead(): void {
    assert(this.openReadBytes > 0, 'lane endRead without beginRead')
    this.head = this.advance(this.head, this.openReadBytes)
    this.openReadBytes = 0
    Atomics.store(this.indices, HEAD_INDEX, this.head)
  }

  /** Consumer: takes a fresh look at how far the producer has published. */
  pollTail(): void {
    this.cachedTail = this.loadPosition(TAIL_INDEX)
  }

  /** Re-reads the consumer's head only when the cached one says there is no room. */
  private hasRoomFor(neededBytes: number): boolean {
    if (this.distance(this.cachedHead, this.tail) + neededBytes <= this.capacityBytes) return true
    this.cachedHead = this.loadPosition(HEAD_INDEX)
    return this.distance(this.cachedHead, this.tail) + neededBytes <= this.capacityBytes
  }

  private loadPosition(index: number): number {
    const position = Atomics.load(this.indices, index)
    if (position < 0 || position >= this.positionLimit || (position & 3) !== 0) {
      throw new AssertionError(`lane position ${position} is corrupt`)
    }
    return position
  }

  private offsetOf(position: number): number {
    return position >= this.capacityBytes ? position - this.capacityBytes : position
  }

  private advance(position: number, bytes: number): number {
    const next = position + bytes
    return next >= this.positionLimit ? next - this.positionLimit : next
  }

  /** Bytes from position `from` forward to position `to`, in [0, capacity]. */
  private distance(from: number, to: number): number {
    const difference = to - from
    return difference < 0 ? difference + this.positionLimit : difference
  }
}
