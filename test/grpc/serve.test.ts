import t, { type Test } from 'tap'
import { Metadata } from '@grpc/grpc-js'
import { connectGrpc, type GrpcClient } from '../../src/grpc/client.js'
import { pipelineMethod, unaryMethod } from '../../src/grpc/proto.js'
import { ERROR_CODE_KEY, Status } from '../../src/grpc/status.js'
import { MAX_BATCH_MESSAGES, unbatch } from '../../src/grpc/pipeline-batch.js'
import type { PipelineRequest, PipelineResponse } from '../../src/grpc/wire.js'
import { rawChannel, rawPipeline, rawUnary, startServer, untilOutstanding, type ServerProcess } from './serve-process.js'

async function client(t: Test, address: string, options: Parameters<typeof connectGrpc>[1] = {}): Promise<GrpcClient> {
  const connected = await connectGrpc(address, options)
  t.teardown(() => connected.close())
  return connected
}

t.test('a served cluster, through the library client', async (t) => {
  const server = await startServer(t, ['--groups', '2', '--max-key-bytes', '64', '--max-value-bytes', '1024', '--max-message-bytes', '65536'])
  const kv = await client(t, server.address)

  t.test('reads and writes keep string vs bytes', async (t) => {
    await kv.put('user:1', 'Ada')
    await kv.append('user:1', ' Lovelace')
    t.equal(await kv.get('user:1'), 'Ada Lovelace')
    await kv.put('avatar:1', new Uint8Array([0x89, 0x50, 0x4e, 0x47]))
    t.same(await kv.get('avatar:1'), new Uint8Array([0x89, 0x50, 0x4e, 0x47]))
    t.equal(await kv.get('nobody'), undefined)
    t.equal(await kv.delete('user:1'), true)
    t.equal(await kv.delete('user:1'), false)
    await kv.put('empty', '')
    t.equal(await kv.get('empty'), '', 'an empty string is a value, not an absence')
  })

  t.test('concurrent clients and pipelines, each appending to its own keys, lose nothing', async (t) => {
    const clients = await Promise.all([0, 1, 2].map(() => client(t, server.address)))
    const pipelines = clients.map((each) => each.pipeline())
    const stores = [...clients, ...pipelines]
    await Promise.all(
      stores.map(async (store, writer) => {
        for (let round = 0; round < 20; round++) {
          await Promise.all([0, 1, 2, 3].map((key) => store.append(`c-${writer}-${key}`, `${round};`)))
        }
      }),
    )
    const expected = Array.from({ length: 20 }, (_, round) => `${round};`).join('')
    for (let writer = 0; writer < stores.length; writer++) {
      for (let key = 0; key < 4; key++) t.equal(await kv.get(`c-${writer}-${key}`), expected, `c-${writer}-${key}`)
    }
  })

  t.test('a pipeline carries many calls at once and answers each by its tag', async (t) => {
    const pipeline = kv.pipeline()
    await Promise.all(Array.from({ length: 500 }, (_, index) => pipeline.put(`p-${index}`, index % 2 === 0 ? `v${index}` : new Uint8Array([index % 256]))))
    const values = await Promise.all(Array.from({ length: 500 }, (_, index) => pipeline.get(`p-${index}`)))
    t.equal(values.filter((value, index) => (index % 2 === 0 ? value === `v${index}` : value instanceof Uint8Array && value[0] === index % 256)).length, 500)
    t.equal(await pipeline.delete('p-0'), true)
    t.equal(pipeline.outstanding, 0)
  })

  t.test('a batched request message gets every answer by its tag, in batched responses', async (t) => {
    const stream = rawPipeline(rawChannel(t, server.address))
    const puts = Array.from({ length: 100 }, (_, index): PipelineRequest => ({ tag: index + 1, put: { key: `b-${index}`, value: { data: Buffer.from(`v${index}`), text: true } } }))
    stream.send({ batch: puts })
    stream.send({ batch: [{ tag: 101, get: { key: 'nobody-b' } }, { tag: 102, get: { key: '' } }] })
    const { messages, status } = await stream.finish()
    t.equal(status, Status.OK)
    const byTag = answersByTag(t, messages)
    t.same([...byTag.keys()].sort((a, b) => a - b), Array.from({ length: 102 }, (_, index) => index + 1), 'each tag answered exactly once')
    t.equal(byTag.get(1)?.result, 'put')
    t.equal(byTag.get(101)?.result, 'get')
    t.equal(byTag.get(102)?.error?.code, 'ERR_INVALID_KEY', 'a failed request in a batch fails alone')
    t.ok(messages.some((message) => (message.batch?.length ?? 0) > 1), 'responses are coalesced')
    // Requests on a stream run concurrently (the proto says so): only acknowledged writes are sure to be seen.
    const reader = rawPipeline(rawChannel(t, server.address))
    reader.send({ batch: [{ tag: 1, get: { key: 'b-7' } }, { tag: 2, get: { key: 'b-99' } }] })
    const read = answersByTag(t, (await reader.finish()).messages)
    t.same([1, 2].map((tag) => read.get(tag)?.get?.value?.data?.toString()), ['v7', 'v99'], 'a batch reads what an acknowledged batch wrote')
  })

  t.test('plain and batched request messages mix on one stream', async (t) => {
    const stream = rawPipeline(rawChannel(t, server.address))
    stream.send({ tag: 1, put: { key: 'mixed', value: { data: Buffer.from('one'), text: true } } })
    stream.send({ batch: [{ tag: 2, get: { key: 'nobody' } }, { tag: 3, delete: { key: 'nobody' } }] })
    stream.send({ tag: 4, get: { key: 'nobody' } })
    stream.send({ batch: [{ tag: 5, append: { key: 'nobody', value: { data: Buffer.from('x'), text: true } } }] })
    const { messages, status } = await stream.finish()
    t.equal(status, Status.OK)
    const byTag = answersByTag(t, messages)
    t.same([...byTag.keys()].sort((a, b) => a - b), [1, 2, 3, 4, 5])
    t.same([1, 2, 3, 4, 5].map((tag) => byTag.get(tag)?.result), ['put', 'get', 'delete', 'get', 'append'])
  })

  t.test('a client that sends only plain requests gets only plain responses', async (t) => {
    const stream = rawPipeline(rawChannel(t, server.address))
    for (let tag = 1; tag <= 50; tag++) stream.send({ tag, get: { key: `b-${tag}` } })
    const { messages, status } = await stream.finish()
    t.equal(status, Status.OK)
    t.equal(messages.length, 50)
    t.ok(messages.every((message) => message.batch === undefined || message.batch.length === 0))
    t.equal(answersByTag(t, messages).size, 50)
  })

  t.test('a batch over the bound fails its stream (INVALID_ARGUMENT) and nothing else', async (t) => {
    const stream = rawPipeline(rawChannel(t, server.address))
    stream.send({ batch: Array.from({ length: MAX_BATCH_MESSAGES + 1 }, (_, index) => ({ tag: index + 1, get: { key: 'k' } })) })
    const { status } = await stream.finish()
    t.equal(status, Status.INVALID_ARGUMENT)
    t.equal(await kv.get('mixed'), 'one')
  })

  t.test('shardkv errors map to gRPC statuses, in unary calls and in the pipeline', async (t) => {
    await kv.put('bytes', new Uint8Array([1]))
    const pipeline = kv.pipeline()
    for (const store of [kv, pipeline]) {
      await t.rejects(store.get(''), { code: 'ERR_INVALID_KEY', status: Status.INVALID_ARGUMENT })
      await t.rejects(store.get('k'.repeat(65)), { code: 'ERR_KEY_TOO_LARGE', status: Status.INVALID_ARGUMENT })
      await t.rejects(store.put('big', 'v'.repeat(1025)), { code: 'ERR_VALUE_TOO_LARGE', status: Status.INVALID_ARGUMENT })
      await t.rejects(store.append('bytes', 'text'), { code: 'ERR_TYPE_MISMATCH', status: Status.FAILED_PRECONDITION })
    }
    t.same(await pipeline.get('bytes'), new Uint8Array([1]), 'the pipeline goes on after failed calls')
  })

  t.test('a unary call leaves Error.stackTraceLimit as it was, and its error still has a stack', async (t) => {
    const limit = Error.stackTraceLimit
    const error = await kv.get('').catch((caught: unknown) => caught)
    t.equal(Error.stackTraceLimit, limit)
    t.match(error, { code: 'ERR_INVALID_KEY', stack: /\n\s+at / })
  })

  t.test('admin calls: query, join, move, leave, actors, stats, and their errors', async (t) => {
    const first = await kv.admin.query()
    t.same(Object.keys(first.groups), ['1', '2'])
    t.equal(first.shards.length, 64)
    const gid = await kv.admin.join()
    t.equal(gid, 3)
    await kv.admin.move(0, gid)
    const moved = await kv.admin.query()
    t.equal(moved.shards[0], gid)
    t.equal((await kv.admin.query(first.num)).num, first.num, 'an old configuration by number')
    await kv.admin.leave(gid)
    t.notOk(Object.hasOwn((await kv.admin.query()).groups, gid))
    const actors = await kv.admin.actors()
    t.match(actors, [{ id: 'master-1', kind: 'master', role: 'leader' }, { id: 'g1-n1', kind: 'storage', gid: 1 }, { id: 'g2-n1', kind: 'storage', gid: 2 }])
    t.match(await kv.admin.stats(), { groups: 2, configNum: Number })
    await t.rejects(kv.admin.leave(99), { code: 'ERR_UNKNOWN_GROUP', status: Status.NOT_FOUND })
    await t.rejects(kv.admin.move(9999, 1), { code: 'ERR_INVALID_SHARD', status: Status.INVALID_ARGUMENT })
    await t.rejects(kv.admin.move(0, 42), { code: 'ERR_UNKNOWN_GROUP', status: Status.NOT_FOUND })
  })

  t.test('hand-built messages: text that is not UTF-8 and a missing value are refused', async (t) => {
    const channel = rawChannel(t, server.address)
    const put = unaryMethod('KeyValue/Put')
    const notUtf8 = await rawUnary(channel, put.path, put.requestSerialize({ key: 'k', value: { data: Buffer.from([0xc3, 0x28]), text: true } }))
    t.equal(notUtf8.error?.code, Status.INVALID_ARGUMENT)
    t.same(notUtf8.error?.metadata.get(ERROR_CODE_KEY), ['ERR_INVALID_VALUE'])
    const noValue = await rawUnary(channel, put.path, put.requestSerialize({ key: 'k' }))
    t.equal(noValue.error?.code, Status.INVALID_ARGUMENT)
    t.same(noValue.error?.metadata.get(ERROR_CODE_KEY), ['ERR_INVALID_VALUE'])
  })

  t.test('a malformed message is refused without harming other clients', async (t) => {
    const channel = rawChannel(t, server.address)
    const pipeline = kv.pipeline()
    await pipeline.put('survivor', 'before')
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])
    const malformed = await rawUnary(channel, unaryMethod('KeyValue/Get').path, garbage)
    t.equal(malformed.error?.code, Status.INTERNAL, 'grpc-js refuses what it cannot deserialize')
    const stream = channel.makeBidiStreamRequest(pipelineMethod().path, (bytes: Buffer) => bytes, (bytes: Buffer) => bytes, new Metadata())
    const ended = new Promise<number>((resolve) => stream.on('error', (error: { code: number }) => resolve(error.code)))
    stream.write(garbage)
    t.equal(await ended, Status.INTERNAL, 'a malformed message ends its own stream')
    t.equal(await pipeline.get('survivor'), 'before', "another client's stream is untouched")
    t.equal(await kv.get('survivor'), 'before')
  })

  t.test('an oversized message is refused (RESOURCE_EXHAUSTED) without harming other clients', async (t) => {
    const pipeline = kv.pipeline()
    const generous = await client(t, server.address, { maxMessageBytes: 1024 * 1024 })
    const big = new Uint8Array(100_000)
    await t.rejects(generous.put('huge', big), { code: 'ERR_FRAME_TOO_LARGE', status: Status.RESOURCE_EXHAUSTED })
    const doomed = generous.pipeline()
    await t.rejects(doomed.put('huge', big), { code: 'ERR_FRAME_TOO_LARGE', status: Status.RESOURCE_EXHAUSTED }, 'in a pipeline it ends that stream')
    await t.rejects(doomed.get('after'), { code: 'ERR_FRAME_TOO_LARGE' }, 'and later calls on it fail the same way')
    await t.rejects(kv.put('huge', new Uint8Array(5 * 1024 * 1024)), { code: 'ERR_FRAME_TOO_LARGE', status: Status.RESOURCE_EXHAUSTED }, "the client's own limit")
    await pipeline.put('still', 'fine')
    t.equal(await generous.get('still'), 'fine', 'the same connection still works')
  })

  t.test('SIGTERM: the server drains and exits 0', async (t) => {
    t.equal(await server.stop('SIGTERM'), 0)
    t.match(server.stderr(), /SIGTERM: draining/)
    t.match(server.stderr(), /cluster closed/)
    await t.rejects(kv.get('user:1', { deadlineMs: 2000 }), { code: /ERR_CLOSED|ERR_TIMEOUT/ })
  })
})

