import t from 'tap'
import { BatchActor } from '../support/actors.js'
import { ShardKVError } from '../../src/errors.js'
import type { ActorContext, Message } from '../../src/runtime/actor.js'
import { Prng } from '../../src/runtime/prng.js'
import { NOT_IN_VIEW } from '../../src/runtime/read-view.js'
import { Simulator, type SimulatedEndpoint, type SimulatorOptions } from '../../src/runtime/simulator.js'
import {
  Chatter,
  Counter,
  Looper,
  Pinger,
  Ponger,
  Scripted,
  Thrower,
  TimerProbe,
  type CounterMessage,
  type TimerProbeMessage,
} from '../support/sim-actors.js'

function errorCode(action: () => unknown): string | undefined {
  try {
    action()
    return undefined
  } catch (error) {
    if (error instanceof ShardKVError) return error.code
    throw error
  }
}

/** An endpoint that keeps what it receives. */
function inbox(sim: Simulator, id: string): SimulatedEndpoint & { readonly received: Message[] } {
  const received: Message[] = []
  const endpoint = sim.endpoint(id, (message) => {
    received.push(message)
  })
  return { received, send: (to, message) => endpoint.send(to, message) }
}

const CHATTER_IDS = ['a', 'b', 'c', 'd', 'e']

function chatterRun(seed: number, overrides: Partial<SimulatorOptions> = {}): Simulator {
  const sim = new Simulator({
    seed,
    dropRate: 0.1,
    duplicateRate: 0.1,
    minDelayMs: 1,
    maxDelayMs: 30,
    randomFaults: { crashesPerSecond: 4, minRestartDelayMs: 20, maxRestartDelayMs: 300 },
    ...overrides,
  })
  for (const id of CHATTER_IDS) sim.spawn(id, () => new Chatter(CHATTER_IDS, 20))
  sim.runFor(3000)
  return sim
}

t.test('prng: seeded, in range, and forks into independent deterministic streams', async (t) => {
  const draw = (prng: Prng, count: number): number[] => Array.from({ length: count }, () => prng.nextUint32())
  t.same(draw(new Prng(1), 100), draw(new Prng(1), 100), 'same seed, same stream')
  t.not(draw(new Prng(1), 4).join(), draw(new Prng(2), 4).join(), 'neighbouring seeds differ')
  t.not(draw(new Prng(1), 4).join(), draw(new Prng(1 + 2 ** 32), 4).join(), 'high bits of the seed count')

  const prng = new Prng(42)
  const buckets = new Array<number>(10).fill(0)
  let outOfRange = 0
  for (let index = 0; index < 100_000; index++) {
    const value = prng.next()
    if (value >= 0 && value < 1) buckets[Math.floor(value * 10)]!++
    else outOfRange++
  }
  t.equal(outOfRange, 0, 'next() stays in [0, 1)')
  t.ok(buckets.every((count) => Math.abs(count - 10_000) < 500), `roughly uniform: ${buckets.join(' ')}`)
  t.ok(Array.from({ length: 1000 }, () => prng.int(7)).every((value) => Number.isInteger(value) && value >= 0 && value < 7))
  t.ok(Array.from({ length: 1000 }, () => prng.intBetween(3, 5)).every((value) => value >= 3 && value <= 5))

  const parent = new Prng(9)
  const child = parent.fork()
  const parentAgain = new Prng(9)
  const childAgain = parentAgain.fork()
  t.same(draw(child, 20), draw(childAgain, 20), 'forks are deterministic')
  t.same(draw(parent, 20), draw(parentAgain, 20), 'drawing from a fork does not move the parent')
  t.not(draw(new Prng(9).fork(), 4).join(), draw(new Prng(9), 4).join(), 'a fork is a different stream')
})

t.test('the same seed gives the same trace under drops, duplicates, delays and crashes; another seed does not', async (t) => {
  const first = chatterRun(7)
  const second = chatterRun(7)
  const stats = first.stats
  t.ok(stats.dropped > 0 && stats.duplicated > 0 && stats.crashes > 0 && stats.restarts > 0, `faults happened: ${JSON.stringify(stats)}`)
  t.ok(first.trace.length > 100, `${first.trace.length} trace lines`)
  t.same(second.trace, first.trace)
  t.equal(second.traceHash, first.traceHash)
  t.same(second.stats, first.stats)
  t.not(chatterRun(8).traceHash, first.traceHash)
})

