/**
 * An actor's mailbox: one SPSC lane per sender plus one shared doorbell.
 *
 * One lane per sender rather than one multi-producer ring because a sender
 * killed half-way through a write must not wedge the receiver: a lane's tail
 * only ever covers whole frames, and nobody else writes to it.
 *
 * Messages travel as lane frames whose first byte is a kind:
 *   WHOLE  [0][message]
 *   FIRST  [1][total length, u32 little-endian][first part]
 *   MIDDLE [2][next part]
 *   LAST   [3][final part]
 * so messages larger than a frame (shard transfers, snapshots) are chunked by
 * the Outbox and reassembled per lane by the Inbox.
 *
 * Doorbell (Int32 slots): [0] counter that senders bump once per batch,
 * [1] how many receiver waits are asleep on it (a count rather than a flag
 * so overlapping waitAsync calls cannot clear each other's), so senders skip
 * Atomics.notify (a lock and a syscall path) when nobody is waiting.
 */
import { AssertionError, ShardKVError, assert } from '../errors.js'
import { Lane } from './lane.js'

export const DOORBELL_BYTES = 128
/** Largest message an Outbox sends or an Inbox reassembles. */
export const MAX_MESSAGE_BYTES = 256 * 1024 * 1024
/** Largest sender address an Inbox accepts (addresses are small ints). */
export const MAX_SENDER_ADDRESS = 0xffff

const COUNTER_INDEX = 0
const SLEEPERS_INDEX = 1

const KIND_WHOLE = 0
const KIND_FIRST = 1
const KIND_MIDDLE = 2
const KIND_LAST = 3
const KIND_BYTES = 1
const FIRST_PREFIX_BYTES = 5

/**
 * Frames one lane may give per round-robin turn. Large enough to amortise
 * the loop, small enough that a busy sender cannot delay the others by more
 * than a few microseconds.
 */
const FRAMES_PER_TURN = 64
/** Messages up to this size are copied byte by byte: cheaper than a `set` call. */
const SMALL_COPY_BYTES = 32

const DEFAULT_SPIN_MICROS = 50
const MAX_SPIN_MICROS = 10_000
const DEFAULT_MAX_QUEUED_BYTES = 16 * 1024 * 1024
const MAX_MAX_QUEUED_BYTES = 1024 * 1024 * 1024
const DEFAULT_MAX_QUEUED_MESSAGES = 65_536
const MAX_MAX_QUEUED_MESSAGES = 1024 * 1024
/** The longest timer Node honours; longer ones fire after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1

export function createDoorbellBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(DOORBELL_BYTES)
}

function doorbellView(doorbell: SharedArrayBuffer): Int32Array {
  if (!(doorbell instanceof SharedArrayBuffer) || doorbell.byteLength !== DOORBELL_BYTES) {
    throw new ShardKVError('ERR_INVALID_OPTION', `doorbell must be a SharedArrayBuffer of ${DOORBELL_BYTES} bytes`)
  }
  return new Int32Array(doorbell)
}

function integerOption(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ShardKVError('ERR_INVALID_OPTION', `${name} must be an integer in ${min}..${max}, got ${value}`)
  }
  return value
}

function validateTimeout(timeoutMs: number): void {
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new ShardKVError('ERR_INVALID_OPTION', `timeoutMs must be a finite number >= 0, got ${timeoutMs}`)
  }
}

function readUint32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0
}

function writeUint32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value & 0xff
  bytes[offset + 1] = (value >>> 8) & 0xff
  bytes[offset + 2] = (value >>> 16) & 0xff
  bytes[offset + 3] = (value >>> 24) & 0xff
}

// Atomics.waitAsync ships in Node 20 (V8 >= 8.7) but is missing from the
// ES2022 lib this project compiles against.
type WaitAsyncResult =
  | { async: false; value: 'not-equal' | 'timed-out' }
  | { async: true; value: Promise<'ok' | 'timed-out'> }
type WaitAsync = (view: Int32Array, index: number, value: number, timeoutMs: number) => WaitAsyncResult
/** Fruitless spins in a row after which the inbox sleeps without spinning for SPIN_BACKOFF_WAITS waits. */
const SPIN_FAILURES_BEFORE_BACKOFF = 4
const SPIN_BACKOFF_WAITS = 64

const atomicsWaitAsync: WaitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync

