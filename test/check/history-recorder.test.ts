import t from 'tap'

import { HistoryRecorder } from '../../src/check/history.js'
import { checkLinearizability } from '../../src/check/linearizability.js'

/** A fake monotonic clock: each reading is 10 later than the one before. */
function steppingClock(): () => number {
  let now = 0
  return () => (now += 10)
}

t.test('the recorder stamps calls and returns from the injected clock and keeps each outcome', async (t) => {
  const recorder = new HistoryRecorder({ clock: steppingClock() })
  const write = recorder.begin('c1', 'put', 'k', 'a')
  const read = recorder.begin('c2', 'get', 'k')
  recorder.end(write)
  recorder.end(read, 'a')
  const removal = recorder.begin('c1', 'delete', 'k')
  recorder.end(removal, true)
  const refused = recorder.begin('c2', 'append', 'k', Uint8Array.of(1))
  recorder.fail(refused, 'ERR_TYPE_MISMATCH')
  const lost = recorder.begin('c3', 'append', 'k', 'x')
  recorder.unknown(lost)
  t.same(recorder.entries(), [
    { clientId: 'c1', op: 'put', key: 'k', input: 'a', callTime: 10, returnTime: 30 },
    { clientId: 'c2', op: 'get', key: 'k', callTime: 20, returnTime: 40, output: 'a' },
    { clientId: 'c1', op: 'delete', key: 'k', callTime: 50, returnTime: 60, output: true },
    { clientId: 'c2', op: 'append', key: 'k', input: Uint8Array.of(1), callTime: 70, returnTime: 80, error: 'ERR_TYPE_MISMATCH' },
    { clientId: 'c3', op: 'append', key: 'k', input: 'x', callTime: 90 },
  ])
  t.equal(recorder.size, 5)
})

t.test('an operation never settled is reported with unknown outcome, and the history checks', async (t) => {
  const recorder = new HistoryRecorder({ clock: steppingClock() })
  recorder.end(recorder.begin('c1', 'put', 'k', 'a'))
  recorder.begin('c2', 'put', 'k', 'b')
  recorder.end(recorder.begin('c1', 'get', 'k'), 'b')
  t.equal(recorder.entries()[1]?.returnTime, undefined)
  t.equal(checkLinearizability(recorder.entries()).result, 'ok')
})

t.test('values are copied, so a reused buffer cannot rewrite the history', async (t) => {
  const recorder = new HistoryRecorder({ clock: steppingClock() })
  const buffer = Uint8Array.of(1, 2)
  const id = recorder.begin('c1', 'put', 'k', buffer)
  recorder.end(id)
  const readBuffer = Uint8Array.of(1, 2)
  recorder.end(recorder.begin('c1', 'get', 'k'), readBuffer)
  buffer[0] = 9
  readBuffer[0] = 9
  t.same(recorder.entries()[0]?.input, Uint8Array.of(1, 2))
  t.same(recorder.entries()[1]?.output, Uint8Array.of(1, 2))
})

t.test('misuse is a programmer error: settling twice, an unknown id, a clock going back, a missing input', async (t) => {
  let now = 100
  const recorder = new HistoryRecorder({ clock: () => now })
  const id = recorder.begin('c1', 'get', 'k')
  recorder.end(id, undefined)
  t.throws(() => recorder.unknown(id), { name: 'AssertionError', message: /operation 0 was already settled/ })
  t.throws(() => recorder.end(7), { message: /no operation with id 7/ })
  now = 50
  t.throws(() => recorder.begin('c1', 'get', 'k'), { message: /clock went back from 100 to 50/ })
  now = 200
  t.throws(() => recorder.begin('c1', 'put', 'k'), { message: /put needs input value/ })
  t.throws(() => recorder.begin('c1', 'get', 'k', 'x'), { message: /get takes no input value/ })
})

t.test('the recorder is bounded: past maxEntries, begin throws', async (t) => {
  const recorder = new HistoryRecorder({ clock: steppingClock(), maxEntries: 2 })
  recorder.begin('c1', 'get', 'k')
  recorder.begin('c1', 'get', 'k')
  t.throws(() => recorder.begin('c1', 'get', 'k'), { name: 'RangeError', message: /history recorder is full: maxEntries is 2/ })
  t.throws(() => new HistoryRecorder({ clock: steppingClock(), maxEntries: 0 }), { message: /maxEntries must be a positive integer, got 0/ })
})
