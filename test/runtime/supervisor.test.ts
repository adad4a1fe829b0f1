import t from 'tap'
import { startTestSystem, eventually, type TestSystem } from '../support/system.js'
import type { EscalateEvent, RestartEvent } from '../../src/runtime/supervisor.js'

t.test('an actor that throws is restarted; its stable storage survives', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.spawn('faulty', 'FaultyActor')
  t.equal((await ts.request('faulty', { type: 'ping' }))['starts'], 1)
  const restarted = ts.next<RestartEvent>('restart')
  ts.endpoint.send('faulty', { type: 'throw' })
  t.match((await restarted).reason, /told to throw/)
  const reply = await eventually(() => ts.request('faulty', { type: 'ping' }, 500))
  t.equal(reply['starts'], 2, 'the new incarnation read what the old one stored')
})

t.test('an actor that calls process.exit is restarted', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.spawn('faulty', 'FaultyActor')
  const restarted = ts.next<RestartEvent>('restart')
  ts.endpoint.send('faulty', { type: 'exit' })
  t.match((await restarted).reason, /code 3/)
  t.equal((await eventually(() => ts.request('faulty', { type: 'ping' }, 500)))['starts'], 2)
})

t.test('a hung actor (busy loop) is found by the watchdog and restarted', async (t) => {
  const ts = await startTestSystem({ heartbeatMs: 20, hangTimeoutMs: 1000 })
  t.teardown(() => ts.close())
  await ts.spawn('faulty', 'FaultyActor')
  const restarted = ts.next<RestartEvent>('restart')
  ts.endpoint.send('faulty', { type: 'hang' })
  t.match((await restarted).reason, /hung/)
  t.equal((await eventually(() => ts.request('faulty', { type: 'ping' }, 500)))['starts'], 2)
})

t.test('an idle actor is not mistaken for a hung one', async (t) => {
  const ts = await startTestSystem({ heartbeatMs: 20, hangTimeoutMs: 1000 })
  t.teardown(() => ts.close())
  await ts.spawn('idle', 'EchoActor')
  await new Promise((resolve) => setTimeout(resolve, 2500))
  t.equal(ts.system.actors()[0]!.restarts, 0)
})

t.test('a paused actor answers only after the pause, and is not restarted', async (t) => {
  const ts = await startTestSystem({ heartbeatMs: 20, hangTimeoutMs: 1000 })
  t.teardown(() => ts.close())
  await ts.spawn('echo', 'EchoActor')
  ts.system.faults.pause('echo', 600)
  const started = Date.now()
  await ts.request('echo', { type: 'ping' }, 3000)
  t.ok(Date.now() - started >= 550, `answered after ${Date.now() - started} ms`)
  t.equal(ts.system.actors()[0]!.restarts, 0)
})

t.test('past its restart intensity a supervisor escalates to its parent', async (t) => {
  const ts = await startTestSystem({ supervisor: { maxRestarts: 0, periodMs: 60_000 } })
  t.teardown(() => ts.close())
  await ts.system.supervisor('group', { maxRestarts: 2, periodMs: 60_000 })
  await ts.spawn('faulty', 'FaultyActor', 'group')
  const escalations: EscalateEvent[] = []
  ts.system.on('escalate', (event: EscalateEvent) => escalations.push(event))
  for (let crash = 1; crash <= 2; crash++) {
    const restarted = ts.next<RestartEvent>('restart')
    ts.endpoint.send('faulty', { type: 'throw' })
    t.equal((await restarted).restarts, crash)
    await eventually(() => ts.request('faulty', { type: 'ping' }, 500))
  }
  const escalated = ts.next<EscalateEvent>('escalate')
  ts.endpoint.send('faulty', { type: 'throw' })
  t.equal((await escalated).supervisor, 'group')
  const rootEscalated = await ts.next<EscalateEvent>('escalate')
  t.equal(rootEscalated.supervisor, 'root', 'the root, allowed no restarts, gave up too')
  t.equal(escalations.length, 2)
  t.equal(ts.system.actors()[0]!.running, false)
  t.equal((await ts.system.stats()).escalations, 2)
})

t.test('one_for_all restarts every child when one fails', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.system.supervisor('all', { strategy: 'one_for_all' })
  for (const id of ['a', 'b', 'c']) await ts.spawn(id, 'FaultyActor', 'all')
  const restarts = collectRestarts(ts, 3)
  ts.endpoint.send('b', { type: 'throw' })
  t.same((await restarts).map((event) => event.id), ['a', 'b', 'c'])
  for (const id of ['a', 'b', 'c']) t.equal((await ts.request(id, { type: 'ping' }))['starts'], 2, `${id} restarted`)
})

t.test('rest_for_one restarts the failed child and those started after it', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.system.supervisor('rest', { strategy: 'rest_for_one' })
  for (const id of ['a', 'b', 'c']) await ts.spawn(id, 'FaultyActor', 'rest')
  const restarts = collectRestarts(ts, 2)
  ts.endpoint.send('b', { type: 'throw' })
  t.same((await restarts).map((event) => event.id), ['b', 'c'])
  t.equal((await ts.request('c', { type: 'ping' }))['starts'], 2, 'c restarted')
  t.equal((await ts.request('b', { type: 'ping' }))['starts'], 2, 'b restarted')
  t.equal((await ts.request('a', { type: 'ping' }))['starts'], 1, 'a untouched')
})

t.test('a counter in stable storage survives kills', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.spawn('counter', 'CounterActor')
  for (let i = 0; i < 5; i++) await ts.request('counter', { type: 'incr' })
  await ts.system.faults.kill('counter')
  const reply = await eventually(() => ts.request('counter', { type: 'read' }, 500))
  t.equal(reply['count'], 5)
})

function collectRestarts(ts: TestSystem, count: number): Promise<RestartEvent[]> {
  const events: RestartEvent[] = []
  return new Promise((resolve) => {
    ts.system.on('restart', (event: RestartEvent) => {
      events.push(event)
      if (events.length === count) resolve(events)
    })
  })
}