/**
 * Awaits `sleep` with a timer armed until it settles: a pending
 * Atomics.waitAsync alone does not keep Node's event loop alive, so a thread
 * with nothing else scheduled would exit in the middle of its wait. An
 * interval rather than a timeout of the same length, because the wait's own
 * timeout may fire a little after a timer due at the same moment.
 */
async function keepingThreadAlive<T>(sleep: Promise<T>): Promise<T> {
  const keepAlive = setInterval(() => undefined, MAX_TIMER_MS)
  try {
    return await sleep
  } finally {
    clearInterval(keepAlive)
  }
}

export interface InboxOptions {
  /** How long waitSync/waitAsync re-check the doorbell before sleeping, 0..10000. Default 50. */
  spinMicros?: number
}

export interface InboxStats {
  /** Messages delivered to onMessage. */
  messages: number
  /** Bytes of those messages. */
  bytes: number
  /**
   * Chunked messages that were never delivered: cut off by a sender that
   * died (or a lane replaced or removed) mid-message, announced larger than
   * MAX_MESSAGE_BYTES, or whose parts did not add up to the announced length.
   */
  discardedPartials: number
}

/** Receiver state of one sender's lane: the lane and its message being reassembled. */
interface InboxLane {
  readonly from: number
  readonly lane: Lane
  partial: Uint8Array | undefined
  partialFilledBytes: number
  /** Ignoring the rest of a message already counted as discarded, up to its LAST frame. */
  skipping: boolean
}

export type MessageHandler = (from: number, bytes: Uint8Array) => void

/**
 * Receiver side of a mailbox. Single-threaded: only the owning actor's
 * thread calls it.
 */
export class Inbox {
  private readonly bell: Int32Array
  private readonly spinMicros: number
  /** The last wait ended because something arrived (see adaptiveSpin). */
  private trafficFlowing = true
  private failedSpins = 0
  private spinBackoffWaits = 0
  /** Replaced, never mutated, so a drain in progress keeps a stable list. */
  private lanes: readonly InboxLane[] = []
  private firstLaneIndex = 0
  private seenDoorbell: number
  private stoppedEarly = false
  private draining = false
  private drainDelivered = 0
  private drainLimit = 0
  private readonly counters: InboxStats = { messages: 0, bytes: 0, discardedPartials: 0 }

  constructor(doorbell: SharedArrayBuffer, options: InboxOptions = {}) {
    this.bell = doorbellView(doorbell)
    this.spinMicros = integerOption('spinMicros', options.spinMicros, DEFAULT_SPIN_MICROS, 0, MAX_SPIN_MICROS)
    this.seenDoorbell = Atomics.load(this.bell, COUNTER_INDEX)
    // This is the mailbox's only receiver: a predecessor killed in its sleep left its count behind.
    Atomics.store(this.bell, SLEEPERS_INDEX, 0)
  }

  get stats(): Readonly<InboxStats> {
    return this.counters
  }

  /** Adds the lane `from` writes to; a lane already there for `from` is replaced and its partial message dropped. */
  addLane(from: number, lane: SharedArrayBuffer): void {
    integerOption('from', from, 0, 0, MAX_SENDER_ADDRESS)
    const entry: InboxLane = { from, lane: new Lane(lane), partial: undefined, partialFilledBytes: 0, skipping: false }
    const existing = this.lanes.find((candidate) => candidate.from === from)
    if (existing !== undefined) this.dropPartial(existing)
    this.lanes = [...this.lanes.filter((candidate) => candidate.from !== from), entry]
  }

  removeLane(from: number): void {
    const existing = this.lanes.find((candidate) => candidate.from === from)
    if (existing === undefined) return
    this.dropPartial(existing)
    this.lanes = this.lanes.filter((candidate) => candidate !== existing)
  }

