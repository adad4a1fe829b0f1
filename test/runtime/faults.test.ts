import t from 'tap'
import { startTestSystem } from '../support/system.js'

t.test('a partition really cuts traffic between sets, and heal restores it', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  for (const id of ['a', 'b', 'c']) await ts.spawn(id, 'EchoActor')
  ts.system.faults.partition([['a'], ['b', 'c']])
  await t.rejects(ts.request('a', { type: 'relay', to: 'b' }, 300), /no reply/, 'a cannot reach b')
  t.equal((await ts.request('b', { type: 'relay', to: 'c' }))['by'], 'c', 'b and c, in one set, still talk')
  t.equal((await ts.request('a', { type: 'ping' }))['by'], 'a', 'the client endpoint, in no set, reaches a')
  ts.system.faults.heal()
  t.equal((await ts.request('a', { type: 'relay', to: 'b' }))['by'], 'b', 'healed')
})

t.test('actors named in no set keep reaching everyone', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  for (const id of ['a', 'b', 'free']) await ts.spawn(id, 'EchoActor')
  ts.system.faults.partition([['a'], ['b']])
  t.equal((await ts.request('free', { type: 'relay', to: 'a' }))['by'], 'a')
  t.equal((await ts.request('free', { type: 'relay', to: 'b' }))['by'], 'b')
})

t.test('unreliable drop=1 loses every message; reliable restores delivery', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.spawn('a', 'EchoActor')
  ts.system.faults.unreliable({ drop: 1 })
  await t.rejects(ts.request('a', { type: 'ping' }, 300), /no reply/)
  ts.system.faults.reliable()
  t.equal((await ts.request('a', { type: 'ping' })).type, 'pong')
})

t.test('unreliable duplicate=1 delivers every message twice', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.spawn('a', 'EchoActor')
  let pongs = 0
  const done = new Promise<void>((resolve) => {
    ts.endpoint.onMessage(() => {
      if (++pongs === 4) resolve()
    })
  })
  ts.system.faults.unreliable({ duplicate: 1 })
  ts.endpoint.send('a', { type: 'ping', seq: 1 })
  await done
  t.equal(pongs, 4, 'request and reply each duplicated')
})

t.test('unreliable delay holds messages back and reorders them, losing none', async (t) => {
  const ts = await startTestSystem()
  t.teardown(() => ts.close())
  await ts.spawn('a', 'EchoActor')
  ts.system.faults.unreliable({ delayMs: 50 })
  const order: number[] = []
  const done = new Promise<void>((resolve) => {
    ts.endpoint.onMessage((message) => {
      order.push(Number((message as unknown as { seq: number }).seq))
      if (order.length === 200) resolve()
    })
  })
  for (let seq = 0; seq < 200; seq++) ts.endpoint.send('a', { type: 'ping', seq })
  await done
  t.same([...order].sort((x, y) => x - y), Array.from({ length: 200 }, (_, i) => i), 'all arrived exactly once')
  t.not(order.join(), [...order].sort((x, y) => x - y).join(), 'and some out of order')
})
