import t from 'tap'
import { Worker } from 'node:worker_threads'
import { startTestSystem, eventually } from '../support/system.js'
import type { RestartEvent } from '../../src/runtime/supervisor.js'

t.test('an endpoint on the main thread talks to an actor on a worker', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.spawn('echo', 'EchoActor')
  const reply = await ts.request('echo', { type: 'ping', text: 'hello', bytes: new Uint8Array([1, 2, 3]) })
  t.equal(reply.type, 'pong')
  t.equal(reply['text'], 'hello')
  t.same(reply['bytes'], new Uint8Array([1, 2, 3]))
  t.equal(reply['by'], 'echo')
})

t.test('actors talk worker to worker, including one spawned after the others', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.spawn('a', 'EchoActor')
  await ts.spawn('b', 'EchoActor')
  const viaB = await ts.request('a', { type: 'relay', to: 'b' })
  t.equal(viaB['by'], 'b', 'a relayed to b and b answered through a')
  await ts.spawn('late', 'EchoActor')
  const viaLate = await ts.request('a', { type: 'relay', to: 'late' })
  t.equal(viaLate['by'], 'late', 'an existing actor reaches an actor added later')
})

t.test('many pipelined requests all come back exactly once', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.spawn('echo', 'EchoActor')
  const replies = await Promise.all(Array.from({ length: 5000 }, (_, i) => ts.request('echo', { type: 'ping', i })))
  t.same(replies.map((reply) => reply['i']), Array.from({ length: 5000 }, (_, i) => i))
})

t.test('a large message is chunked through the rings and arrives intact', async (t) => {
  const ts = await startTestSystem({ laneCapacityBytes: 4096 })
  t.teardown(() => ts.close())
  await ts.spawn('echo', 'EchoActor')
  const bytes = new Uint8Array(1_000_000).map((_, i) => (i * 31) & 0xff)
  const reply = await ts.request('echo', { type: 'ping', bytes })
  t.same(reply['bytes'], bytes)
})

t.test('an endpoint in another thread, connected from a descriptor, reaches actors added before and after', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.spawn('before', 'EchoActor')
  const descriptor = ts.system.endpoint('remote')
  const worker = new Worker(new URL('./fixtures/remote-endpoint.js', import.meta.url), { workerData: descriptor })
  t.teardown(() => worker.terminate())
  const ready = new Promise((resolve) => worker.once('message', resolve))
  t.equal(await ready, 'ready')
  await ts.spawn('after', 'EchoActor')
  const answers = new Promise<unknown>((resolve) => worker.once('message', resolve))
  worker.postMessage(['before', 'after'])
  t.same(await answers, ['before', 'after'])
})

t.test('timers fire after their delay and can be cancelled', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.spawn('timer', 'TimerActor')
  const reply = await ts.request('timer', { type: 'ping', delayMs: 30 })
  t.ok(Number(reply['elapsedMs']) >= 29, `fired after ${String(reply['elapsedMs'])} ms`)
  const cancelled = ts.request('timer', { type: 'ping', delayMs: 200 }, 600)
  ts.endpoint.send('timer', { type: 'cancel' })
  await t.rejects(cancelled, /no reply/)
})

t.test('stats come over the control plane', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.spawn('echo', 'EchoActor')
  for (let i = 0; i < 10; i++) await ts.request('echo', { type: 'ping' })
  const stats = await ts.system.stats()
  const echo = stats.actors.find((actor) => actor.id === 'echo')!
  t.ok(echo.messagesIn >= 10, `messagesIn ${echo.messagesIn}`)
  t.ok(echo.messagesOut >= 10, `messagesOut ${echo.messagesOut}`)
  t.equal(echo.restarts, 0)
})

t.test('an actor stopped in order is gone; sends to it fail with ERR_UNKNOWN_ACTOR', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.spawn('echo', 'EchoActor')
  await ts.system.stop('echo')
  t.same(ts.system.actors(), [])
  for (let wait = 0; wait < 100 && ts.endpoint.has('echo'); wait++) await new Promise((resolve) => setTimeout(resolve, 10))
  t.throws(() => ts.endpoint.send('echo', { type: 'ping' }), { code: 'ERR_UNKNOWN_ACTOR' })
})

t.test('a killed actor is restarted by its supervisor and serves again', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.spawn('echo', 'EchoActor')
  const restarted = ts.next<RestartEvent>('restart')
  await ts.system.faults.kill('echo')
  const event = await restarted
  t.equal(event.id, 'echo')
  t.match(event.reason, /killed/)
  const reply = await eventually(() => ts.request('echo', { type: 'ping' }, 500))
  t.equal(reply.type, 'pong')
  t.equal(ts.system.actors()[0]!.restarts, 1)
})

t.test('bad ids and options are refused with typed errors', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.spawn('echo', 'EchoActor')
  await t.rejects(ts.spawn('echo', 'EchoActor'), { code: 'ERR_INVALID_OPTION' })
  await t.rejects(ts.system.faults.kill('nobody'), { code: 'ERR_UNKNOWN_ACTOR' })
  t.throws(() => ts.system.faults.pause('echo', -1), { code: 'ERR_INVALID_OPTION' })
  t.throws(() => ts.system.faults.unreliable({ drop: 2 }), { code: 'ERR_INVALID_OPTION' })
  await ts.close()
  await t.rejects(ts.spawn('other', 'EchoActor'), { code: 'ERR_CLOSED' })
})

t.test('afterBatch runs after each batch of receives, before what they sent goes out', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.spawn('batcher', 'BatchActor')
  const counts: number[] = []
  ts.endpoint.onMessage((message) => {
    if (message.type === 'batch') counts.push(Number((message as unknown as Record<string, unknown>)['count']))
  })
  const items = 500
  for (let n = 0; n < items; n++) ts.endpoint.send('batcher', { type: 'item', n })
  const total = (): number => counts.reduce((sum, count) => sum + count, 0)
  for (let waitedMs = 0; total() < items && waitedMs < 10_000; waitedMs += 10) await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(total(), items, 'the batches add up to every message')
  t.ok(counts.every((count) => count > 0), 'never called without a receive')
  t.ok(counts.length >= 1 && counts.length <= items, `${counts.length} batches for ${items} messages`)
})