  /**
   * Delivers every complete message that had arrived when the drain began,
   * lane by lane in turns of FRAMES_PER_TURN frames, rotating which lane goes
   * first. Reading only up to each lane's tail at the start keeps a drain
   * bounded even while senders keep writing. Whole messages are handed over
   * as views into the lane, valid only during onMessage (copy to keep them);
   * reassembled ones are fresh arrays. A throwing onMessage propagates, its
   * message counted as consumed. Returns how many messages were delivered.
   */
  drain(onMessage: MessageHandler, maxMessages: number = Number.POSITIVE_INFINITY): number {
    assert(!this.draining, 'Inbox.drain called from inside onMessage')
    if (!(maxMessages >= 0)) throw new AssertionError(`maxMessages ${maxMessages} is negative`)
    // Loaded before the tails, so whatever is rung after this load is
    // either in this drain's snapshot or makes the next wait return at once.
    this.seenDoorbell = Atomics.load(this.bell, COUNTER_INDEX)
    const lanes = this.lanes
    for (const entry of lanes) entry.lane.pollTail()
    this.draining = true
    this.drainDelivered = 0
    this.drainLimit = maxMessages
    try {
      this.drainRounds(lanes, onMessage)
    } finally {
      this.draining = false
    }
    if (lanes.length > 0) this.firstLaneIndex = (this.firstLaneIndex + 1) % lanes.length
    this.stoppedEarly = this.drainDelivered >= maxMessages
    return this.drainDelivered
  }

  /** True when some lane holds an unread frame (or the last drain stopped at maxMessages). */
  hasPending(): boolean {
    if (this.stoppedEarly) return true
    for (const entry of this.lanes) if (!entry.lane.isEmpty()) return true
    return false
  }

  /**
   * Returns at once when something arrived since the last drain; otherwise
   * spins up to spinMicros on the doorbell (cheap wake-ups under load), then
   * sleeps on it with Atomics.wait for up to timeoutMs (~0 CPU when idle).
   */
  waitSync(timeoutMs: number): void {
    validateTimeout(timeoutMs)
    if (this.hasArrivals() || this.adaptiveSpin()) return
    Atomics.add(this.bell, SLEEPERS_INDEX, 1)
    try {
      this.trafficFlowing = Atomics.wait(this.bell, COUNTER_INDEX, this.seenDoorbell, this.sleepMs(timeoutMs)) !== 'timed-out'
    } finally {
      Atomics.sub(this.bell, SLEEPERS_INDEX, 1)
    }
  }

  /** As waitSync, but sleeps with Atomics.waitAsync so the thread's event loop keeps running. */
  async waitAsync(timeoutMs: number): Promise<void> {
    validateTimeout(timeoutMs)
    if (this.hasArrivals() || this.adaptiveSpin()) return
    Atomics.add(this.bell, SLEEPERS_INDEX, 1)
    try {
      const result = atomicsWaitAsync(this.bell, COUNTER_INDEX, this.seenDoorbell, this.sleepMs(timeoutMs))
      const outcome = result.async ? await keepingThreadAlive(result.value) : result.value
      this.trafficFlowing = outcome !== 'timed-out'
    } finally {
      Atomics.sub(this.bell, SLEEPERS_INDEX, 1)
    }
  }

  private drainRounds(lanes: readonly InboxLane[], onMessage: MessageHandler): void {
    const laneCount = lanes.length
    let progressed = true
    while (progressed && this.drainDelivered < this.drainLimit) {
      progressed = false
      for (let turn = 0; turn < laneCount && this.drainDelivered < this.drainLimit; turn++) {
        const entry = lanes[(this.firstLaneIndex + turn) % laneCount]!
        if (this.drainTurn(entry, onMessage) > 0) progressed = true
      }
    }
  }

  /** Reads up to FRAMES_PER_TURN frames of one lane; returns how many. */
  private drainTurn(entry: InboxLane, onMessage: MessageHandler): number {
    const lane = entry.lane
    let frames = 0
    while (frames < FRAMES_PER_TURN && this.drainDelivered < this.drainLimit) {
      const offset = lane.beginRead(false)
      if (offset < 0) break
      frames++
      try {
        this.acceptFrame(entry, offset, lane.readPayloadBytes, onMessage)
      } finally {
        lane.endRead()
      }
    }
    return frames
  }

  private acceptFrame(entry: InboxLane, offset: number, frameBytes: number, onMessage: MessageHandler): void {
    const bytes = entry.lane.bytes
    const kind = bytes[offset]
    switch (kind) {
      case KIND_WHOLE:
        this.restartMessage(entry)
        this.deliver(entry.from, bytes.subarray(offset + KIND_BYTES, offset + frameBytes), onMessage)
        return
      case KIND_FIRST:
        this.restartMessage(entry)
        this.startPartial(entry, offset, frameBytes)
        return
      case KIND_MIDDLE:
        this.appendPartial(entry, offset, frameBytes)
        return
      case KIND_LAST:
        this.appendPartial(entry, offset, frameBytes)
        this.finishPartial(entry, onMessage)
        return
      default:
        // Frames are never torn, so an unknown kind is a sender bug, not a crash artefact.
        throw new AssertionError(`frame of unknown kind ${kind} from sender ${entry.from}`)
    }
  }

