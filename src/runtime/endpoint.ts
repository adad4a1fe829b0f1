/**
 * A client endpoint: a node on the ring network that is not an actor, living
 * in any thread (the main thread, a piscina worker). It is made from a
 * descriptor the ActorSystem hands out, which is plain data and
 * SharedArrayBuffers, so it can be posted to another thread without a
 * transfer list. Wiring for actors added later arrives over a
 * BroadcastChannel named in the descriptor.
 *
 * Sends made in one turn of the event loop are flushed together (one
 * doorbell ring per destination); a pump reads replies while the thread's
 * event loop keeps running.
 */
import { BroadcastChannel } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
import { setImmediate as yieldToMacrotask } from 'node:timers/promises'
import { ShardKVError } from '../errors.js'
import type { Message } from './actor.js'
import type { OutboxOptions } from './mailbox.js'
import { ReadViewReader } from './read-view.js'
import { Transport, type NodeWiring, type PeerWiring } from './transport.js'

export interface EndpointDescriptor {
  readonly wiring: NodeWiring
  readonly channel: string
  /** One Int32: set when a thread connects, so a descriptor is used once. */
  readonly claim: SharedArrayBuffer
  readonly spinMicros: number
  readonly outbox: OutboxOptions
}

/** Between an endpoint and its system, over the endpoint's BroadcastChannel. */
export type EndpointMessage =
  | { readonly type: 'hello' }
  | { readonly type: 'wiring'; readonly wiring: NodeWiring }
  | { readonly type: 'connect'; readonly peer: PeerWiring }
  | { readonly type: 'disconnect'; readonly id: string }
  | { readonly type: 'close' }
  | { readonly type: 'closed' }

export type MessageHandler = (message: Message, from: string) => void

/** The pump wakes at least this often even when nothing arrives, to notice close and delayed sends. */
const IDLE_WAKE_MS = 1000

export class Endpoint {
  readonly id: string
  private readonly transport: Transport
  private readonly channel: BroadcastChannel
  private readonly doorbell: Int32Array
  private handler: MessageHandler = () => {}
  private readonly closeHandlers: ((reason: ShardKVError) => void)[] = []
  private flushScheduled = false
  /** True from the start of a delivery batch until its continuations have run and it is flushed. */
  private delivering = false
  private open = true
  /** Readers of the peers' read views, by peer id. */
  private readonly views = new Map<string, ReadViewReader>()

  static connect(descriptor: EndpointDescriptor): Endpoint {
    const claim = new Int32Array(descriptor.claim)
    if (Atomics.compareExchange(claim, 0, 0, 1) !== 0) {
      throw new ShardKVError('ERR_INVALID_OPTION', `endpoint ${descriptor.wiring.id} is already connected; ask the cluster for another endpoint() per thread`)
    }
    return new Endpoint(descriptor)
  }

  private constructor(descriptor: EndpointDescriptor) {
    this.id = descriptor.wiring.id
    this.doorbell = new Int32Array(descriptor.wiring.doorbell)
    this.transport = new Transport(descriptor.wiring, {
      spinMicros: descriptor.spinMicros,
      outbox: descriptor.outbox,
      random: Math.random,
      nowMs: () => performance.now(),
    })
    for (const peer of descriptor.wiring.peers) this.addView(peer)
    this.channel = new BroadcastChannel(descriptor.channel)
    this.channel.onmessage = (event) => this.onSystemMessage((event as { data: EndpointMessage }).data)
    this.channel.postMessage({ type: 'hello' } satisfies EndpointMessage)
    void this.pump()
  }

  get isOpen(): boolean {
    return this.open
  }

  onMessage(handler: MessageHandler): void {
    this.handler = handler
  }

  onClose(handler: (reason: ShardKVError) => void): void {
    this.closeHandlers.push(handler)
  }

  has(id: string): boolean {
    return this.transport.has(id)
  }

  /** A reader of peer `id`'s read view, when it publishes one (ActorContext.readView). */
  readView(id: string): ReadViewReader | undefined {
    return this.views.get(id)
  }

  peerIds(): string[] {
    return this.transport.peerIds()
  }

  /** Queues `message` for `to`; it leaves with the rest of this turn's sends. */
  send<T extends Message>(to: string, message: T): void {
    if (!this.open) throw new ShardKVError('ERR_CLOSED', `endpoint ${this.id} is closed`)
    if (!this.transport.has(to)) {
      throw new ShardKVError('ERR_UNKNOWN_ACTOR', `no actor "${to}" is wired to endpoint ${this.id}; check the id`)
    }
    this.transport.send(to, message)
    // A send made while the pump delivers leaves with the pump's batch flush;
    // any other send leaves at the end of this microtask run.
    if (!this.flushScheduled && !this.delivering) {
      this.flushScheduled = true
      queueMicrotask(this.flush)
    }
  }

  /** Leaves the network; the system frees this endpoint's lanes. */
  close(): void {
    if (!this.open) return
    this.channel.postMessage({ type: 'close' } satisfies EndpointMessage)
    this.shutDown(new ShardKVError('ERR_CLOSED', `endpoint ${this.id} was closed`))
  }

  private readonly flush = (): void => {
    this.flushScheduled = false
    this.transport.flush()
  }

  /**
   * Delivers what arrived, then lets the handlers' continuations (promise
   * chains several microtasks deep) run to the end before flushing, so every
   * request they send in answer leaves in one batch with one doorbell ring
   * per destination. Only then does it wait (spin, then sleep).
   */
  private async pump(): Promise<void> {
    while (this.open) {
      this.delivering = true
      const received = this.transport.receive(this.handler)
      if (received > 0) {
        await yieldToMacrotask()
        this.delivering = false
        this.transport.flush()
        continue
      }
      this.delivering = false
      this.transport.flush()
      const delayed = this.transport.nextDueMs()
      const timeoutMs = this.transport.hasBacklog() ? 1 : Math.min(IDLE_WAKE_MS, delayed === undefined ? IDLE_WAKE_MS : delayed - performance.now())
      await this.transport.inbox.waitAsync(Math.max(0, timeoutMs))
    }
  }

  private onSystemMessage(message: EndpointMessage): void {
    switch (message.type) {
      case 'wiring':
        for (const peer of message.wiring.peers) this.connectPeer(peer)
        return
      case 'connect':
        this.connectPeer(message.peer)
        return
      case 'disconnect':
        this.transport.disconnect(message.id)
        this.views.delete(message.id)
        return
      case 'closed':
        this.shutDown(new ShardKVError('ERR_CLOSED', 'the cluster was closed'))
        return
      case 'hello':
      case 'close':
        return
      default: {
        const never: never = message
        throw new Error(`unknown endpoint message ${JSON.stringify(never)}`)
      }
    }
  }

  private connectPeer(peer: PeerWiring): void {
    if (!this.transport.has(peer.id)) this.transport.connect(peer)
    this.addView(peer)
  }

  private addView(peer: PeerWiring): void {
    if (peer.readView !== undefined && !this.views.has(peer.id)) this.views.set(peer.id, new ReadViewReader(peer.readView.buffer, peer.readView.shards))
  }

  private shutDown(reason: ShardKVError): void {
    if (!this.open) return
    this.open = false
    this.channel.close()
    // Wake the pump from its idle wait so it ends now and the thread can exit.
    Atomics.add(this.doorbell, 0, 1)
    Atomics.notify(this.doorbell, 0)
    for (const handler of this.closeHandlers) handler(reason)
  }
}