t.test('traceLimit bounds the kept lines while traceHash still covers the whole run', async (t) => {
  const full = chatterRun(11)
  const short = chatterRun(11, { traceLimit: 10 })
  t.equal(short.trace.length, 10)
  t.same(short.trace, full.trace.slice(-10))
  t.equal(short.traceHash, full.traceHash)
})

t.test('ping-pong completes under random delays, and under drops and duplicates thanks to retries', async (t) => {
  for (const faults of [{}, { dropRate: 0.3, duplicateRate: 0.3 }]) {
    const sim = new Simulator({ seed: 3, minDelayMs: 1, maxDelayMs: 50, ...faults })
    let pinger: Pinger | undefined
    let ponger: Ponger | undefined
    sim.spawn('ponger', () => (ponger = new Ponger()))
    sim.spawn('pinger', () => (pinger = new Pinger('ponger', 20, 200)))
    t.ok(sim.runUntil(() => pinger!.completedRounds === 20, 60_000), `20 rounds with ${JSON.stringify(faults)}`)
    t.ok(ponger!.pingsReceived >= 20)
  }
})

t.test('random delays reorder messages; every message still arrives once', async (t) => {
  const sim = new Simulator({ seed: 5, minDelayMs: 1, maxDelayMs: 40 })
  const sink = inbox(sim, 'sink')
  const source = sim.endpoint('source', () => {})
  for (let sequence = 0; sequence < 50; sequence++) source.send('sink', { type: 'numbered', sequence })
  sim.runFor(100)
  const order = sink.received.map((message) => (message as unknown as { sequence: number }).sequence)
  t.same([...order].sort((a, b) => a - b), Array.from({ length: 50 }, (_, index) => index))
  t.not(order.join(), [...order].sort((a, b) => a - b).join(), 'arrival order differs from send order')
})

t.test('a partition cuts traffic both ways, including messages already in flight; heal restores it', async (t) => {
  const sim = new Simulator({ seed: 1, minDelayMs: 5, maxDelayMs: 5 })
  sim.spawn('counter', () => new Counter())
  const client = inbox(sim, 'client')
  client.send('counter', { type: 'add', amount: 1 } satisfies CounterMessage)
  sim.partition([['client'], ['counter', 'bystander']])
  client.send('counter', { type: 'add', amount: 2 } satisfies CounterMessage)
  sim.runFor(50)
  t.same(client.received, [], 'nothing crossed')
  t.equal(sim.stats.dropped, 2)
  t.ok(sim.trace.some((line) => line.includes('drop client->counter add (partition)')))

  sim.heal()
  client.send('counter', { type: 'read' } satisfies CounterMessage)
  sim.runFor(50)
  t.same(client.received, [{ type: 'total', volatile: 0, stable: 0 }])
})

t.test('ids in no set reach everyone during a partition', async (t) => {
  const sim = new Simulator({ seed: 1 })
  sim.spawn('counter', () => new Counter())
  const outsider = inbox(sim, 'outsider')
  sim.partition([['left'], ['counter']])
  outsider.send('counter', { type: 'read' } satisfies CounterMessage)
  sim.runFor(50)
  t.equal(outsider.received.length, 1)
})

t.test('a crash loses volatile state and in-flight messages but keeps stable storage', async (t) => {
  const sim = new Simulator({ seed: 2, minDelayMs: 5, maxDelayMs: 5 })
  sim.spawn('counter', () => new Counter())
  const client = inbox(sim, 'client')
  client.send('counter', { type: 'add', amount: 5 } satisfies CounterMessage)
  client.send('counter', { type: 'add', amount: 7 } satisfies CounterMessage)
  sim.runFor(20)
  client.send('counter', { type: 'add', amount: 100 } satisfies CounterMessage)
  sim.crash('counter')
  t.notOk(sim.isRunning('counter'))
  sim.restart('counter')
  sim.runFor(20)
  t.ok(sim.trace.some((line) => line.includes('drop client->counter add (receiver crashed)')), 'the in-flight add was lost')

  client.send('counter', { type: 'read' } satisfies CounterMessage)
  sim.runFor(20)
  t.same(client.received.at(-1), { type: 'total', volatile: 0, stable: 12 })
  t.equal(sim.stats.crashes, 1)
  t.equal(sim.stats.restarts, 1)
})

