// Many clients append to the same keys, several appends in flight each,
// while groups join and leave and shards move: at the end every append that
// succeeded is in its key's value exactly once, and each writer's appends
// to a key are in the order it made them.
import t, { type Test } from 'tap'
import type { KvClient } from '../../src/client/kv-client.js'
import { startCluster, untilDone } from '../support/cluster.js'

const SHARDS = 8
const KEYS = Array.from({ length: 6 }, (_, index) => `shared-${index}`)
const CLIENTS = 4
const LANES_PER_CLIENT = 4

interface Appended {
  /** key -> tokens, per writer lane in the order that lane appended them. */
  readonly byLane: Map<string, Map<string, string[]>>
}

/** One lane: appends `c<client>l<lane>n<n>;` to the shared keys in turn (starting at `offset`), one at a time, until told to stop. */
async function appendLane(kv: KvClient, lane: string, offset: number, appended: Appended, running: () => boolean): Promise<void> {
  for (let n = 0; running(); n++) {
    const key = KEYS[(n + offset) % KEYS.length]!
    const token = `${lane}n${n};`
    await untilDone(() => kv.append(key, token))
    const lanes = appended.byLane.get(key) ?? new Map<string, string[]>()
    appended.byLane.set(key, lanes)
    lanes.set(lane, [...(lanes.get(lane) ?? []), token])
  }
}

t.test('concurrent appends to shared keys across joins, leaves and moves: none lost, none doubled, each writer in order', async (t) => {
  const cluster = await startCluster(t, { shards: SHARDS, groups: 2 })
  const appended: Appended = { byLane: new Map() }
  let running = true
  const lanes: Promise<void>[] = []
  for (let client = 0; client < CLIENTS; client++) {
    const kv = cluster.client()
    for (let lane = 0; lane < LANES_PER_CLIENT; lane++) lanes.push(appendLane(kv, `c${client}l${lane}`, client + lane, appended, () => running))
  }
  const allLanes = Promise.all(lanes)
  t.teardown(async () => {
    running = false
    await allLanes.catch(() => {})
  })

  const gidA = await cluster.join()
  const gidB = await cluster.join()
  for (let shard = 0; shard < SHARDS; shard += 2) await cluster.move(shard, shard % 4 === 0 ? gidA : gidB)
  await cluster.leave(1)
  await cluster.join()
  await cluster.leave(2)
  for (let shard = 1; shard < SHARDS; shard += 2) await cluster.move(shard, gidA)
  running = false
  await allLanes

  await checkAppends(t, cluster.client(), appended)
})

/** Every successful append is in its key exactly once, and each lane's appends are in the lane's order. */
async function checkAppends(t: Test, kv: KvClient, appended: Appended): Promise<void> {
  let total = 0
  for (const key of KEYS) {
    const value = (await kv.get(key)) ?? ''
    t.type(value, 'string')
    const tokens = (value as string).split(';').filter((token) => token.length > 0).map((token) => `${token};`)
    const expected = [...(appended.byLane.get(key)?.values() ?? [])].flat()
    t.same([...tokens].sort(), [...expected].sort(), `${key}: every successful append exactly once`)
    t.equal(new Set(tokens).size, tokens.length, `${key}: no token twice`)
    for (const [lane, laneTokens] of appended.byLane.get(key) ?? []) {
      t.same(tokens.filter((token) => token.startsWith(`${lane}n`)), laneTokens, `${key}: lane ${lane} in order`)
    }
    total += expected.length
  }
  t.ok(total > 0, `${total} appends checked`)
}

t.test('appends over a network that drops, duplicates and delays messages, across a join and a move: each applied exactly once', async (t) => {
  const cluster = await startCluster(t, { shards: SHARDS, groups: 2 })
  const appended: Appended = { byLane: new Map() }
  let running = true
  const kv = cluster.client()
  await kv.put('warm-up', 'x')
  cluster.faults.unreliable({ drop: 0.1, duplicate: 0.1, delayMs: 5 })
  const lanes = Promise.all(Array.from({ length: 4 }, (_, lane) => appendLane(kv, `c0l${lane}`, lane, appended, () => running)))
  t.teardown(async () => {
    running = false
    await lanes.catch(() => {})
  })
  const gid = await cluster.join()
  for (let shard = 0; shard < SHARDS; shard += 3) await cluster.move(shard, gid)
  await new Promise((resolve) => setTimeout(resolve, 500))
  running = false
  await lanes
  cluster.faults.reliable()
  await checkAppends(t, kv, appended)
  const stats = (await cluster.stats()).actors
  t.ok(stats.some((actor) => actor.dropped > 0) && stats.some((actor) => actor.duplicated > 0), 'the network did drop and duplicate')
})
