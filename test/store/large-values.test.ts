import t from 'tap'
import { ShardKVError } from '../../src/index.js'
import { sameBytes, startCluster } from '../support/cluster.js'

const MIB = 1024 * 1024

function pattern(bytes: number, seed: number): Uint8Array {
  return new Uint8Array(bytes).map((_, index) => (index * 31 + seed) & 0xff)
}

t.test('values up to maxValueBytes (default 1 MiB) are stored and read back whole, as bytes and as strings', async (t) => {
  const cluster = await startCluster(t, { shards: 4, groups: 2 })
  const kv = cluster.client()
  const bytes = pattern(MIB, 7)
  await kv.put('big-bytes', bytes)
  t.ok(sameBytes(await kv.get('big-bytes'), bytes), '1 MiB of bytes')

  const ascii = 'a'.repeat(MIB)
  await kv.put('big-ascii', ascii)
  t.equal(await kv.get('big-ascii'), ascii, '1 MiB ASCII string')

  const multibyte = '€'.repeat(Math.floor(MIB / 3))
  await kv.put('big-euro', multibyte)
  t.equal(await kv.get('big-euro'), multibyte, 'a string of 3-byte characters just under the limit')

  const error = await kv.put('too-big', new Uint8Array(MIB + 1)).catch((rejected: unknown) => rejected)
  t.ok(error instanceof ShardKVError && error.code === 'ERR_VALUE_TOO_LARGE', 'one byte more is refused')
  const tooManyUtf8 = await kv.put('too-big', '€'.repeat(Math.floor(MIB / 3) + 1)).catch((rejected: unknown) => rejected)
  t.ok(tooManyUtf8 instanceof ShardKVError && tooManyUtf8.code === 'ERR_VALUE_TOO_LARGE', 'strings count UTF-8 bytes')
})

t.test('appends grow a value to exactly maxValueBytes, and large values survive a shard move', async (t) => {
  const cluster = await startCluster(t, { shards: 2, groups: 2 })
  const kv = cluster.client()
  const half = pattern(MIB / 2, 1)
  await kv.put('grown', half)
  await kv.append('grown', half)
  const whole = new Uint8Array(MIB)
  whole.set(half)
  whole.set(half, MIB / 2)
  t.ok(sameBytes(await kv.get('grown'), whole), 'two halves make exactly maxValueBytes')
  const overflow = await kv.append('grown', new Uint8Array(1)).catch((rejected: unknown) => rejected)
  t.ok(overflow instanceof ShardKVError && overflow.code === 'ERR_VALUE_TOO_LARGE', 'the node refuses an append past the limit')

  const others = Array.from({ length: 4 }, (_, index) => pattern(MIB, index))
  await Promise.all(others.map((value, index) => kv.put(`moving-${index}`, value)))
  const shard = cluster.shardOf('grown')
  const owner = (await cluster.query()).shards[shard]!
  await cluster.move(shard, owner === 1 ? 2 : 1)
  t.ok(sameBytes(await kv.get('grown'), whole), 'moved with its shard')
  for (const [index, value] of others.entries()) t.ok(sameBytes(await kv.get(`moving-${index}`), value), `moving-${index}`)
})

t.test('a cluster with a larger maxValueBytes carries values of that size', async (t) => {
  const cluster = await startCluster(t, { shards: 1, groups: 1, maxValueBytes: 4 * MIB })
  const kv = cluster.client()
  const value = pattern(4 * MIB, 3)
  await kv.put('huge', value)
  t.ok(sameBytes(await kv.get('huge'), value))
})

t.test('a shard larger than the default outbox bound (24 MiB) is handed off whole when its group leaves', async (t) => {
  const cluster = await startCluster(t, { shards: 4, groups: 2 })
  const kv = cluster.client()
  const keys: string[] = []
  for (let index = 0; keys.length < 24; index++) {
    if (cluster.shardOf(`heavy-${index}`) === 0) keys.push(`heavy-${index}`)
  }
  for (const [seed, key] of keys.entries()) await kv.put(key, pattern(MIB, seed))
  const owner = (await cluster.query()).shards[0]!
  await cluster.leave(owner)
  t.not((await cluster.query()).shards[0], owner, 'shard 0 has a new owner')
  for (const [seed, key] of keys.entries()) t.ok(sameBytes(await kv.get(key), pattern(MIB, seed)), `${key} moved intact`)
})