t.test('deadlines: the client gives up at its deadline, and the cluster at its own', async (t) => {
  // With no group, every shard is unassigned and every key operation waits for one until --op-timeout-ms.
  const server = await startServer(t, ['--groups', '0', '--op-timeout-ms', '1500'])
  const kv = await client(t, server.address)
  await t.rejects(kv.get('k', { deadlineMs: 100 }), { code: 'ERR_TIMEOUT', status: Status.DEADLINE_EXCEEDED, message: /^DEADLINE_EXCEEDED/ }, 'the call deadline')
  await t.rejects(kv.pipeline().get('k', { deadlineMs: 100 }), { code: 'ERR_TIMEOUT', status: Status.DEADLINE_EXCEEDED }, 'a pipelined call deadline')
  await t.rejects(kv.get('k', { deadlineMs: 30_000 }), { code: 'ERR_TIMEOUT', status: Status.DEADLINE_EXCEEDED, message: /did not complete within 1500 ms/ }, "the cluster's ERR_TIMEOUT")
  t.equal(await kv.admin.join(), 1, 'the server is still healthy')
})

t.test('SIGTERM lets in-flight calls finish, refuses new ones, then exits 0', async (t) => {
  const server = await startServer(t, ['--groups', '0', '--op-timeout-ms', '2000'])
  const kv = await client(t, server.address)
  const pipeline = kv.pipeline()
  const unary = kv.get('waits', { deadlineMs: 30_000 }).catch((error: unknown) => error)
  const pipelined = pipeline.get('waits too', { deadlineMs: 30_000 }).catch((error: unknown) => error)
  await untilOutstanding(kv, 2)
  const exited = server.stop('SIGTERM')
  await untilDraining(server)
  await t.rejects(kv.get('new', { deadlineMs: 10_000 }), { code: 'ERR_CLOSED', status: Status.UNAVAILABLE }, 'a new call is refused')
  await t.rejects(kv.pipeline().get('new'), { code: 'ERR_CLOSED', status: Status.UNAVAILABLE }, 'a new stream is refused')
  t.match(await unary, { code: 'ERR_TIMEOUT', message: /did not complete within 2000 ms/ }, 'the unary call ran to its own end, not cancelled')
  t.match(await pipelined, { code: 'ERR_TIMEOUT', message: /did not complete within 2000 ms/ }, 'so did the pipelined one')
  t.equal(await exited, 0)
  t.match(server.stderr(), /drained; cluster closed/)
})

/** The responses of a stream by tag, failing the test on a tag answered twice. */
function answersByTag(t: Test, messages: readonly PipelineResponse[]): Map<number, PipelineResponse> {
  const byTag = new Map<number, PipelineResponse>()
  for (const response of messages.flatMap((message) => unbatch(message))) {
    const tag = response.tag ?? 0
    if (byTag.has(tag)) t.fail(`tag ${tag} answered twice`)
    byTag.set(tag, response)
  }
  return byTag
}

async function untilDraining(server: ServerProcess): Promise<void> {
  for (let attempt = 0; attempt < 1000 && !/draining/.test(server.stderr()); attempt++) await new Promise((resolve) => setTimeout(resolve, 10))
}