t.test('messages to a crashed actor are dropped until it restarts', async (t) => {
  const sim = new Simulator({ seed: 2 })
  sim.spawn('counter', () => new Counter())
  const client = inbox(sim, 'client')
  sim.crash('counter')
  sim.crash('counter')
  client.send('counter', { type: 'read' } satisfies CounterMessage)
  sim.runFor(50)
  t.same(client.received, [])
  t.ok(sim.trace.some((line) => line.includes('(receiver down)')))
  t.equal(sim.stats.crashes, 1, 'crashing a crashed actor is a no-op')
})

t.test('timers fire in virtual time, cancelTimer works, and a crash cancels timers', async (t) => {
  const sim = new Simulator({ seed: 4, minDelayMs: 0, maxDelayMs: 0 })
  sim.spawn('probe', () => new TimerProbe('observer'))
  const observer = inbox(sim, 'observer')
  const arm = (label: string, delayMs: number): void => observer.send('probe', { type: 'arm', label, delayMs } satisfies TimerProbeMessage)
  arm('a', 100)
  arm('b', 50)
  arm('c', 70)
  // Zero delay puts all sends at time 0, where the seeded tie order could run the cancel before its arm.
  sim.runFor(1)
  observer.send('probe', { type: 'cancel', label: 'c' } satisfies TimerProbeMessage)
  sim.runFor(48)
  t.same(observer.received, [], 'nothing before 50 ms')
  sim.runFor(100)
  t.same(observer.received, [
    { type: 'fired', label: 'b', atMs: 50 },
    { type: 'fired', label: 'a', atMs: 100 },
  ])
  t.equal(sim.now(), 149)

  arm('d', 10)
  sim.runFor(5)
  sim.restart('probe')
  sim.runFor(100)
  t.equal(observer.received.length, 2, 'the crashed incarnation’s timer never fired')
  t.equal(sim.step(), false, 'nothing pending')
})

t.test('an actor that throws is crashed, recorded, and restartable', async (t) => {
  const sim = new Simulator({ seed: 6 })
  sim.spawn('thrower', () => new Thrower())
  const client = inbox(sim, 'client')
  client.send('thrower', { type: 'boom' })
  sim.runFor(20)
  t.notOk(sim.isRunning('thrower'))
  t.equal(sim.stats.crashes, 1)
  t.equal(sim.stats.actorErrors, 1)
  t.equal((sim.actorErrors[0]?.error as Error).message, 'boom')
  t.ok(sim.trace.some((line) => line.includes('crash thrower (threw Error: boom)')))

  sim.restart('thrower')
  client.send('thrower', { type: 'hello' })
  sim.runFor(20)
  t.same(client.received, [{ type: 'echo', of: 'hello' }])
})

t.test('an actor that throws on start is crashed at spawn', async (t) => {
  const sim = new Simulator({ seed: 6 })
  sim.spawn('thrower', () => new Thrower(true))
  t.notOk(sim.isRunning('thrower'))
  t.equal(sim.stats.actorErrors, 1)
})

t.test('with random faults on, an actor that threw is restarted after a random downtime', async (t) => {
  const sim = new Simulator({ seed: 6, randomFaults: { crashesPerSecond: 1, actorIds: [], minRestartDelayMs: 30, maxRestartDelayMs: 60 } })
  sim.spawn('thrower', () => new Thrower())
  sim.endpoint('client', () => {}).send('thrower', { type: 'boom' })
  t.ok(sim.runUntil(() => !sim.isRunning('thrower'), 100))
  const crashedAtMs = sim.now()
  t.ok(sim.runUntil(() => sim.isRunning('thrower'), 100))
  t.ok(sim.now() - crashedAtMs >= 30 && sim.now() - crashedAtMs <= 60, `down for ${sim.now() - crashedAtMs} ms`)
})

