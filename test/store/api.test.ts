import t from 'tap'
import { createCluster, ShardKVError, type ClusterConfig, type LeaderEvent } from '../../src/index.js'
import { hashKey } from '../../src/actors/shard-hash.js'
import { MAX_OUTSTANDING_OPS } from '../../src/client/kv-client.js'
import type { RestartEvent } from '../../src/runtime/supervisor.js'
import { startCluster } from '../support/cluster.js'

/** Resolves with the error code `promise` rejects with (fails the test if it resolves). */
async function codeOf(promise: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof promise === 'function' ? promise() : promise)
  } catch (error) {
    if (error instanceof ShardKVError) return error.code
    throw error
  }
  throw new Error('expected a ShardKVError, but the call succeeded')
}

async function messageOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    return (error as Error).message
  }
  throw new Error('expected an error, but the call succeeded')
}

t.test('createCluster checks every option, naming it and what it accepts', async (t) => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ shards: 0 }, /shards must be an integer in 1\.\.4096, got 0/],
    [{ shards: 4097 }, /shards must be an integer in 1\.\.4096/],
    [{ shards: 1.5 }, /shards/],
    [{ shards: '64' }, /shards .* got "64"/],
    [{ groups: -1 }, /groups must be an integer in 0\.\.64/],
    [{ replicas: 2 }, /replicas must be an odd integer in 1\.\.7/],
    [{ masters: 9 }, /masters must be an odd integer in 1\.\.7/],
    [{ maxKeyBytes: 0 }, /maxKeyBytes must be an integer in 1\.\./],
    [{ maxValueBytes: 1e12 }, /maxValueBytes must be an integer in 1\.\./],
    [{ opTimeoutMs: 0 }, /opTimeoutMs must be an integer in 1\.\./],
    [{ shard: 64 }, /unknown option "shard"; known options: shards, groups, replicas, masters, maxKeyBytes, maxValueBytes, opTimeoutMs/],
  ]
  for (const [options, message] of bad) {
    const error = await createCluster(options).then(
      () => undefined,
      (rejected: unknown) => rejected,
    )
    t.ok(error instanceof ShardKVError && error.code === 'ERR_INVALID_OPTION', `${JSON.stringify(options)} is ERR_INVALID_OPTION`)
    t.match((error as Error).message, message)
  }
  for (const options of [5, 'x', [], null]) {
    t.equal(await codeOf(createCluster(options as never)), 'ERR_INVALID_OPTION', `${JSON.stringify(options)} as options`)
  }
})

t.test('a client puts, gets, appends and deletes, each value coming back in the type it was stored', async (t) => {
  const cluster = await startCluster(t)
  const kv = cluster.client()
  t.equal(await kv.get('absent'), undefined)
  await kv.put('greeting', 'hello')
  t.equal(await kv.get('greeting'), 'hello')
  await kv.append('greeting', ', world')
  t.equal(await kv.get('greeting'), 'hello, world')
  await kv.put('bytes', new Uint8Array([1, 2, 3]))
  await kv.append('bytes', Buffer.from([4]))
  const bytes = await kv.get('bytes')
  t.ok(bytes instanceof Uint8Array && !Buffer.isBuffer(bytes), 'bytes come back as a plain Uint8Array')
  t.same(bytes, new Uint8Array([1, 2, 3, 4]))
  await kv.append('created', 'by append')
  t.equal(await kv.get('created'), 'by append', 'append creates an absent key')
  await kv.put('empty', '')
  t.equal(await kv.get('empty'), '', 'an empty string is a value, not absence')
  t.equal(await kv.delete('greeting'), true)
  t.equal(await kv.delete('greeting'), false, 'already gone')
  t.equal(await kv.get('greeting'), undefined)
  t.equal(await kv.get('emoji 🎉 ключ'), undefined, 'any non-empty string is a key')
  await kv.put('emoji 🎉 ключ', 'значение 🎉')
  t.equal(await kv.get('emoji 🎉 ключ'), 'значение 🎉')
})

