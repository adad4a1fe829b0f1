import t, { type Test } from 'tap'
import { Metadata, type Client } from '@grpc/grpc-js'
import { connectGrpc, type GrpcClient } from '../../src/grpc/client.js'
import { pipelineMethod, unaryMethod } from '../../src/grpc/proto.js'
import { ERROR_CODE_KEY, Status } from '../../src/grpc/status.js'
import type { PipelineRequest, PipelineResponse, WireRequestId } from '../../src/grpc/wire.js'
import { rawChannel, rawUnary, startServer, untilIdle, untilOutstanding } from './serve-process.js'

async function client(t: Test, address: string): Promise<GrpcClient> {
  const connected = await connectGrpc(address)
  t.teardown(() => connected.close())
  return connected
}

const TOKEN = 'token;'
const text = (value: string) => ({ data: Buffer.from(value, 'utf8'), text: true })

/** Sends `requests` on one Pipeline stream, half-closes, and resolves with every response once the server ends it. */
function exchange(channel: Client, requests: readonly PipelineRequest[]): Promise<PipelineResponse[]> {
  const method = pipelineMethod()
  const stream = channel.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, new Metadata())
  const responses: PipelineResponse[] = []
  return new Promise((resolve, reject) => {
    stream.on('data', (response: PipelineResponse) => responses.push(response))
    stream.on('end', () => resolve(responses))
    stream.on('error', reject)
    for (const request of requests) stream.write(request)
    stream.end()
  })
}

t.test('hand-built mutations sharing one request id apply once, and each gets OK', async (t) => {
  const server = await startServer(t, ['--groups', '1'])
  const kv = await client(t, server.address)
  const channel = rawChannel(t, server.address)
  const append = unaryMethod('KeyValue/Append')
  const sendAppend = (key: string, id?: WireRequestId) => rawUnary(channel, append.path, append.requestSerialize({ key, value: text(TOKEN), ...(id === undefined ? {} : { id }) }))

  t.test('without an id a duplicate is a new request: it applies again', async (t) => {
    for (let attempt = 0; attempt < 2; attempt++) t.equal((await sendAppend('no-id')).error, null)
    t.equal(await kv.get('no-id'), TOKEN + TOKEN)
  })

  t.test('unary: one after the other, and at once', async (t) => {
    const id = { client: 'hand-built', seq: 1, ackedBelow: 1 }
    t.equal((await sendAppend('unary', id)).error, null)
    t.equal((await sendAppend('unary', id)).error, null)
    t.equal(await kv.get('unary'), TOKEN)
    const both = await Promise.all([0, 1].map(() => sendAppend('at-once', { ...id, seq: 2 })))
    t.same(both.map((each) => each.error), [null, null])
    t.equal(await kv.get('at-once'), TOKEN)
  })

  t.test('in a Pipeline stream, and across a unary call and a stream', async (t) => {
    const id = { client: 'hand-built', seq: 3, ackedBelow: 1 }
    const responses = await exchange(channel, [1, 2].map((tag) => ({ tag, append: { key: 'pipelined', value: text(TOKEN), id } })))
    t.same(responses.map((response) => [response.tag, response.result]).sort(), [[1, 'append'], [2, 'append']])
    t.equal(await kv.get('pipelined'), TOKEN)
    const crossing = { ...id, seq: 4 }
    t.equal((await sendAppend('crossing', crossing)).error, null)
    const [response] = await exchange(channel, [{ tag: 1, append: { key: 'crossing', value: text(TOKEN), id: crossing } }])
    t.equal(response?.result, 'append')
    t.equal(await kv.get('crossing'), TOKEN)
  })

  t.test('a malformed id is INVALID_ARGUMENT / ERR_INVALID_OPTION, and nothing applies', async (t) => {
    const refused = await sendAppend('bad-id', { client: 'hand-built', seq: 1, ackedBelow: 2 })
    t.equal(refused.error?.code, Status.INVALID_ARGUMENT)
    t.same(refused.error?.metadata.get(ERROR_CODE_KEY), ['ERR_INVALID_OPTION'])
    const [response] = await exchange(channel, [{ tag: 1, append: { key: 'bad-id', value: text(TOKEN), id: { client: '', seq: 1 } } }])
    t.match(response, { result: 'error', error: { status: Status.INVALID_ARGUMENT, code: 'ERR_INVALID_OPTION' } })
    t.equal(await kv.get('bad-id'), undefined)
  })
})

t.test('the library client: retrying a mutation that failed with ERR_TIMEOUT applies it once', async (t) => {
  // With no group, a mutation waits inside the server until one joins (up to --op-timeout-ms):
  // the short deadlines below pass while the first attempts are still pending, and those
  // attempts then apply when the group joins.
  const server = await startServer(t, ['--groups', '0', '--op-timeout-ms', '60000'])
  const kv = await client(t, server.address)
  const other = await client(t, server.address)
  const pipeline = kv.pipeline()
  const shortly = { deadlineMs: 300 }
  await t.rejects(kv.append('unary', TOKEN, shortly), { code: 'ERR_TIMEOUT', status: Status.DEADLINE_EXCEEDED })
  await t.rejects(pipeline.append('pipelined', TOKEN, shortly), { code: 'ERR_TIMEOUT', status: Status.DEADLINE_EXCEEDED })
  await t.rejects(pipeline.append('crossing', TOKEN, shortly), { code: 'ERR_TIMEOUT', status: Status.DEADLINE_EXCEEDED })
  await t.rejects(kv.append('elsewhere', TOKEN, shortly), { code: 'ERR_TIMEOUT', status: Status.DEADLINE_EXCEEDED })
  await untilOutstanding(kv, 4)
  await kv.admin.join()

  await kv.append('unary', TOKEN)
  await pipeline.append('pipelined', TOKEN)
  await kv.append('crossing', TOKEN)
  await other.append('elsewhere', TOKEN)
  // A retry that ran as a new request may answer before the first attempt applies: read after both.
  await untilIdle(kv)
  t.equal(await kv.get('unary'), TOKEN, 'a unary call retried as a unary call')
  t.equal(await kv.get('pipelined'), TOKEN, 'a pipelined call retried on its pipeline')
  t.equal(await kv.get('crossing'), TOKEN, 'a pipelined call retried as a unary call of the same client')
  t.equal(await kv.get('elsewhere'), TOKEN + TOKEN, 'the first attempts did apply: the same append from another client is a new one')
})

t.test('the library client: a retry after the cluster’s own ERR_TIMEOUT runs again', async (t) => {
  const server = await startServer(t, ['--groups', '0', '--op-timeout-ms', '1000'])
  const kv = await client(t, server.address)
  await t.rejects(kv.append('late', TOKEN, { deadlineMs: 30_000 }), { code: 'ERR_TIMEOUT', message: /did not complete within 1000 ms/ })
  await kv.admin.join()
  await kv.append('late', TOKEN)
  t.equal(await kv.get('late'), TOKEN, 'not the remembered ERR_TIMEOUT: the retry ran, once')
})
