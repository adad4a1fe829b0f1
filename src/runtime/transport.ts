/**
 * One node's view of the ring network: its inbox (one lane per peer), an
 * outbox per peer, the fault layer applied on send, and the codec. Used by
 * the worker host (one actor per worker) and by client endpoints (any
 * thread). Knows ids and addresses, nothing of what the messages mean.
 */
import type { Message } from './actor.js'
import { codec } from './codec.js'
import { FaultTable } from './faults.js'
import { Inbox, Outbox, type OutboxOptions } from './mailbox.js'
import { TimerQueue } from './timers.js'

export interface PeerWiring {
  readonly id: string
  readonly address: number
  /** The lane this node writes to reach the peer. */
  readonly outLane: SharedArrayBuffer
  readonly peerDoorbell: SharedArrayBuffer
  /** The lane the peer writes to reach this node. */
  readonly inLane: SharedArrayBuffer
  /** The peer's read view (ActorContext.readView), when it has one. */
  readonly readView?: ReadViewWiring
}

/** Where a read view lives, for the threads that read it. */
export interface ReadViewWiring {
  readonly buffer: SharedArrayBuffer
  readonly shards: number
}

/** Everything a thread needs to join the network as `id`; structured-cloneable. */
export interface NodeWiring {
  readonly id: string
  readonly address: number
  readonly doorbell: SharedArrayBuffer
  readonly faults: SharedArrayBuffer
  readonly peers: readonly PeerWiring[]
}

export interface TransportOptions {
  readonly spinMicros?: number
  readonly outbox?: OutboxOptions
  /** Randomness for the fault layer's drop/duplicate/delay draws. */
  readonly random: () => number
  readonly nowMs: () => number
}

export interface TransportStats {
  messagesOut: number
  bytesOut: number
  messagesIn: number
  dropped: number
  duplicated: number
  delayed: number
  unknownDestination: number
}

interface Peer {
  readonly id: string
  readonly address: number
  readonly outbox: Outbox
}

interface DelayedSend {
  readonly to: string
  readonly bytes: Uint8Array
}

export class Transport {
  readonly id: string
  readonly address: number
  readonly inbox: Inbox
  readonly stats: TransportStats = {
    messagesOut: 0,
    bytesOut: 0,
    messagesIn: 0,
    dropped: 0,
    duplicated: 0,
    delayed: 0,
    unknownDestination: 0,
  }
  private readonly faults: FaultTable
  private readonly peers = new Map<string, Peer>()
  private readonly idByAddress = new Map<number, string>()
  /** Peers written to since the last flush: each gets one doorbell ring per batch. */
  private readonly dirty = new Set<Peer>()
  /** Peers whose outbox holds frames the lane had no room for. */
  private readonly backlogged = new Set<Peer>()
  private readonly delayed = new TimerQueue<DelayedSend>()
  private readonly toSelf: Message[] = []
  /** Reused between receives: message, sender, message, sender, ... */
  private readonly batch: (Message | string)[] = []
  /** The last message encoded, its bytes (a view into the codec's scratch) and the scratch's version then (see encode). */
  private lastEncoded: Message | undefined
  private lastBytes: Uint8Array = new Uint8Array(0)
  private lastScratchVersion = -1

  constructor(
    wiring: NodeWiring,
    private readonly options: TransportOptions,
  ) {
    this.id = wiring.id
    this.address = wiring.address
    this.faults = new FaultTable(wiring.faults)
    this.inbox = new Inbox(wiring.doorbell, options.spinMicros === undefined ? {} : { spinMicros: options.spinMicros })
    for (const peer of wiring.peers) this.connect(peer)
  }

  connect(wiring: PeerWiring): void {
    const outbox = new Outbox(wiring.outLane, wiring.peerDoorbell, this.options.outbox)
    this.peers.set(wiring.id, { id: wiring.id, address: wiring.address, outbox })
    this.idByAddress.set(wiring.address, wiring.id)
    this.inbox.addLane(wiring.address, wiring.inLane)
  }

  disconnect(id: string): void {
    const peer = this.peers.get(id)
    if (peer === undefined) return
    this.peers.delete(id)
    this.idByAddress.delete(peer.address)
    this.dirty.delete(peer)
    this.backlogged.delete(peer)
    this.inbox.removeLane(peer.address)
  }

  has(id: string): boolean {
    return id === this.id || this.peers.has(id)
  }

  peerIds(): string[] {
    return [...this.peers.keys()]
  }