t.test('bad keys and values are refused with their code, and the client and the cluster keep working', async (t) => {
  const cluster = await startCluster(t, { maxKeyBytes: 8, maxValueBytes: 16 })
  const kv = cluster.client()
  const other = cluster.client()
  await kv.put('k', 'v')
  t.equal(await codeOf(kv.put(42 as never, 'v')), 'ERR_INVALID_KEY')
  t.equal(await codeOf(kv.get(undefined as never)), 'ERR_INVALID_KEY')
  t.equal(await codeOf(kv.delete('')), 'ERR_INVALID_KEY')
  t.equal(await codeOf(kv.get('123456789')), 'ERR_KEY_TOO_LARGE')
  t.equal(await codeOf(kv.append('ключ1', 'v')), 'ERR_KEY_TOO_LARGE', '9 UTF-8 bytes in 5 characters')
  t.equal(await codeOf(kv.put('k', 12 as never)), 'ERR_INVALID_VALUE')
  t.equal(await codeOf(kv.put('k', undefined as never)), 'ERR_INVALID_VALUE')
  t.equal(await codeOf(kv.put('k', new Uint16Array(2) as never)), 'ERR_INVALID_VALUE')
  t.equal(await codeOf(kv.put('k', 'lone \ud800')), 'ERR_INVALID_VALUE')
  t.equal(await codeOf(kv.put('k', 'x'.repeat(17))), 'ERR_VALUE_TOO_LARGE')
  t.equal(await codeOf(kv.append('k', new Uint8Array(17))), 'ERR_VALUE_TOO_LARGE')
  t.equal(await codeOf(() => cluster.shardOf(7 as never)), 'ERR_INVALID_KEY')
  t.equal(await kv.get('k'), 'v', 'nothing changed')
  await other.put('k2', 'still fine')
  t.equal(await kv.get('k2'), 'still fine')
})

t.test('append must match the stored type; past maxValueBytes it is refused; neither changes the value', async (t) => {
  const cluster = await startCluster(t, { maxValueBytes: 16 })
  const kv = cluster.client()
  await kv.put('text', 'abc')
  await kv.put('bytes', new Uint8Array([1]))
  t.equal(await codeOf(kv.append('text', new Uint8Array([1]))), 'ERR_TYPE_MISMATCH')
  t.equal(await codeOf(kv.append('bytes', 'x')), 'ERR_TYPE_MISMATCH')
  t.equal(await codeOf(kv.append('text', 'x'.repeat(14))), 'ERR_VALUE_TOO_LARGE', '3 + 14 bytes > 16')
  await kv.append('text', 'x'.repeat(13))
  t.equal(await kv.get('text'), `abc${'x'.repeat(13)}`, 'exactly maxValueBytes fits')
  t.same(await kv.get('bytes'), new Uint8Array([1]))
})

t.test('cluster admin calls check their arguments', async (t) => {
  const cluster = await startCluster(t, { shards: 8, groups: 2 })
  t.equal(await codeOf(cluster.leave(99)), 'ERR_UNKNOWN_GROUP')
  t.equal(await codeOf(cluster.leave('1' as never)), 'ERR_UNKNOWN_GROUP')
  t.equal(await codeOf(cluster.move(0, 99)), 'ERR_UNKNOWN_GROUP')
  for (const shard of [-1, 8, 1.5, Number.NaN, '0']) {
    t.equal(await codeOf(cluster.move(shard as never, 1)), 'ERR_INVALID_SHARD', `shard ${String(shard)}`)
  }
  t.match(await messageOf(cluster.move(8, 1)), /shard must be an integer in 0\.\.7, got 8/)
  t.equal(await codeOf(cluster.join({ replicas: 2 })), 'ERR_INVALID_OPTION')
  t.equal(await codeOf(cluster.join({ replica: 1 } as never)), 'ERR_INVALID_OPTION')
  t.equal(await codeOf(cluster.query(1.5)), 'ERR_INVALID_OPTION')
  t.equal(await codeOf(() => cluster.on('configs' as never, (() => {}) as never)), 'ERR_INVALID_OPTION')
  t.same((await cluster.query()).groups, { 1: ['g1-n1'], 2: ['g2-n1'] }, 'no bad call changed the configuration')
})

