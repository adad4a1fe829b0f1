import t from 'tap'
import { ShardKVError } from '../../src/errors.js'
import { MAX_CLIENT_ID_CHARS, readRequestId, RequestLedger, type RequestId } from '../../src/grpc/request-ledger.js'

/** An operation that counts its runs and settles when told to. */
function controlled<T>(): { run: () => Promise<T>; runs: () => number; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let runs = 0
  let resolve: (value: T) => void = () => {}
  let reject: (error: unknown) => void = () => {}
  return {
    run: () => {
      runs++
      return new Promise<T>((ok, fail) => {
        resolve = ok
        reject = fail
      })
    },
    runs: () => runs,
    resolve: (value) => resolve(value),
    reject: (error) => reject(error),
  }
}

/** An operation that counts its runs and answers at once. */
function counting<T>(answer: () => T): { run: () => Promise<T>; runs: () => number } {
  let runs = 0
  return {
    run: async () => {
      runs++
      return answer()
    },
    runs: () => runs,
  }
}

const id = (client: string, seq: number, ackedBelow = 0): RequestId => ({ client, seq, ackedBelow })

t.test('concurrent duplicates of a running request run it once and share its outcome', async (t) => {
  const ledger = new RequestLedger()
  const operation = controlled<{ deleted: boolean }>()
  const first = ledger.run(id('a', 1), 'delete', operation.run)
  const second = ledger.run(id('a', 1), 'delete', operation.run)
  operation.resolve({ deleted: true })
  t.same(await first, { deleted: true })
  t.same(await second, { deleted: true }, 'the duplicate gets the first run’s answer, not a second delete’s false')
  t.equal(operation.runs(), 1)
})

t.test('a completed duplicate gets the cached outcome: OK, or the same definite error', async (t) => {
  const ledger = new RequestLedger()
  const ok = counting(() => ({}))
  await ledger.run(id('a', 1), 'append', ok.run)
  t.same(await ledger.run(id('a', 1), 'append', ok.run), {})
  t.equal(ok.runs(), 1)

  const refused = counting((): never => {
    throw new ShardKVError('ERR_TYPE_MISMATCH', 'text onto bytes')
  })
  await t.rejects(ledger.run(id('a', 2), 'append', refused.run), { code: 'ERR_TYPE_MISMATCH' })
  await t.rejects(ledger.run(id('a', 2), 'append', refused.run), { code: 'ERR_TYPE_MISMATCH' })
  t.equal(refused.runs(), 1, 'a definite error is an outcome too: not run again')
})

t.test('an ERR_TIMEOUT outcome is unknown: those waiting get it, and the next duplicate runs again', async (t) => {
  const ledger = new RequestLedger()
  const operation = controlled<Record<string, never>>()
  const first = ledger.run(id('a', 1), 'put', operation.run)
  const joined = ledger.run(id('a', 1), 'put', operation.run)
  operation.reject(new ShardKVError('ERR_TIMEOUT', 'outcome unknown'))
  await t.rejects(first, { code: 'ERR_TIMEOUT' })
  await t.rejects(joined, { code: 'ERR_TIMEOUT' })
  const rerun = ledger.run(id('a', 1), 'put', operation.run)
  t.equal(operation.runs(), 2)
  operation.resolve({})
  t.same(await rerun, {})
  t.same(await ledger.run(id('a', 1), 'put', operation.run), {})
  t.equal(operation.runs(), 2, 'the re-run’s OK is remembered')
})