  /**
   * Encodes and sends, applying the fault layer. A message to an unknown id
   * is dropped and counted (the network has no such host). Throws
   * ERR_OVERLOADED when the destination's outbox is past its bound.
   */
  send<T extends Message>(to: string, message: T): void {
    if (to === this.id) {
      this.toSelf.push(codec.decode(codec.encode(message)))
      return
    }
    const peer = this.peers.get(to)
    if (peer === undefined) {
      this.stats.unknownDestination++
      return
    }
    const bytes = this.encode(message)
    if (this.faults.isCut(this.address, peer.address) || this.draw(this.faults.dropRate)) {
      this.stats.dropped++
      return
    }
    const copies = this.draw(this.faults.duplicateRate) ? 2 : 1
    if (copies === 2) this.stats.duplicated++
    for (let copy = 0; copy < copies; copy++) this.sendOrDelay(peer, bytes)
  }

  /**
   * A view into the codec's scratch: the outbox copies it into the lane (or
   * its queue) before the next encode. The same message object sent again at
   * once (a leader's accept to each follower) is not encoded again: its
   * bytes are still in the scratch, which nothing has written since.
   */
  private encode(message: Message): Uint8Array {
    if (message === this.lastEncoded && codec.scratchVersion === this.lastScratchVersion) return this.lastBytes
    this.lastBytes = codec.encodeBorrowed(message)
    this.lastEncoded = message
    this.lastScratchVersion = codec.scratchVersion
    return this.lastBytes
  }

  /**
   * Decodes and hands over every message that has arrived; returns how many.
   * The whole batch is taken off the lanes before the first delivery, so a
   * message that crashes its receiver is not read again by the restarted
   * incarnation (a poison message would otherwise crash it forever).
   */
  receive(deliver: (message: Message, from: string) => void, maxMessages = Number.POSITIVE_INFINITY): number {
    const batch = this.batch
    while (this.toSelf.length > 0 && batch.length < 2 * maxMessages) {
      batch.push(this.toSelf.shift()!, this.id)
    }
    this.inbox.drain((address, bytes) => {
      const from = this.idByAddress.get(address)
      if (from !== undefined) batch.push(codec.decode(bytes), from)
    }, maxMessages - batch.length / 2)
    const count = batch.length / 2
    this.stats.messagesIn += count
    try {
      for (let index = 0; index < batch.length; index += 2) deliver(batch[index] as Message, batch[index + 1] as string)
    } finally {
      batch.length = 0
    }
    return count
  }

  hasPending(): boolean {
    return this.toSelf.length > 0 || this.inbox.hasPending()
  }

  /** Releases due delayed messages, retries backlogged outboxes, rings each written peer once. */
  flush(): void {
    const now = this.options.nowMs()
    for (let due = this.delayed.popDue(now); due !== undefined; due = this.delayed.popDue(now)) {
      const peer = this.peers.get(due.payload.to)
      if (peer !== undefined) this.enqueue(peer, due.payload.bytes)
    }
    for (const peer of this.backlogged) {
      if (peer.outbox.flush()) this.backlogged.delete(peer)
      this.dirty.add(peer)
    }
    for (const peer of this.dirty) peer.outbox.ring()
    this.dirty.clear()
  }

  /** When the next delayed message is due (ms on `nowMs`'s clock), if any. */
  nextDueMs(): number | undefined {
    return this.delayed.nextDueMs()
  }

  /** True while some outbox holds frames waiting for lane space. */
  hasBacklog(): boolean {
    return this.backlogged.size > 0
  }

  queuedBytes(): number {
    let total = 0
    for (const peer of this.peers.values()) total += peer.outbox.queuedBytes
    return total
  }

  private sendOrDelay(peer: Peer, bytes: Uint8Array): void {
    const maxDelayMs = this.faults.maxDelayMs
    if (maxDelayMs > 0) {
      this.stats.delayed++
      this.delayed.add(this.options.nowMs() + this.options.random() * maxDelayMs, { to: peer.id, bytes: bytes.slice() })
      return
    }
    this.enqueue(peer, bytes)
  }

  private enqueue(peer: Peer, bytes: Uint8Array): void {
    peer.outbox.send(bytes)
    this.stats.messagesOut++
    this.stats.bytesOut += bytes.byteLength
    this.dirty.add(peer)
    if (peer.outbox.queuedMessages > 0) this.backlogged.add(peer)
  }

  private draw(probability: number): boolean {
    return probability > 0 && this.options.random() < probability
  }
}