t.test('random faults crash only eligible actors and never more than maxDownActors at once', async (t) => {
  const sim = new Simulator({
    seed: 12,
    randomFaults: { crashesPerSecond: 50, actorIds: ['a', 'b', 'c'], maxDownActors: 2, minRestartDelayMs: 50, maxRestartDelayMs: 400 },
  })
  for (const id of CHATTER_IDS) sim.spawn(id, () => new Chatter(CHATTER_IDS, 20))
  let mostDown = 0
  let ineligibleCrashed = false
  sim.runUntil(() => {
    mostDown = Math.max(mostDown, ['a', 'b', 'c'].filter((id) => !sim.isRunning(id)).length)
    ineligibleCrashed ||= !sim.isRunning('d') || !sim.isRunning('e')
    return false
  }, 5000)
  t.equal(mostDown, 2, 'reached but never exceeded two down')
  t.notOk(ineligibleCrashed)
  t.ok(sim.stats.crashes > 20, `${sim.stats.crashes} crashes`)

  sim.setRandomFaults(undefined)
  sim.runFor(1000)
  t.ok(CHATTER_IDS.every((id) => sim.isRunning(id)), 'turning faults off stops crashes; scheduled restarts still happen')
})

t.test('maxEvents stops a zero-delay livelock with a clear error', async (t) => {
  const sim = new Simulator({ seed: 1, minDelayMs: 0, maxDelayMs: 0, maxEvents: 1000 })
  sim.spawn('left', () => new Looper(undefined))
  sim.spawn('right', () => new Looper('left'))
  t.throws(() => sim.runFor(10), { code: 'ERR_TIMEOUT', message: /1000 events \(maxEvents\).*zero delay/ })
  t.throws(() => sim.runUntil(() => false, 10), { code: 'ERR_TIMEOUT' })
})

t.test('maxPendingEvents stops an actor that schedules without bound', async (t) => {
  const sim = new Simulator({ seed: 1, maxPendingEvents: 50 })
  const flood = (): Scripted =>
    new Scripted(
      () => {},
      (ctx) => {
        for (let index = 0; index < 100; index++) ctx.setTimer(10, { type: 'tick' })
      },
    )
  t.throws(() => sim.spawn('flood', flood), { code: 'ERR_OVERLOADED', message: /maxPendingEvents/ })
  t.equal(sim.stats.actorErrors, 0, 'a bound being hit is not an actor crash')
})

t.test('messages round-trip through the codec: receivers get equal copies, never the sent object', async (t) => {
  const payload = { type: 'data', nested: { list: [1, 'two'] }, bytes: Uint8Array.of(1, 2), table: new Map([['k', 1]]) }
  for (const roundTripThroughCodec of [true, false]) {
    const sim = new Simulator({ seed: 1, roundTripThroughCodec })
    const sink = inbox(sim, 'sink')
    sim.endpoint('source', () => {}).send('sink', payload)
    sim.runFor(20)
    t.same(sink.received, [payload])
    t.equal(sink.received[0] === payload, !roundTripThroughCodec, `identity kept only without the codec (${roundTripThroughCodec})`)
  }
})

t.test('an unencodable message fails loudly at the send, not as an actor crash', async (t) => {
  const sim = new Simulator({ seed: 1 })
  const unencodable = { type: 'bad', when: new Date(0) } as Message
  t.throws(() => sim.endpoint('client', () => {}).send('nobody', unencodable), { code: 'ERR_CODEC' })

  sim.spawn('sender', () => new Scripted((_message, ctx) => {
    try {
      ctx.send('client', unencodable)
    } catch {
      // Swallowing the error must not hide it: the simulator rethrows after the turn.
    }
  }))
  sim.endpoint('trigger', () => {}).send('sender', { type: 'go' })
  t.throws(() => sim.runFor(20), { code: 'ERR_CODEC', message: /"sender" sent a message to "client"/ })
  t.equal(sim.stats.actorErrors, 0)
  t.ok(sim.isRunning('sender'))
})

t.test('the context gives actors their id, the sender, virtual now and a seeded random', async (t) => {
  const seen: unknown[] = []
  const run = (): unknown[] => {
    seen.length = 0
    const sim = new Simulator({ seed: 10, minDelayMs: 7, maxDelayMs: 7 })
    sim.spawn('echo', () => new Scripted((message, ctx) => {
      seen.push({ self: ctx.self, sender: ctx.sender, type: message.type, nowMs: ctx.now(), random: ctx.random() })
      if (message.type === 'hello') ctx.setTimer(3, { type: 'later' })
    }))
    sim.endpoint('client', () => {}).send('echo', { type: 'hello' })
    sim.runFor(20)
    return [...seen]
  }
  const first = run()
  t.match(first, [
    { self: 'echo', sender: 'client', type: 'hello', nowMs: 7 },
    { self: 'echo', sender: 'echo', type: 'later', nowMs: 10 },
  ])
  t.same(run(), first, 'random() is seeded')
})