  /** A WHOLE or FIRST frame begins a new message: whatever was pending on this lane is lost. */
  private restartMessage(entry: InboxLane): void {
    this.dropPartial(entry)
    entry.skipping = false
  }

  private startPartial(entry: InboxLane, offset: number, frameBytes: number): void {
    if (frameBytes < FIRST_PREFIX_BYTES) {
      throw new AssertionError(`FIRST frame of ${frameBytes} bytes from sender ${entry.from}`)
    }
    const bytes = entry.lane.bytes
    const totalBytes = readUint32(bytes, offset + KIND_BYTES)
    const partBytes = frameBytes - FIRST_PREFIX_BYTES
    if (totalBytes > MAX_MESSAGE_BYTES || partBytes > totalBytes) {
      this.counters.discardedPartials++
      entry.skipping = true
      return
    }
    entry.partial = new Uint8Array(totalBytes)
    entry.partial.set(bytes.subarray(offset + FIRST_PREFIX_BYTES, offset + frameBytes))
    entry.partialFilledBytes = partBytes
  }

  private appendPartial(entry: InboxLane, offset: number, frameBytes: number): void {
    const partial = entry.partial
    if (partial === undefined) {
      // A continuation with no start: its sender (or this receiver) restarted mid-message.
      if (!entry.skipping) this.counters.discardedPartials++
      entry.skipping = true
      return
    }
    const partBytes = frameBytes - KIND_BYTES
    if (entry.partialFilledBytes + partBytes > partial.length) {
      this.dropPartial(entry)
      entry.skipping = true
      return
    }
    partial.set(entry.lane.bytes.subarray(offset + KIND_BYTES, offset + frameBytes), entry.partialFilledBytes)
    entry.partialFilledBytes += partBytes
  }

  /** After a LAST frame: delivers the message if every byte arrived. */
  private finishPartial(entry: InboxLane, onMessage: MessageHandler): void {
    entry.skipping = false
    const message = entry.partial
    if (message === undefined) return
    if (entry.partialFilledBytes !== message.length) {
      this.dropPartial(entry)
      return
    }
    entry.partial = undefined
    this.deliver(entry.from, message, onMessage)
  }

  private dropPartial(entry: InboxLane): void {
    if (entry.partial === undefined) return
    entry.partial = undefined
    this.counters.discardedPartials++
  }

  private deliver(from: number, message: Uint8Array, onMessage: MessageHandler): void {
    this.counters.messages++
    this.counters.bytes += message.length
    this.drainDelivered++
    onMessage(from, message)
  }

  private hasArrivals(): boolean {
    return Atomics.load(this.bell, COUNTER_INDEX) !== this.seenDoorbell || this.hasPending()
  }

  /**
   * Spins only while traffic flows (the last wait ended with an arrival, not
   * a timeout), and backs off after SPIN_FAILURES_BEFORE_BACKOFF fruitless
   * spins in a row. On 2 busy cores a spinner can keep its own peer from
   * running, and an idle actor waking for its heartbeat has nothing to spin
   * for: both would burn CPU for nothing.
   */
  private adaptiveSpin(): boolean {
    if (this.spinMicros === 0 || !this.trafficFlowing) return false
    if (this.spinBackoffWaits > 0) {
      this.spinBackoffWaits--
      return false
    }
    if (this.spin()) {
      this.failedSpins = 0
      return true
    }
    if (++this.failedSpins >= SPIN_FAILURES_BEFORE_BACKOFF) {
      this.failedSpins = 0
      this.spinBackoffWaits = SPIN_BACKOFF_WAITS
    }
    return false
  }

  /** Busy-waits on the doorbell for at most spinMicros; true when it rang. */
  private spin(): boolean {
    if (this.spinMicros === 0) return false
    const deadlineMs = performance.now() + this.spinMicros / 1000
    for (let round = 1; ; round++) {
      if (Atomics.load(this.bell, COUNTER_INDEX) !== this.seenDoorbell) return true
      // Reading the clock costs more than the doorbell, so only every 64 rounds.
      if ((round & 63) === 0 && performance.now() >= deadlineMs) return false
    }
  }

  /** The sleep left once the spin has used its share of the timeout. */
  private sleepMs(timeoutMs: number): number {
    return Math.max(0, timeoutMs - this.spinMicros / 1000)
  }
}