t.test('query returns numbered configurations: none or negative is the latest', async (t) => {
  const cluster = await startCluster(t, { shards: 6, groups: 2 })
  const latest = await cluster.query()
  t.equal(latest.num, 2, 'one configuration per join')
  t.same(latest.shards, [1, 1, 1, 2, 2, 2])
  t.same(latest.groups, { 1: ['g1-n1'], 2: ['g2-n1'] })
  t.same(await cluster.query(-1), latest)
  t.same(await cluster.query(0), { num: 0, shards: [0, 0, 0, 0, 0, 0], groups: {} })
  t.same((await cluster.query(1)).shards, [1, 1, 1, 1, 1, 1])
  t.same(await cluster.query(100), latest, 'beyond the latest is the latest')
})

t.test('shardOf is the FNV-1a hash of the key mod the shard count', async (t) => {
  const cluster = await startCluster(t, { shards: 10, groups: 1 })
  for (const key of ['a', 'hello', 'ключ', '🎉']) t.equal(cluster.shardOf(key), hashKey(key) % 10, key)
})

t.test('events: config after join, leave and move; leader when a group starts; restart when an actor is killed', async (t) => {
  const cluster = await startCluster(t, { shards: 4, groups: 1 })
  const configs: ClusterConfig[] = []
  const leaders: LeaderEvent[] = []
  cluster.on('config', (config) => configs.push(config))
  cluster.on('leader', (event) => leaders.push(event))
  const gid = await cluster.join()
  t.equal(gid, 2)
  await cluster.move(0, gid)
  await cluster.leave(1)
  t.same(configs.map((config) => config.num), [2, 3, 4])
  t.same(configs.at(-1)!.shards, [2, 2, 2, 2])
  t.same(leaders, [{ group: 2, leader: 'g2-n1' }])

  const restarted = new Promise<RestartEvent>((resolve) => cluster.on('restart', resolve))
  await cluster.faults.kill('master-1')
  t.equal((await restarted).id, 'master-1')
  const master = cluster.actors().find((actor) => actor.id === 'master-1')!
  t.equal(master.restarts, 1)
})

t.test('actors() lists the master and the storage nodes with their group, role and restarts', async (t) => {
  const cluster = await startCluster(t, { shards: 4, groups: 2 })
  t.same(cluster.actors(), [
    { id: 'master-1', kind: 'master', role: 'leader', restarts: 0 },
    { id: 'g1-n1', kind: 'storage', gid: 1, role: 'leader', restarts: 0 },
    { id: 'g2-n1', kind: 'storage', gid: 2, role: 'leader', restarts: 0 },
  ])
  await cluster.leave(1)
  t.same(
    cluster.actors().map((actor) => actor.id),
    ['master-1', 'g2-n1'],
    'a group that left has stopped',
  )
})

t.test('stats count actors, configurations and client operations', async (t) => {
  const cluster = await startCluster(t, { shards: 4, groups: 2 })
  const kv = cluster.client()
  for (let i = 0; i < 10; i++) await kv.put(`k${i}`, 'v')
  const stats = await cluster.stats()
  t.equal(stats.configNum, 2)
  t.equal(stats.groups, 2)
  t.equal(stats.actors.length, 3)
  t.equal(stats.clients.count, 1)
  t.equal(stats.clients.ops, 10)
  t.equal(stats.clients.outstanding, 0)
  t.equal(stats.restarts, 0)
})

t.test('with groups: 0 every shard is unassigned: operations time out until a group joins', async (t) => {
  const cluster = await startCluster(t, { shards: 4, groups: 0, opTimeoutMs: 300 })
  const kv = cluster.client()
  t.same((await cluster.query()).shards, [0, 0, 0, 0])
  t.equal(await codeOf(kv.put('k', 'v')), 'ERR_TIMEOUT')
  await cluster.join()
  await kv.put('k', 'v')
  t.equal(await kv.get('k'), 'v')
})

t.test('the last group may leave: its shards become unassigned and its data is gone', async (t) => {
  const cluster = await startCluster(t, { shards: 4, groups: 1, opTimeoutMs: 2000 })
  const kv = cluster.client()
  await kv.put('k', 'v')
  await cluster.leave(1)
  t.same((await cluster.query()).shards, [0, 0, 0, 0])
  t.same(cluster.actors().map((actor) => actor.kind), ['master'])
  await cluster.join()
  t.equal(await kv.get('k'), undefined, 'an unassigned shard starts empty, as in 6.824')
})