t.test('step and runUntil drive virtual time without real waiting', async (t) => {
  const sim = new Simulator({ seed: 1, minDelayMs: 10, maxDelayMs: 10 })
  const sink = inbox(sim, 'sink')
  t.equal(sim.step(), false)
  sim.endpoint('source', () => {}).send('sink', { type: 'x' })
  t.equal(sim.runUntil(() => sink.received.length === 1, 5), false)
  t.equal(sim.now(), 5, 'a missed deadline leaves the clock at the deadline')
  t.equal(sim.runUntil(() => sink.received.length === 1, 1_000_000), true)
  t.equal(sim.now(), 10, 'a met predicate stops the clock at that event')
  t.equal(sim.step(), false)
})

t.test('options and ids are validated with errors that name the problem', async (t) => {
  t.throws(() => new Simulator({ seed: 1.5 }), { code: 'ERR_INVALID_OPTION', message: /seed/ })
  t.throws(() => new Simulator({ seed: 1, dropRate: 2 }), { code: 'ERR_INVALID_OPTION', message: /dropRate/ })
  t.throws(() => new Simulator({ seed: 1, minDelayMs: 9, maxDelayMs: 3 }), { code: 'ERR_INVALID_OPTION', message: /minDelayMs/ })
  t.throws(() => new Simulator({ seed: 1, maxDelayMs: 0.5 }), { code: 'ERR_INVALID_OPTION', message: /maxDelayMs/ })
  t.throws(() => new Simulator({ seed: 1, maxEvents: 0 }), { code: 'ERR_INVALID_OPTION', message: /maxEvents/ })
  t.throws(() => new Simulator({ seed: 1, storageCapacityBytes: 1 }), { code: 'ERR_INVALID_OPTION', message: /storageCapacityBytes/ })
  t.throws(() => new Simulator({ seed: 1, randomFaults: { crashesPerSecond: 0 } }), { code: 'ERR_INVALID_OPTION', message: /crashesPerSecond/ })
  const sim = new Simulator({ seed: 1 })
  t.throws(() => sim.setFaults({ duplicateRate: -1 }), { code: 'ERR_INVALID_OPTION', message: /duplicateRate/ })
  sim.spawn('a', () => new Counter())
  t.equal(errorCode(() => sim.spawn('a', () => new Counter())), 'ERR_INVALID_OPTION')
  t.equal(errorCode(() => sim.endpoint('a', () => {})), 'ERR_INVALID_OPTION')
  t.equal(errorCode(() => sim.crash('missing')), 'ERR_UNKNOWN_ACTOR')
  t.equal(errorCode(() => sim.restart('missing')), 'ERR_UNKNOWN_ACTOR')
  t.equal(errorCode(() => sim.partition([['a'], ['a']])), 'ERR_INVALID_OPTION')
  t.equal(errorCode(() => sim.runFor(-1)), 'ERR_INVALID_OPTION')
  t.equal(errorCode(() => sim.spawn('b', () => new Counter(), { readView: { shards: 0 } })), 'ERR_INVALID_OPTION')
  t.equal(errorCode(() => sim.spawn('c', () => new Counter(), { readView: { shards: 1, bytes: 64 } })), 'ERR_INVALID_OPTION')
})

/** Publishes `{ key: value }` in shard 0 of its view, served until `leaseMs` after now, on a 'publish' message; resets the view at start, as a restarted storage node does. */
function publisher(): Scripted {
  return new Scripted(
    (message, ctx) => {
      const { key, value, leaseMs } = message as unknown as { key: string; value: string; leaseMs: number }
      ctx.readView!.set(0, key, value)
      ctx.readView!.setServing(0, true)
      ctx.readView!.setLeaseEnd(ctx.now() + leaseMs)
    },
    (ctx: ActorContext) => ctx.readView?.reset(),
  )
}

