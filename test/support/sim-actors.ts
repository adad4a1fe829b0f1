/**
 * Small actors for simulator tests. They use only the actor contract, so the
 * same classes could run on the worker host. Each keeps the state a test
 * inspects as public fields (volatile: lost when the simulator crashes it).
 */
import type { Actor, ActorContext, Message, TimerId } from '../../src/runtime/actor.js'
import { codec } from '../../src/runtime/codec.js'

export type PingPongMessage =
  | { readonly type: 'ping'; readonly round: number }
  | { readonly type: 'pong'; readonly round: number }
  | { readonly type: 'retry'; readonly round: number }

/**
 * Plays `rounds` rounds of ping-pong with `peer`, one round at a time. A
 * round is retransmitted every `retryMs` until its pong arrives, so the game
 * also finishes under drops; stale and duplicate pongs are ignored.
 */
export class Pinger implements Actor<PingPongMessage> {
  completedRounds = 0
  private retryTimer: TimerId | undefined

  constructor(
    private readonly peer: string,
    private readonly rounds: number,
    private readonly retryMs: number,
  ) {}

  start(ctx: ActorContext<PingPongMessage>): void {
    this.sendRound(ctx)
  }

  receive(message: PingPongMessage, ctx: ActorContext<PingPongMessage>): void {
    if (message.type === 'retry' && message.round === this.completedRounds + 1) this.sendRound(ctx)
    if (message.type !== 'pong' || message.round !== this.completedRounds + 1) return
    this.completedRounds = message.round
    if (this.retryTimer !== undefined) ctx.cancelTimer(this.retryTimer)
    this.retryTimer = undefined
    if (this.completedRounds < this.rounds) this.sendRound(ctx)
  }

  private sendRound(ctx: ActorContext<PingPongMessage>): void {
    const round = this.completedRounds + 1
    ctx.send(this.peer, { type: 'ping', round })
    this.retryTimer = ctx.setTimer(this.retryMs, { type: 'retry', round })
  }
}

/** Answers every ping with a pong for the same round. */
export class Ponger implements Actor<PingPongMessage> {
  pingsReceived = 0

  receive(message: PingPongMessage, ctx: ActorContext<PingPongMessage>): void {
    if (message.type !== 'ping') return
    this.pingsReceived++
    ctx.send(ctx.sender, { type: 'pong', round: message.round })
  }
}

export type CounterMessage =
  | { readonly type: 'add'; readonly amount: number }
  | { readonly type: 'read' }
  | { readonly type: 'total'; readonly volatile: number; readonly stable: number }

const STABLE_TOTAL_KEY = 'total'

/**
 * Adds amounts twice: to a field (volatile, lost on crash) and to stable
 * storage (kept). Replies `total` with both to every add and read.
 */
export class Counter implements Actor<CounterMessage> {
  volatileTotal = 0

  receive(message: CounterMessage, ctx: ActorContext<CounterMessage>): void {
    if (message.type === 'add') {
      this.volatileTotal += message.amount
      ctx.storage.set(STABLE_TOTAL_KEY, codec.encodeValue(readStableTotal(ctx) + message.amount))
    }
    if (message.type === 'add' || message.type === 'read') {
      ctx.send(ctx.sender, { type: 'total', volatile: this.volatileTotal, stable: readStableTotal(ctx) })
    }
  }
}

function readStableTotal(ctx: ActorContext<CounterMessage>): number {
  const bytes = ctx.storage.get(STABLE_TOTAL_KEY)
  return bytes === undefined ? 0 : (codec.decodeValue(bytes) as number)
}

export type TimerProbeMessage =
  | { readonly type: 'arm'; readonly label: string; readonly delayMs: number }
  | { readonly type: 'cancel'; readonly label: string }
  | { readonly type: 'fire'; readonly label: string }
  | { readonly type: 'fired'; readonly label: string; readonly atMs: number }

/** Arms and cancels labelled timers on request; reports each firing, with its virtual time, to `reportTo`. */
export class TimerProbe implements Actor<TimerProbeMessage> {
  private readonly timers = new Map<string, TimerId>()

  constructor(private readonly reportTo: string) {}

  receive(message: TimerProbeMessage, ctx: ActorContext<TimerProbeMessage>): void {
    switch (message.type) {
      case 'arm':
        this.timers.set(message.label, ctx.setTimer(message.delayMs, { type: 'fire', label: message.label }))
        return
      case 'cancel': {
        const id = this.timers.get(message.label)
        if (id !== undefined) ctx.cancelTimer(id)
        return
      }
      case 'fire':
        ctx.send(this.reportTo, { type: 'fired', label: message.label, atMs: ctx.now() })
        return
      case 'fired':
        return
    }
  }
}

/** Throws on `boom` (and on start when asked); echoes anything else back to its sender. */
export class Thrower implements Actor {
  constructor(private readonly throwOnStart = false) {}

  start(): void {
    if (this.throwOnStart) throw new Error('thrower failed to start')
  }

  receive(message: Message, ctx: ActorContext): void {
    if (message.type === 'boom') throw new Error('boom')
    ctx.send(ctx.sender, { type: 'echo', of: message.type })
  }
}

/** Sends one message to `peer` on start and answers every message at once: with zero delay, a livelock. */
export class Looper implements Actor {
  constructor(private readonly peer: string | undefined) {}

  start(ctx: ActorContext): void {
    if (this.peer !== undefined) ctx.send(this.peer, { type: 'loop' })
  }

  receive(_message: Message, ctx: ActorContext): void {
    ctx.send(ctx.sender, { type: 'loop' })
  }
}

export type ChatterMessage = { readonly type: 'tick' } | { readonly type: 'chat'; readonly hops: number }

/**
 * Busy, random traffic for determinism tests: on every tick (a random
 * interval) it messages a random peer; a chat is forwarded to another random
 * peer until its hop count runs out. Every chat received is counted in
 * stable storage, so crashes and restarts leave a visible, seeded history.
 */
export class Chatter implements Actor<ChatterMessage> {
  constructor(
    private readonly peers: readonly string[],
    private readonly tickMs: number,
  ) {}

  start(ctx: ActorContext<ChatterMessage>): void {
    ctx.setTimer(this.nextTickMs(ctx), { type: 'tick' })
  }

  receive(message: ChatterMessage, ctx: ActorContext<ChatterMessage>): void {
    if (message.type === 'tick') {
      ctx.send(this.randomPeer(ctx), { type: 'chat', hops: 3 })
      ctx.setTimer(this.nextTickMs(ctx), { type: 'tick' })
      return
    }
    const received = ctx.storage.get('received')
    ctx.storage.set('received', codec.encodeValue(received === undefined ? 1 : (codec.decodeValue(received) as number) + 1))
    if (message.hops > 0) ctx.send(this.randomPeer(ctx), { type: 'chat', hops: message.hops - 1 })
  }

  private nextTickMs(ctx: ActorContext<ChatterMessage>): number {
    return 1 + Math.floor(ctx.random() * this.tickMs)
  }

  private randomPeer(ctx: ActorContext<ChatterMessage>): string {
    return this.peers[Math.floor(ctx.random() * this.peers.length)]!
  }
}

/** An actor whose behaviour is a function: for one-off cases a named class would not explain better. */
export class Scripted implements Actor {
  constructor(
    private readonly onReceive: (message: Message, ctx: ActorContext) => void,
    private readonly onStart: (ctx: ActorContext) => void = () => {},
  ) {}

  start(ctx: ActorContext): void {
    this.onStart(ctx)
  }

  receive(message: Message, ctx: ActorContext): void {
    this.onReceive(message, ctx)
  }
}
