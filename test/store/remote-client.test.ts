import t, { type Test } from 'tap'
import { Worker } from 'node:worker_threads'
import { connect, ShardKVError, type Cluster } from '../../src/index.js'
import type { RemoteCommand, RemoteResult } from './fixtures/remote-client.js'
import { startCluster } from '../support/cluster.js'

type Command = RemoteCommand extends infer C ? (C extends RemoteCommand ? Omit<C, 'id'> : never) : never

interface Remote {
  run(command: Command): Promise<RemoteResult>
  readonly worker: Worker
}

/** A worker thread running a client connected with `cluster.endpoint()`. */
async function startRemote(t: Test, cluster: Cluster): Promise<Remote> {
  const worker = new Worker(new URL('./fixtures/remote-client.js', import.meta.url), { workerData: cluster.endpoint(), execArgv: [] })
  t.teardown(() => worker.terminate())
  const ready: unknown = await new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  if (ready !== 'ready') throw new Error(`the remote client did not connect: ${JSON.stringify(ready)}`)
  const waiting = new Map<number, (result: RemoteResult) => void>()
  worker.on('message', (result: RemoteResult) => waiting.get(result.id)?.(result))
  let nextId = 1
  return {
    worker,
    run: (command) =>
      new Promise<RemoteResult>((resolve, reject) => {
        const id = nextId++
        const timer = setTimeout(() => reject(new Error(`the remote client did not answer ${command.op} within 30 s`)), 30_000)
        waiting.set(id, (result) => {
          clearTimeout(timer)
          waiting.delete(id)
          resolve(result)
        })
        worker.postMessage({ ...command, id })
      }),
  }
}

t.test('a client in another worker thread, from connect(cluster.endpoint()), shares the data and its types', async (t) => {
  const cluster = await startCluster(t, { shards: 8, groups: 2 })
  const remote = await startRemote(t, cluster)
  const kv = cluster.client()

  t.same(await remote.run({ op: 'put', key: 'from-remote', value: 'text' }), { id: 1 })
  await remote.run({ op: 'put', key: 'bytes-from-remote', value: new Uint8Array([9, 8, 7]) })
  t.equal(await kv.get('from-remote'), 'text')
  t.same(await kv.get('bytes-from-remote'), new Uint8Array([9, 8, 7]))

  await kv.put('from-main', new Uint8Array([1, 2]))
  await kv.put('text-from-main', 'hello')
  const bytes = await remote.run({ op: 'get', key: 'from-main' })
  t.ok(bytes.value instanceof Uint8Array, 'bytes stay bytes across threads')
  t.same(bytes.value, new Uint8Array([1, 2]))
  t.equal((await remote.run({ op: 'get', key: 'text-from-main' })).value, 'hello')
  t.equal((await remote.run({ op: 'append', key: 'text-from-main', value: new Uint8Array([1]) })).code, 'ERR_TYPE_MISMATCH')
  t.equal((await remote.run({ op: 'put', key: '', value: 'x' })).code, 'ERR_INVALID_KEY')
  t.equal((await remote.run({ op: 'delete', key: 'from-main' })).value, true)
  t.equal(await kv.get('from-main'), undefined)
})

t.test('a remote client keeps working across a join and a leave (it learns of new groups)', async (t) => {
  const cluster = await startCluster(t, { shards: 8, groups: 1 })
  const remote = await startRemote(t, cluster)
  const kv = cluster.client()
  let expected = ''
  for (let round = 0; round < 3; round++) {
    const token = `${round};`
    t.same((await remote.run({ op: 'append', key: 'log', value: token })).code, undefined)
    expected += token
    if (round === 0) await cluster.join()
    if (round === 1) await cluster.leave(1)
  }
  t.equal(await kv.get('log'), expected)
  t.equal((await remote.run({ op: 'get', key: 'log' })).value, expected)
})

t.test('closing the cluster fails a remote client\'s later operations with ERR_CLOSED', async (t) => {
  const cluster = await startCluster(t, { shards: 4, groups: 1 })
  const remote = await startRemote(t, cluster)
  await remote.run({ op: 'put', key: 'k', value: 'v' })
  await cluster.close()
  let code: string | undefined
  // The close reaches the other thread asynchronously: within a few tries it must be ERR_CLOSED, never a hang.
  for (let attempt = 0; attempt < 50 && code !== 'ERR_CLOSED'; attempt++) {
    code = (await remote.run({ op: 'get', key: 'k' })).code
    if (code !== 'ERR_CLOSED') await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.equal(code, 'ERR_CLOSED')
})

t.test('connect refuses what is not an endpoint descriptor, and a descriptor used twice', async (t) => {
  const cluster = await startCluster(t, { shards: 4, groups: 1 })
  for (const bad of [undefined, {}, { kind: 'x' }, 'endpoint']) {
    const error = await connect(bad as never).catch((rejected: unknown) => rejected)
    t.ok(error instanceof ShardKVError && error.code === 'ERR_INVALID_OPTION', `${JSON.stringify(bad)} is refused`)
  }
  const descriptor = cluster.endpoint()
  const first = await connect(descriptor)
  t.teardown(() => first.close())
  const error = await connect(descriptor).catch((rejected: unknown) => rejected)
  t.ok(error instanceof ShardKVError && error.code === 'ERR_INVALID_OPTION', 'one descriptor per thread')
  await first.put('k', 'v')
  t.equal(await first.get('k'), 'v', 'connect works on the main thread too')
})
