/**
 * Small actors for runtime tests. Each is a plain class on the actor
 * contract, so the same code runs on worker threads and in the simulator.
 */
import type { Actor, ActorContext, Message } from '../../src/runtime/actor.js'

export const ACTORS_MODULE = new URL('./actors.js', import.meta.url).href

type TestMessage = Message & { readonly [field: string]: unknown }

/** Replies to every `ping` with a `pong` carrying the same fields; `relay` forwards to `to` and back. */
export class EchoActor implements Actor<TestMessage> {
  receive(message: TestMessage, ctx: ActorContext<TestMessage>): void {
    switch (message.type) {
      case 'ping':
        ctx.send(ctx.sender, { ...message, type: 'pong', by: ctx.self })
        return
      case 'relay':
        ctx.send(String(message['to']), { type: 'ping', replyTo: ctx.sender, seq: message['seq'] })
        return
      case 'pong':
        if (typeof message['replyTo'] === 'string') ctx.send(message['replyTo'], { ...message, replyTo: undefined })
        return
      default:
        return
    }
  }
}

/** Misbehaves on command, to exercise the supervisor. */
export class FaultyActor implements Actor<TestMessage> {
  private started = 0

  start(ctx: ActorContext<TestMessage>): void {
    const starts = ctx.storage.get('starts')
    this.started = (starts === undefined ? 0 : new DataView(starts.buffer, starts.byteOffset).getUint32(0)) + 1
    const bytes = new Uint8Array(4)
    new DataView(bytes.buffer).setUint32(0, this.started)
    ctx.storage.set('starts', bytes)
  }

  receive(message: TestMessage, ctx: ActorContext<TestMessage>): void {
    switch (message.type) {
      case 'ping':
        ctx.send(ctx.sender, { type: 'pong', starts: this.started, seq: message['seq'], by: ctx.self })
        return
      case 'throw':
        throw new Error('FaultyActor was told to throw')
      case 'exit':
        process.exit(3)
      case 'hang':
        for (;;) {
          // A busy loop: only the watchdog can end it.
        }
      default:
        return
    }
  }
}

/** Keeps a counter in stable storage: it survives restarts. */
export class CounterActor implements Actor<TestMessage> {
  private count = 0

  start(ctx: ActorContext<TestMessage>): void {
    const stored = ctx.storage.get('count')
    this.count = stored === undefined ? 0 : Number(new TextDecoder().decode(stored))
  }

  receive(message: TestMessage, ctx: ActorContext<TestMessage>): void {
    if (message.type === 'incr') {
      this.count++
      ctx.storage.set('count', new TextEncoder().encode(String(this.count)))
    }
    if (message.type === 'incr' || message.type === 'read') ctx.send(ctx.sender, { type: 'count', count: this.count, seq: message['seq'] })
  }
}

/** Answers `ping` after a timer of `delayMs`; `cancel` cancels the pending timer. */
export class TimerActor implements Actor<TestMessage> {
  private pending: { id: number; to: string } | undefined

  receive(message: TestMessage, ctx: ActorContext<TestMessage>): void {
    switch (message.type) {
      case 'ping': {
        const id = ctx.setTimer(Number(message['delayMs']), { type: 'fire', to: ctx.sender, seq: message['seq'], at: ctx.now() })
        this.pending = { id, to: ctx.sender }
        return
      }
      case 'cancel':
        if (this.pending !== undefined) ctx.cancelTimer(this.pending.id)
        return
      case 'fire':
        ctx.send(String(message['to']), { type: 'pong', seq: message['seq'], elapsedMs: ctx.now() - Number(message['at']) })
        return
      default:
        return
    }
  }
}

/**
 * Counts the messages of each batch and reports the count from afterBatch,
 * to whoever sent the last of them: the sum of the reports is every message
 * received, and a report of 0 would be an afterBatch without a receive.
 */
export class BatchActor implements Actor<TestMessage> {
  private received = 0
  private replyTo: string | undefined
  private started = false

  start(): void {
    this.started = true
  }

  receive(message: TestMessage, ctx: ActorContext<TestMessage>): void {
    if (message.type !== 'item') return
    this.received++
    this.replyTo = ctx.sender
  }

  afterBatch(ctx: ActorContext<TestMessage>): void {
    if (this.replyTo === undefined) return
    ctx.send(this.replyTo, { type: 'batch', count: this.received, started: this.started })
    this.received = 0
    this.replyTo = undefined
  }
}