export interface OutboxOptions {
  /** Bytes of messages the outbox may hold while the lane is full, 0..1 GiB. Default 16 MiB. */
  maxQueuedBytes?: number
  /** Messages the outbox may hold while the lane is full, 0..1048576. Default 65536. */
  maxQueuedMessages?: number
}

/** A message (or the unsent rest of one) waiting for room in the lane. */
interface PendingMessage {
  /** The whole message while `started` is false; otherwise the unsent rest. */
  bytes: Uint8Array
  /** How much of `bytes` is already in the lane. */
  offset: number
  /** True once its first frame is in the lane. */
  started: boolean
}

/**
 * Sender side of a mailbox, one per destination. Single-threaded: only the
 * sending actor's thread calls it.
 */
export class Outbox {
  private readonly lane: Lane
  private readonly laneBytes: Uint8Array
  private readonly bell: Int32Array
  private readonly maxQueuedBytes: number
  private readonly maxQueuedMessages: number
  private readonly wholePartBytes: number
  private readonly firstPartBytes: number
  private readonly queue = new Fifo<PendingMessage>()
  private queuedPartBytes = 0
  private wroteSinceRing = false

  constructor(lane: SharedArrayBuffer, doorbell: SharedArrayBuffer, options: OutboxOptions = {}) {
    this.lane = new Lane(lane)
    this.laneBytes = this.lane.bytes
    this.bell = doorbellView(doorbell)
    this.maxQueuedBytes = integerOption(
      'maxQueuedBytes',
      options.maxQueuedBytes,
      DEFAULT_MAX_QUEUED_BYTES,
      0,
      MAX_MAX_QUEUED_BYTES,
    )
    this.maxQueuedMessages = integerOption(
      'maxQueuedMessages',
      options.maxQueuedMessages,
      DEFAULT_MAX_QUEUED_MESSAGES,
      0,
      MAX_MAX_QUEUED_MESSAGES,
    )
    this.wholePartBytes = this.lane.maxFrameBytes - KIND_BYTES
    this.firstPartBytes = this.lane.maxFrameBytes - FIRST_PREFIX_BYTES
  }

  get queuedBytes(): number {
    return this.queuedPartBytes
  }

  get queuedMessages(): number {
    return this.queue.length
  }

  /**
   * Writes `message` now when the lane has room and nothing is queued;
   * otherwise queues a copy (order kept, nothing lost). A message larger
   * than one frame is chunked; it is checked against the bounds as if all of
   * it were queued, because once its first chunk is in the lane it can no
   * longer be refused. So maxQueuedBytes is also the largest chunked message
   * this outbox accepts. Throws ERR_OVERLOADED past the bounds (nothing of
   * the message written or queued), ERR_FRAME_TOO_LARGE past MAX_MESSAGE_BYTES.
   */
  send(message: Uint8Array): void {
    const laneOpen = this.queue.length === 0 || this.flush()
    if (message.length <= this.wholePartBytes) {
      if (laneOpen && this.writeWhole(message)) return
      this.checkRoom(message.length)
      this.enqueue({ bytes: message.slice(), offset: 0, started: false })
      return
    }
    this.sendChunked(message, laneOpen)
  }

  /** Writes queued messages, in order, while they fit; true when none is left. */
  flush(): boolean {
    while (this.queue.length > 0) {
      const pending = this.queue.peek()
      const unsentBefore = pending.bytes.length - pending.offset
      const done = this.writeFrames(pending)
      this.queuedPartBytes -= unsentBefore - (pending.bytes.length - pending.offset)
      if (!done) return false
      this.queue.shift()
    }
    return true
  }

  /** Tells the receiver about everything written since the last ring: one doorbell bump, one notify at most. */
  ring(): void {
    if (!this.wroteSinceRing) return
    this.wroteSinceRing = false
    Atomics.add(this.bell, COUNTER_INDEX, 1)
    // The receiver counts itself asleep before Atomics.wait checks the counter,
    // so either its wait sees our bump, or we see it asleep and wake it.
    if (Atomics.load(this.bell, SLEEPERS_INDEX) !== 0) Atomics.notify(this.bell, COUNTER_INDEX)
  }