t.test('acked_below forgets the seqs below it and refuses them afterwards', async (t) => {
  const ledger = new RequestLedger()
  const ok = counting(() => ({}))
  await ledger.run(id('a', 1), 'append', ok.run)
  await ledger.run(id('a', 2), 'append', ok.run)
  t.same(ledger.size, { clients: 1, seqs: 2 })
  await ledger.run(id('a', 3, 2), 'append', ok.run)
  t.same(ledger.size, { clients: 1, seqs: 2 }, 'seq 1 forgotten, seq 3 added')
  await t.rejects(ledger.run(id('a', 1, 1), 'append', ok.run), { code: 'ERR_INVALID_OPTION', message: /below this client's acked_below/ })
  t.equal(ok.runs(), 3, 'a late copy below acked_below is not run')
  await ledger.run(id('a', 2, 2), 'append', ok.run)
  t.equal(ok.runs(), 3, 'seq 2, at acked_below, is still remembered')
  await ledger.run(id('b', 1), 'append', ok.run)
  t.equal(ok.runs(), 4, 'another client’s seq 1 is its own')
})

t.test('a seq reused for another kind of mutation is refused', async (t) => {
  const ledger = new RequestLedger()
  await ledger.run(id('a', 1), 'put', async () => ({}))
  await t.rejects(ledger.run(id('a', 1), 'delete', async () => ({ deleted: true })), { code: 'ERR_INVALID_OPTION', message: /was a put, not a delete/ })
})

t.test('bounds: the lowest seqs of a client past its bound', async (t) => {
  const ledger = new RequestLedger({ maxClients: 10, maxSeqsPerClient: 3, maxSeqs: 100 })
  const ok = counting(() => ({}))
  for (const seq of [2, 1, 3, 4]) await ledger.run(id('a', seq), 'put', ok.run)
  t.same(ledger.size, { clients: 1, seqs: 3 })
  await ledger.run(id('a', 2), 'put', ok.run)
  t.equal(ok.runs(), 4, 'seq 2 is remembered')
  await ledger.run(id('a', 1), 'put', ok.run)
  t.equal(ok.runs(), 5, 'seq 1, the lowest, was forgotten: it runs again')
})

t.test('bounds: the least recently used client past maxClients', async (t) => {
  const ledger = new RequestLedger({ maxClients: 2, maxSeqsPerClient: 10, maxSeqs: 100 })
  const ok = counting(() => ({}))
  await ledger.run(id('a', 1), 'put', ok.run)
  await ledger.run(id('b', 1), 'put', ok.run)
  await ledger.run(id('a', 2), 'put', ok.run)
  await ledger.run(id('c', 1), 'put', ok.run)
  t.same(ledger.size, { clients: 2, seqs: 3 }, 'b, used least recently, is forgotten with its seq')
  await ledger.run(id('a', 1), 'put', ok.run)
  t.equal(ok.runs(), 4, 'a is remembered')
  await ledger.run(id('b', 1), 'put', ok.run)
  t.equal(ok.runs(), 5, 'b runs again')
})

t.test('bounds: past maxSeqs in all, the lowest seq of the least recently used client goes', async (t) => {
  const ledger = new RequestLedger({ maxClients: 10, maxSeqsPerClient: 10, maxSeqs: 4 })
  const ok = counting(() => ({}))
  await ledger.run(id('a', 1), 'put', ok.run)
  await ledger.run(id('a', 2), 'put', ok.run)
  for (const seq of [1, 2, 3]) await ledger.run(id('b', seq), 'put', ok.run)
  t.same(ledger.size, { clients: 2, seqs: 4 })
  await ledger.run(id('b', 3), 'put', ok.run)
  await ledger.run(id('a', 2), 'put', ok.run)
  t.equal(ok.runs(), 5, 'b 3 and a 2 are remembered')
  await ledger.run(id('a', 1), 'put', ok.run)
  t.equal(ok.runs(), 6, 'a 1 was forgotten')
})

t.test('a request id is validated: client 1..256 characters, safe integers, acked_below <= seq', async (t) => {
  t.equal(readRequestId(undefined), undefined, 'no id: the request runs as before ids')
  t.same(readRequestId({ client: 'c', seq: 7, ackedBelow: 3 }), { client: 'c', seq: 7, ackedBelow: 3 })
  t.same(readRequestId({ client: 'c' }), { client: 'c', seq: 0, ackedBelow: 0 }, 'absent numbers are proto3 zeros')
  t.same(readRequestId({ client: 'c'.repeat(MAX_CLIENT_ID_CHARS), seq: Number.MAX_SAFE_INTEGER }), { client: 'c'.repeat(MAX_CLIENT_ID_CHARS), seq: Number.MAX_SAFE_INTEGER, ackedBelow: 0 })
  const bad = [
    { seq: 1 },
    { client: '', seq: 1 },
    { client: 'c'.repeat(MAX_CLIENT_ID_CHARS + 1), seq: 1 },
    { client: 'c', seq: 2 ** 53 },
    { client: 'c', seq: 1.5 },
    { client: 'c', seq: -1 },
    { client: 'c', seq: 1, ackedBelow: 2 },
    { client: 'c', seq: 1, ackedBelow: Number.NaN },
  ]
  for (const wire of bad) t.throws(() => readRequestId(wire), { code: 'ERR_INVALID_OPTION' }, JSON.stringify(wire))
})
