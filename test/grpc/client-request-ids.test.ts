import t from 'tap'
import { ShardKVError } from '../../src/errors.js'
import { isUnknownOutcome, RequestIds, SEQ_WINDOW, type Mutation } from '../../src/grpc/client-request-ids.js'
import { GrpcShardKVError, Status } from '../../src/grpc/status.js'

const append = (value: string): Mutation => ({ op: 'append', key: 'k', value })
const WAIT_MS = 1000

t.test('each mutation gets a new seq; acked_below is the lowest still outstanding', async (t) => {
  const ids = new RequestIds(1000)
  const first = await ids.claim(append('a'), WAIT_MS)
  const second = await ids.claim(append('b'), WAIT_MS)
  t.same([first, second], [1, 2])
  t.match(ids.idOf(second), { client: ids.clientId, seq: 2, ackedBelow: 1 })
  ids.settle(first, append('a'), false)
  t.match(ids.idOf(second), { seq: 2, ackedBelow: 2 })
  ids.settle(second, append('b'), false)
  t.match(ids.idOf(3), { ackedBelow: 3 }, 'nothing outstanding: the next new seq')
  t.match(ids.clientId, /^[\w-]{21}$/, 'a nanoid')
})

t.test('after an unknown outcome the identical call gets its seq again; any other call a new one', async (t) => {
  const ids = new RequestIds(1000)
  const seq = await ids.claim(append('a'), WAIT_MS)
  ids.settle(seq, append('a'), true)
  t.equal(ids.idOf(5).ackedBelow, seq, 'the remembered seq holds acked_below back')
  t.not(await ids.claim(append('other'), WAIT_MS), seq, 'a different value is a different call')
  t.not(await ids.claim({ op: 'put', key: 'k', value: 'a' }, WAIT_MS), seq, 'a different op too')
  t.equal(await ids.claim(append('a'), WAIT_MS), seq, 'the retry')
  ids.settle(seq, append('a'), false)
  t.not(await ids.claim(append('a'), WAIT_MS), seq, 'answered: the same call again is a new mutation')
})

t.test('after a definite answer the same call is a new mutation', async (t) => {
  const ids = new RequestIds(1000)
  const seq = await ids.claim(append('a'), WAIT_MS)
  ids.settle(seq, append('a'), false)
  t.not(await ids.claim(append('a'), WAIT_MS), seq)
})

t.test('a new seq waits while it would be SEQ_WINDOW above acked_below, and gives up at its deadline', async (t) => {
  const ids = new RequestIds(1000)
  const first = await ids.claim(append('0'), WAIT_MS)
  for (let index = 1; index < SEQ_WINDOW; index++) await ids.claim(append(String(index)), WAIT_MS)
  await t.rejects(ids.claim(append('late'), 50), { code: 'ERR_TIMEOUT', message: /nothing was sent/ })
  const waiting = ids.claim(append('next'), WAIT_MS)
  ids.settle(first, append('0'), false)
  t.equal(await waiting, SEQ_WINDOW + 1, 'the oldest answered: the window moves on')
})

t.test('which failures leave the outcome unknown', async (t) => {
  t.ok(isUnknownOutcome(new GrpcShardKVError('ERR_TIMEOUT', Status.DEADLINE_EXCEEDED, 'deadline')))
  t.ok(isUnknownOutcome(new GrpcShardKVError('ERR_CLOSED', Status.UNAVAILABLE, 'connection lost')))
  t.ok(isUnknownOutcome(new GrpcShardKVError('ERR_CODEC', Status.INTERNAL, 'unparsable')))
  t.notOk(isUnknownOutcome(new GrpcShardKVError('ERR_TYPE_MISMATCH', Status.FAILED_PRECONDITION, 'refused')))
  t.notOk(isUnknownOutcome(new ShardKVError('ERR_OVERLOADED', 'nothing sent')))
  t.notOk(isUnknownOutcome(new Error('not ours')))
})
