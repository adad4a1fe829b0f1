/**
 * The worker host: the entry module of every actor's worker_thread. It loads
 * the actor's class, gives it a context, and runs the loop: drain the inbox,
 * fire due timers, flush outboxes (one doorbell ring per destination per
 * batch), then wait adaptively (a short bounded spin, then Atomics.waitAsync
 * until the next timer or heartbeat) so an idle actor costs ~0 CPU while the
 * thread's event loop stays free for the comlink control plane.
 *
 * An exception thrown by the actor is not caught: the worker dies and its
 * supervisor restarts it ("let it crash").
 */
import { performance } from 'node:perf_hooks'
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises'
import { workerData, type MessagePort } from 'node:worker_threads'
import { expose } from 'comlink'
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs'
import type { Actor, ActorConstructor, ActorContext, ActorModule, Message, ReadView, TimerId } from './actor.js'
import { ControlBlock } from './control-block.js'
import type { OutboxOptions } from './mailbox.js'
import { ReadViewWriter } from './read-view.js'
import { SharedStableStorage } from './stable-storage.js'
import { TimerQueue } from './timers.js'
import { Transport, type NodeWiring, type PeerWiring, type ReadViewWiring, type TransportStats } from './transport.js'

export interface HostOptions {
  readonly spinMicros: number
  /** Longest idle sleep: the watchdog heartbeat moves at least this often. */
  readonly heartbeatMs: number
  /** Longest stretch of busy work before the loop lets the event loop run (control plane). */
  readonly yieldEveryMs: number
  /** Messages delivered per drain before timers and flushes get a turn. */
  readonly batchMessages: number
  readonly outbox: OutboxOptions
}

export interface WorkerInit {
  readonly wiring: NodeWiring
  readonly kind: string
  readonly actor: ActorModule
  readonly args: unknown
  readonly control: SharedArrayBuffer
  readonly storage: SharedArrayBuffer
  readonly readView: ReadViewWiring | undefined
  readonly controlPort: MessagePort
  readonly options: HostOptions
}

export interface WorkerStats extends TransportStats {
  readonly id: string
  readonly kind: string
  readonly timers: number
  readonly queuedBytes: number
  readonly inboxPending: boolean
  /** Share of wall time the thread was busy (spinning counts as busy) since it started. */
  readonly eventLoopUtilization: number
  readonly storageUsedBytes: number
}

/** What the main thread can call over comlink; never on the data path. */
export interface WorkerControl {
  ping(): true
  stats(): WorkerStats
  connect(peer: PeerWiring): void
  disconnect(id: string): void
  stop(): Promise<void>
}

class Host implements ActorContext {
  readonly self: string
  sender: string
  readonly storage: SharedStableStorage
  readonly readView: ReadView | undefined
  private readonly timers = new TimerQueue<Message>()
  private readonly transport: Transport
  private readonly control: ControlBlock
  private stopping = false
  private stopped: Promise<void> | undefined
  private lastYieldMs = performance.now()

  constructor(
    private readonly init: WorkerInit,
    private readonly actor: Actor,
  ) {
    this.self = init.wiring.id
    this.sender = this.self
    this.storage = new SharedStableStorage(init.storage)
    this.readView = init.readView === undefined ? undefined : new ReadViewWriter(init.readView.buffer, init.readView.shards, performance.timeOrigin)
    this.control = new ControlBlock(init.control)
    this.transport = new Transport(init.wiring, {
      spinMicros: init.options.spinMicros,
      outbox: init.options.outbox,
      random: Math.random,
      nowMs: () => performance.now(),
    })
  }

  send<T extends Message>(to: string, message: T): void {
    this.transport.send(to, message)
  }

  setTimer(delayMs: number, message: Message): TimerId {
    return this.timers.add(performance.now() + Math.max(0, delayMs), message)
  }

  cancelTimer(id: TimerId): void {
    this.timers.cancel(id)
  }

  now(): number {
    return performance.now()
  }

  random(): number {
    return Math.random()
  }

  controlApi(): WorkerControl {
    return {
      ping: () => true,
      stats: () => this.stats(),
      connect: (peer) => this.transport.connect(peer),
      disconnect: (id) => this.transport.disconnect(id),
      stop: () => this.stop(),
    }
  }

  run(): Promise<void> {
    this.actor.start?.(this)
    this.actor.afterBatch?.(this)
    this.transport.flush()
    this.stopped = this.loop()
    return this.stopped
  }

  private async stop(): Promise<void> {
    this.stopping = true
    await this.stopped
    this.actor.stop?.()
    this.transport.flush()
  }

  private async loop(): Promise<void> {
    const { heartbeatMs, batchMessages } = this.init.options
    while (!this.stopping) {
      this.control.beat()
      const pausedMs = this.control.pausedForMs(Date.now())
      if (pausedMs > 0) {
        await sleep(Math.min(pausedMs, heartbeatMs))
        continue
      }
      const received = this.transport.receive(this.deliver, batchMessages)
      const fired = this.fireDueTimers()
      if (received > 0 || fired > 0) this.actor.afterBatch?.(this)
      this.transport.flush()
      if (received > 0 || fired > 0 || this.transport.hasPending()) {
        await this.maybeYield()
        continue
      }
      await this.transport.inbox.waitAsync(this.idleTimeoutMs())
      this.lastYieldMs = performance.now()
    }
  }

  private readonly deliver = (message: Message, from: string): void => {
    this.sender = from
    this.actor.receive(message, this)
  }

  private fireDueTimers(): number {
    const now = performance.now()
    let fired = 0
    for (let due = this.timers.popDue(now); due !== undefined; due = this.timers.popDue(now)) {
      this.deliver(due.payload, this.self)
      fired++
    }
    return fired
  }

  /** Sleep until the next timer, delayed send or heartbeat, whichever is first; poll while outboxes are backed up. */
  private idleTimeoutMs(): number {
    if (this.transport.hasBacklog()) return 1
    const now = performance.now()
    let deadline = now + this.init.options.heartbeatMs
    const timer = this.timers.nextDueMs()
    if (timer !== undefined) deadline = Math.min(deadline, timer)
    const delayed = this.transport.nextDueMs()
    if (delayed !== undefined) deadline = Math.min(deadline, delayed)
    return Math.max(0, deadline - now)
  }

  private async maybeYield(): Promise<void> {
    const now = performance.now()
    if (now - this.lastYieldMs < this.init.options.yieldEveryMs) return
    this.lastYieldMs = now
    await yieldToEventLoop()
  }

  private stats(): WorkerStats {
    return {
      ...this.transport.stats,
      id: this.self,
      kind: this.init.kind,
      timers: this.timers.size,
      queuedBytes: this.transport.queuedBytes(),
      inboxPending: this.transport.hasPending(),
      eventLoopUtilization: performance.eventLoopUtilization().utilization,
      storageUsedBytes: this.storage.usedBytes,
    }
  }
}

async function main(init: WorkerInit): Promise<void> {
  const loaded = (await import(init.actor.module)) as Record<string, unknown>
  const Constructor = loaded[init.actor.exportName] as ActorConstructor | undefined
  if (typeof Constructor !== 'function') {
    throw new Error(`actor module ${init.actor.module} has no exported class "${init.actor.exportName}"`)
  }
  const host = new Host(init, new Constructor(init.args))
  expose(host.controlApi(), nodeEndpoint(init.controlPort))
  await host.run()
}

await main(workerData as WorkerInit)