t.test(`more than ${MAX_OUTSTANDING_OPS} operations in flight on one client: the extra ones are ERR_OVERLOADED, the rest succeed`, async (t) => {
  const cluster = await startCluster(t, { shards: 4, groups: 1 })
  const kv = cluster.client()
  const results = await Promise.allSettled(Array.from({ length: MAX_OUTSTANDING_OPS + 10 }, (_, i) => kv.put(`k${i}`, 'v')))
  const overloaded = results.filter((result) => result.status === 'rejected' && (result.reason as ShardKVError).code === 'ERR_OVERLOADED')
  t.equal(overloaded.length, 10)
  t.equal(results.filter((result) => result.status === 'fulfilled').length, MAX_OUTSTANDING_OPS)
  await kv.put('after', 'fine')
  t.equal(await kv.get('after'), 'fine')
})

t.test('after ERR_TIMEOUT, calling the same append again applies it exactly once', async (t) => {
  const cluster = await startCluster(t, { shards: 1, groups: 1, opTimeoutMs: 400 })
  const kv = cluster.client()
  await kv.put('log', 'a')
  // The node reads nothing for a while: the append waits in its mailbox, is applied later, and its reply comes too late.
  cluster.faults.pause('g1-n1', 1500)
  t.equal(await codeOf(kv.append('log', 'b')), 'ERR_TIMEOUT')
  let appended = false
  for (let attempt = 0; attempt < 20 && !appended; attempt++) {
    appended = await kv.append('log', 'b').then(
      () => true,
      (error: ShardKVError) => {
        if (error.code !== 'ERR_TIMEOUT') throw error
        return false
      },
    )
  }
  t.ok(appended, 'the retry succeeded')
  t.equal(await kv.get('log'), 'ab', 'applied once, not twice')
  await kv.append('log', 'b')
  t.equal(await kv.get('log'), 'abb', 'a later identical call is a new append')
})

t.test('close fails operations in flight and later ones with ERR_CLOSED; close twice is fine', async (t) => {
  const cluster = await createCluster({ shards: 4, groups: 1 })
  const kv = cluster.client()
  await kv.put('k', 'v')
  // Every node of the group, whichever leads: nobody can answer until the close.
  // (A write: a get may still be answered from the paused leader's read view while its lease lasts.)
  for (const actor of cluster.actors()) if (actor.gid === 1) cluster.faults.pause(actor.id, 2000)
  const pending = codeOf(kv.put('k', 'w'))
  await new Promise((resolve) => setTimeout(resolve, 20))
  await cluster.close()
  t.equal(await pending, 'ERR_CLOSED', 'in flight at close')
  t.equal(await codeOf(kv.get('k')), 'ERR_CLOSED', 'after close')
  t.equal(await codeOf(() => cluster.client()), 'ERR_CLOSED')
  t.equal(await codeOf(cluster.join()), 'ERR_CLOSED')
  t.equal(await codeOf(cluster.leave(1)), 'ERR_CLOSED')
  t.equal(await codeOf(cluster.move(0, 1)), 'ERR_CLOSED')
  t.equal(await codeOf(cluster.stats()), 'ERR_CLOSED')
  t.equal(await codeOf(cluster.query()), 'ERR_CLOSED')
  t.equal(await codeOf(() => cluster.endpoint()), 'ERR_CLOSED')
  await cluster.close()
})

t.test('a client closed by its owner fails its operations with ERR_CLOSED; other clients carry on', async (t) => {
  const cluster = await startCluster(t, { shards: 4, groups: 1 })
  const kv = cluster.client()
  const other = cluster.client()
  await kv.put('k', 'v')
  kv.close()
  t.equal(await codeOf(kv.get('k')), 'ERR_CLOSED')
  t.equal(await other.get('k'), 'v')
  t.equal((await cluster.stats()).clients.count, 1, 'a closed client is no longer counted')
})