  private sendChunked(message: Uint8Array, laneOpen: boolean): void {
    if (message.length > MAX_MESSAGE_BYTES) {
      throw new ShardKVError(
        'ERR_FRAME_TOO_LARGE',
        `message of ${message.length} bytes exceeds MAX_MESSAGE_BYTES ${MAX_MESSAGE_BYTES}`,
      )
    }
    this.checkRoom(message.length)
    const pending: PendingMessage = { bytes: message, offset: 0, started: false }
    if (laneOpen && this.writeFrames(pending)) return
    // Keep a copy of only the unsent rest: the caller may reuse `message`.
    this.enqueue({ bytes: message.slice(pending.offset), offset: 0, started: pending.started })
  }

  /** Hot path: one WHOLE frame, copied straight into the lane. */
  private writeWhole(message: Uint8Array): boolean {
    const length = message.length
    const at = this.lane.beginWrite(length + KIND_BYTES)
    if (at < 0) return false
    const laneBytes = this.laneBytes
    laneBytes[at] = KIND_WHOLE
    if (length <= SMALL_COPY_BYTES) {
      for (let index = 0; index < length; index++) laneBytes[at + KIND_BYTES + index] = message[index]!
    } else {
      laneBytes.set(message, at + KIND_BYTES)
    }
    this.lane.endWrite()
    this.wroteSinceRing = true
    return true
  }

  /** Writes frames of `pending` while they fit; true when all of it is in the lane. */
  private writeFrames(pending: PendingMessage): boolean {
    while (!pending.started || pending.offset < pending.bytes.length) {
      if (!this.writeNextFrame(pending)) return false
    }
    return true
  }

  private writeNextFrame(pending: PendingMessage): boolean {
    const restBytes = pending.bytes.length - pending.offset
    let kind: number
    let partBytes: number
    if (!pending.started) {
      kind = restBytes <= this.wholePartBytes ? KIND_WHOLE : KIND_FIRST
      partBytes = kind === KIND_WHOLE ? restBytes : this.firstPartBytes
    } else {
      kind = restBytes <= this.wholePartBytes ? KIND_LAST : KIND_MIDDLE
      partBytes = Math.min(restBytes, this.wholePartBytes)
    }
    const prefixBytes = kind === KIND_FIRST ? FIRST_PREFIX_BYTES : KIND_BYTES
    const at = this.lane.beginWrite(prefixBytes + partBytes)
    if (at < 0) return false
    this.laneBytes[at] = kind
    if (kind === KIND_FIRST) writeUint32(this.laneBytes, at + KIND_BYTES, pending.bytes.length)
    this.laneBytes.set(pending.bytes.subarray(pending.offset, pending.offset + partBytes), at + prefixBytes)
    this.lane.endWrite()
    pending.offset += partBytes
    pending.started = true
    this.wroteSinceRing = true
    return true
  }

  private checkRoom(messageBytes: number): void {
    if (this.queue.length + 1 <= this.maxQueuedMessages && this.queuedPartBytes + messageBytes <= this.maxQueuedBytes) {
      return
    }
    throw new ShardKVError(
      'ERR_OVERLOADED',
      `outbox full: ${this.queue.length} messages (max ${this.maxQueuedMessages}) and ` +
        `${this.queuedPartBytes} bytes (max ${this.maxQueuedBytes}) queued, cannot take ${messageBytes} more bytes`,
    )
  }

  private enqueue(pending: PendingMessage): void {
    this.queue.push(pending)
    this.queuedPartBytes += pending.bytes.length - pending.offset
  }
}

/**
 * FIFO on a growable circular array: O(1) push and shift without the
 * copying Array#shift may do. Its length is bounded by the Outbox's checks.
 */
class Fifo<T> {
  private slots: (T | undefined)[] = new Array<T | undefined>(16)
  private first = 0
  private count = 0

  get length(): number {
    return this.count
  }

  push(item: T): void {
    if (this.count === this.slots.length) this.grow()
    this.slots[(this.first + this.count) % this.slots.length] = item
    this.count++
  }

  peek(): T {
    assert(this.count > 0, 'peek on an empty queue')
    return this.slots[this.first] as T
  }

  shift(): T {
    const item = this.peek()
    this.slots[this.first] = undefined
    this.first = (this.first + 1) % this.slots.length
    this.count--
    return item
  }

  private grow(): void {
    const larger = new Array<T | undefined>(this.slots.length * 2)
    for (let index = 0; index < this.count; index++) {
      larger[index] = this.slots[(this.first + index) % this.slots.length]
    }
    this.slots = larger
    this.first = 0
  }
}
