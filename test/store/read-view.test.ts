/**
 * Gets answered from a leader's read view in the client's thread, on a real
 * cluster: they return what was written, in its type; they fall back to
 * asking the leader when the view cannot answer; and a view frozen with a
 * lease (a paused leader, a leader cut off) is never read once another
 * leader could have committed, so a write acknowledged by the new leader is
 * always seen.
 */
import t from 'tap'
import { Endpoint } from '../../src/runtime/endpoint.js'
import { MAX_CACHED_VALUE_BYTES, sharedClockMs } from '../../src/runtime/read-view.js'
import { awaitLeader, keysForEveryShard, membersOf, sameBytes, startCluster, until } from '../support/cluster.js'

const SHARDS = 8

type Client = ReturnType<Awaited<ReturnType<typeof startCluster>>['client']>

/** Waits (bounded) until a get of every key is answered from a view: a leader holds a lease once it has heard its followers. */
async function awaitViewReads(kv: Client, keys: readonly string[], timeoutMs = 20_000): Promise<void> {
  const startMs = Date.now()
  for (;;) {
    const before = kv.stats().viewReads
    for (const key of keys) await kv.get(key)
    if (kv.stats().viewReads - before === keys.length) return
    if (Date.now() - startMs > timeoutMs) throw new Error(`gets were not answered from read views within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

t.test('gets read the view: every type, absent, deleted, appended; too large a value falls back', async (t) => {
  const cluster = await startCluster(t, { shards: SHARDS, groups: 2, replicas: 3, masters: 1 })
  const kv = cluster.client()
  const keys = keysForEveryShard(cluster, SHARDS, 2, 'view')
  const bytes = Uint8Array.from([0, 1, 2, 250, 255])
  for (const [index, key] of keys.entries()) {
    await (index % 2 === 0 ? kv.put(key, `välue-${index}-✓`) : kv.put(key, bytes))
  }
  await kv.append(keys[0]!, '+more')
  await kv.delete(keys[2]!)
  await awaitViewReads(kv, keys)
  const viewReadsBefore = kv.stats().viewReads
  for (const [index, key] of keys.entries()) {
    const value = await kv.get(key)
    if (index === 0) t.equal(value, `välue-0-✓+more`, 'an appended string')
    else if (index === 2) t.equal(value, undefined, 'a deleted key')
    else if (index % 2 === 0) t.equal(value, `välue-${index}-✓`, `string ${key}`)
    else t.ok(sameBytes(value, bytes), `bytes ${key} come back as bytes`)
  }
  t.equal(await kv.get('never-written'), undefined, 'an absent key')
  t.ok(kv.stats().viewReads - viewReadsBefore >= keys.length, 'every one of those gets was answered from a view')

  const large = 'x'.repeat(MAX_CACHED_VALUE_BYTES + 1)
  await kv.put(keys[3]!, large)
  const viewReads = kv.stats().viewReads
  t.equal(await kv.get(keys[3]!), large, 'a value too large for the view reads back')
  t.equal(kv.stats().viewReads, viewReads, 'and was asked of the leader')
  const other = cluster.client()
  await kv.put(keys[3]!, 'small again')
  t.equal(await other.get(keys[3]!), 'small again', 'overwritten with a small value, another client sees it')
})

/** Writes `key` through the group's current leader until it is acknowledged. */
async function putUntilDone(kv: Client, key: string, value: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await kv.put(key, value)
      return
    } catch (error) {
      if (attempt >= 5) throw error
    }
  }
}

for (const fault of ['pause', 'partition'] as const) {
  t.test(`a leader's view is not read once another leader took over (${fault})`, async (t) => {
    const cluster = await startCluster(t, { shards: SHARDS, groups: 1, replicas: 3, masters: 1 })
    const kv = cluster.client()
    const key = 'frozen'
    await kv.put(key, 'old')
    await awaitViewReads(kv, [key])
    t.equal(await kv.get(key), 'old')
    const leader = await awaitLeader(cluster, 1)
    const others = membersOf(cluster, 1).filter((id) => id !== leader)
    // The old leader's thread stops (pause) or hears nobody (partition): its view keeps its last lease.
    if (fault === 'pause') cluster.faults.pause(leader, 4000)
    else cluster.faults.partition([[leader], others])
    const successor = await awaitLeader(cluster, 1, leader)
    t.ok(others.includes(successor), `${successor} took over from ${leader}`)
    await putUntilDone(kv, key, 'new')
    // The old leader's view, read directly: it must not answer once the new leader acknowledged a write.
    const endpoint = Endpoint.connect(cluster.endpoint().endpoint)
    t.teardown(() => endpoint.close())
    await until(() => endpoint.readView(leader) !== undefined)
    t.notOk(endpoint.readView(leader)!.serves(cluster.shardOf(key), sharedClockMs()), `${leader}'s view no longer serves the shard`)
    // Every reader, old or new, must now see the write the new leader acknowledged.
    for (const reader of [kv, cluster.client()]) t.equal(await reader.get(key), 'new', 'the new value, not the frozen view')
    await awaitViewReads(kv, [key])
    t.equal(await kv.get(key), 'new', 'and from the new leader\'s view once it holds a lease')
    if (fault === 'partition') cluster.faults.heal()
  })
}

t.test('a moved shard is read from its new owner, never from the old owner\'s view', async (t) => {
  const cluster = await startCluster(t, { shards: SHARDS, groups: 2, replicas: 3, masters: 1 })
  const kv = cluster.client()
  const keys = keysForEveryShard(cluster, SHARDS, 1, 'move')
  for (const key of keys) await kv.put(key, 'before')
  await awaitViewReads(kv, keys)
  for (const key of keys) t.equal(await kv.get(key), 'before')
  const config = await cluster.query()
  for (let shard = 0; shard < SHARDS; shard++) {
    const to = config.shards[shard] === 1 ? 2 : 1
    await cluster.move(shard, to)
  }
  // A second client, which routes by the new configuration: its writes go to the new owners.
  const writer = cluster.client()
  for (const key of keys) await writer.put(key, 'after')
  for (const key of keys) t.equal(await kv.get(key), 'after', `${key}: the old owner's view no longer answers`)
})