t.test('a read view is opt-in per actor and answers at virtual now until its lease ends', async (t) => {
  const sim = new Simulator({ seed: 3, minDelayMs: 5, maxDelayMs: 5 })
  let plainView: unknown = 'unset'
  sim.spawn('plain', () => new Scripted(() => {}, (ctx) => (plainView = ctx.readView)))
  sim.spawn('viewer', publisher, { readView: { shards: 2 } })
  t.equal(plainView, undefined, 'an actor spawned without the option gets no view')
  t.equal(sim.readView('plain'), undefined)
  const view = sim.readView('viewer')!
  t.equal(view.get(0, 'k'), NOT_IN_VIEW, 'a fresh view answers nothing')

  sim.endpoint('client', () => {}).send('viewer', { type: 'publish', key: 'k', value: 'v1', leaseMs: 20 })
  sim.runFor(5)
  t.equal(view.get(0, 'k'), 'v1', 'published at 5 ms, leased until 25 ms')
  t.equal(view.get(0, 'other'), undefined, 'a key absent from a served shard is an answer')
  t.equal(view.get(1, 'k'), NOT_IN_VIEW, 'an unserved shard is not')
  sim.runFor(19)
  t.ok(view.serves(0), 'still leased at 24 ms')
  sim.runFor(1)
  t.notOk(view.serves(0), 'the lease ends at 25 ms of virtual time')
  t.equal(view.get(0, 'k'), NOT_IN_VIEW)
})

t.test("a crashed actor's view stays as it was, lease included, until its restart resets it", async (t) => {
  const sim = new Simulator({ seed: 3, minDelayMs: 5, maxDelayMs: 5 })
  sim.spawn('viewer', publisher, { readView: { shards: 1 } })
  const view = sim.readView('viewer')!
  sim.endpoint('client', () => {}).send('viewer', { type: 'publish', key: 'k', value: 'v1', leaseMs: 100 })
  sim.runFor(5)
  sim.crash('viewer')
  sim.runFor(50)
  t.equal(view.get(0, 'k'), 'v1', 'a crash freezes the view: it answers while the lease it holds runs')
  sim.restart('viewer')
  t.equal(view.get(0, 'k'), NOT_IN_VIEW, "the restarted actor's start() reset it")
})

t.test('a crash point ends the turn right after the chosen send: that message goes out, nothing after it does, the view stays as written', async (t) => {
  const sim = new Simulator({ seed: 3, minDelayMs: 5, maxDelayMs: 5 })
  const client = inbox(sim, 'client')
  let batches = 0
  sim.spawn(
    'talker',
    () =>
      new (class extends Scripted {
        afterBatch(ctx: ActorContext): void {
          batches++
          ctx.readView!.setLeaseEnd(Number.NEGATIVE_INFINITY)
        }
      })((_, ctx) => {
        ctx.readView!.setServing(0, true)
        ctx.readView!.setLeaseEnd(ctx.now() + 100)
        ctx.send('client', { type: 'first' })
        ctx.send('client', { type: 'second' })
        ctx.send('client', { type: 'third' })
      }),
    { readView: { shards: 1 } },
  )
  const batchesAtStart = batches
  sim.crashAfterSend('talker', (to, message) => to === 'client' && message.type === 'second')
  client.send('talker', { type: 'go' })
  sim.runFor(20)
  // Sorted: copies due at the same instant arrive in a seeded order.
  t.same(client.received.map((message) => message.type).sort(), ['first', 'second'], 'the chosen send went out, the one after it did not')
  t.notOk(sim.isRunning('talker'))
  t.equal(batches, batchesAtStart, 'its afterBatch did not run')
  t.ok(sim.readView('talker')!.serves(0), 'its view kept the lease it had at the send')
  t.equal(sim.stats.actorErrors, 0, 'a crash point is not an actor error')
  t.ok(sim.trace.some((line) => line.includes('crash talker (right after sending second to client)')))
  sim.restart('talker')
  client.send('talker', { type: 'go' })
  sim.runFor(20)
  t.equal(client.received.length, 5, 'one-shot: the restarted actor sends all three')
})

t.test('afterBatch follows every delivery: the simulator delivers one message at a time', async (t) => {
  const sim = new Simulator({ seed: 5, minDelayMs: 1, maxDelayMs: 1 })
  sim.spawn('batcher', () => new BatchActor())
  const counts: number[] = []
  const endpoint = sim.endpoint('sender', (message) => {
    if (message.type === 'batch') counts.push(Number((message as unknown as Record<string, unknown>)['count']))
  })
  for (let n = 0; n < 5; n++) endpoint.send('batcher', { type: 'item', n })
  sim.runFor(50)
  t.same(counts, [1, 1, 1, 1, 1])
})
