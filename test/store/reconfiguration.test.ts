// 6.824-style scenarios: the data survives every join, leave and move,
// with clients writing all the while.
import t, { type Test } from 'tap'
import { keysForEveryShard, mismatches, Model, startCluster, startLoad, whileLoadRuns, type Load } from '../support/cluster.js'
import type { Cluster } from '../../src/cluster.js'
import type { KvClient } from '../../src/client/kv-client.js'

const SHARDS = 16

t.test('basic: put, get, append and delete on keys of every shard', async (t) => {
  const cluster = await startCluster(t, { shards: SHARDS, groups: 3 })
  const kv = cluster.client()
  const keys = keysForEveryShard(cluster, SHARDS, 2)
  const model = new Model()
  await Promise.all(keys.map((key) => kv.put(key, `${key}=`).then(() => model.put(key, `${key}=`))))
  for (let round = 0; round < 3; round++) {
    await Promise.all(keys.map((key) => kv.append(key, `${round};`).then(() => model.append(key, `${round};`))))
  }
  const deleted = keys.filter((_, index) => index % 5 === 0)
  for (const key of deleted) {
    t.equal(await kv.delete(key), true)
    model.delete(key)
  }
  t.same(await mismatches(kv, model), [], 'every key reads back exactly')
  t.same(new Set((await cluster.query()).shards), new Set([1, 2, 3]), 'all three groups hold shards')
})

/** Pauses the load, checks every key (the load's and the fixed ones), and resumes. */
async function checkStep(t: Test, step: string, kv: KvClient, load: Load, model: Model): Promise<void> {
  await load.pause()
  t.same(await mismatches(kv, model), [], `after ${step}: every key reads back exactly`)
  load.resume()
}

async function settleAndCheck(t: Test, cluster: Cluster, step: string, kv: KvClient, load: Load, model: Model): Promise<void> {
  await whileLoadRuns(load)
  await checkStep(t, step, kv, load, model)
  t.ok(cluster.actors().every((actor) => actor.role === 'leader'), 'every actor runs')
}

t.test('groups join one by one under load, leave one by one, then every shard moves: no write is lost or doubled', async (t) => {
  const cluster = await startCluster(t, { shards: SHARDS, groups: 1 })
  const checker = cluster.client()
  const model = new Model()
  const fixedKeys = keysForEveryShard(cluster, SHARDS, 1, 'fixed')
  for (const key of fixedKeys) {
    await checker.put(key, key)
    model.put(key, key)
  }
  const load = startLoad([cluster.client(), cluster.client(), cluster.client()], model)
  t.teardown(() => load.stop())
  await settleAndCheck(t, cluster, 'the start', checker, load, model)

  for (let joins = 0; joins < 3; joins++) {
    const gid = await cluster.join()
    await settleAndCheck(t, cluster, `join of group ${gid}`, checker, load, model)
  }
  t.same(Object.keys((await cluster.query()).groups).map(Number), [1, 2, 3, 4])

  for (const gid of [1, 2]) {
    await cluster.leave(gid)
    await settleAndCheck(t, cluster, `leave of group ${gid}`, checker, load, model)
  }
  t.same(Object.keys((await cluster.query()).groups).map(Number), [3, 4])

  const before = (await cluster.query()).shards
  for (let shard = 0; shard < SHARDS; shard++) await cluster.move(shard, before[shard] === 3 ? 4 : 3)
  const after = (await cluster.query()).shards
  t.ok(after.every((gid, shard) => gid !== before[shard]), 'every shard changed group')
  await settleAndCheck(t, cluster, 'moving every shard', checker, load, model)

  await load.stop()
  t.same(await mismatches(checker, model), [], 'at the end: every key reads back exactly')
  t.ok(model.values.size > fixedKeys.length, `the load wrote ${model.values.size - fixedKeys.length} keys`)
})
