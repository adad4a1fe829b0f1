/**
 * Actors of the runtime benchmark, on the plain actor contract (everything
 * through `ctx`), so the ring transport is measured exactly as the store's
 * actors will use it.
 *
 * - EchoActor answers every ping with a pong to its sender.
 * - DriverActor, told to `bench.run` by the main thread, loads an echo actor
 *   in another worker (ping-pong or pipelined, see LoadRun) and answers with
 *   a `bench.result`.
 */
import { assert } from '../errors.js'
import type { Actor, ActorContext } from '../runtime/actor.js'
import {
  float64sToBytes,
  nextSeq,
  ping,
  pong,
  type BenchMessage,
  type ResultMessage,
  type RunMessage,
} from './bench-messages.js'
import { LoadRun } from './load.js'

export const BENCH_ACTORS_MODULE = new URL('./bench-actors.js', import.meta.url).href

export class EchoActor implements Actor<BenchMessage> {
  receive(message: BenchMessage, ctx: ActorContext<BenchMessage>): void {
    if (message.type === 'bench.ping') ctx.send(ctx.sender, pong(message.seq))
  }
}

interface ActiveRun {
  readonly run: LoadRun
  readonly target: string
  readonly requester: string
}

export class DriverActor implements Actor<BenchMessage> {
  private active: ActiveRun | undefined
  private seq = 0

  receive(message: BenchMessage, ctx: ActorContext<BenchMessage>): void {
    switch (message.type) {
      case 'bench.run':
        this.begin(message, ctx)
        return
      case 'bench.pong':
        this.onPong(ctx)
        return
      case 'bench.ping':
      case 'bench.result':
        return
      default: {
        const never: never = message
        throw new Error(`DriverActor: unknown message ${JSON.stringify(never)}`)
      }
    }
  }

  private begin(message: RunMessage, ctx: ActorContext<BenchMessage>): void {
    assert(this.active === undefined, 'DriverActor: a run was requested while another is active')
    const run = new LoadRun(message, () => ctx.random())
    this.active = { run, target: message.target, requester: ctx.sender }
    this.sendPings(run.begin(ctx.now()), message.target, ctx)
  }

  private onPong(ctx: ActorContext<BenchMessage>): void {
    const active = this.active
    if (active === undefined || ctx.sender !== active.target) return
    this.sendPings(active.run.reply(ctx.now()), active.target, ctx)
    if (!active.run.done) return
    this.active = undefined
    const result = active.run.result()
    const reply: ResultMessage = {
      type: 'bench.result',
      completed: result.completed,
      elapsedMs: result.elapsedMs,
      roundTrips: result.roundTrips,
      samples: float64sToBytes(result.roundTripSamplesUs),
    }
    ctx.send(active.requester, reply)
  }

  private sendPings(count: number, target: string, ctx: ActorContext<BenchMessage>): void {
    for (let sent = 0; sent < count; sent++) {
      this.seq = nextSeq(this.seq)
      ctx.send(target, ping(this.seq))
    }
  }
}
