import t from 'tap'
import { checkKey, checkValue } from '../../src/client/limits.js'
import { RETRY_MEMORY_CALLS, RETRY_WINDOW_OPS, RetryMemory } from '../../src/client/retry-memory.js'

const limits = { maxKeyBytes: 8, maxValueBytes: 16 }

function codeOf(run: () => void): string | undefined {
  try {
    run()
    return undefined
  } catch (error) {
    return (error as { code?: string }).code
  }
}

t.test('a key is a non-empty string of at most maxKeyBytes UTF-8 bytes', async (t) => {
  t.equal(codeOf(() => checkKey('abc', limits)), undefined)
  t.equal(codeOf(() => checkKey('12345678', limits)), undefined, 'exactly the limit')
  t.equal(codeOf(() => checkKey('123456789', limits)), 'ERR_KEY_TOO_LARGE')
  t.equal(codeOf(() => checkKey('ééé', limits)), undefined, '6 bytes')
  t.equal(codeOf(() => checkKey('éééé€', limits)), 'ERR_KEY_TOO_LARGE', '11 bytes in 5 characters')
  t.equal(codeOf(() => checkKey('', limits)), 'ERR_INVALID_KEY')
  for (const bad of [undefined, null, 1, {}, ['a'], new Uint8Array(1), Symbol('k')]) {
    t.equal(codeOf(() => checkKey(bad, limits)), 'ERR_INVALID_KEY', `${typeof bad} is refused`)
  }
  t.equal(codeOf(() => checkKey('\ud800', limits)), undefined, 'a lone surrogate is allowed (it means U+FFFD)')
})

t.test('a value is a string or a Uint8Array of at most maxValueBytes bytes', async (t) => {
  t.equal(codeOf(() => checkValue('', limits)), undefined, 'empty string')
  t.equal(codeOf(() => checkValue(new Uint8Array(0), limits)), undefined, 'empty bytes')
  t.equal(codeOf(() => checkValue('x'.repeat(16), limits)), undefined)
  t.equal(codeOf(() => checkValue('x'.repeat(17), limits)), 'ERR_VALUE_TOO_LARGE')
  t.equal(codeOf(() => checkValue('€'.repeat(6), limits)), 'ERR_VALUE_TOO_LARGE', '18 UTF-8 bytes')
  t.equal(codeOf(() => checkValue(new Uint8Array(16), limits)), undefined)
  t.equal(codeOf(() => checkValue(new Uint8Array(17), limits)), 'ERR_VALUE_TOO_LARGE')
  t.equal(codeOf(() => checkValue(Buffer.from('abc'), limits)), undefined, 'a Buffer is a Uint8Array')
  for (const bad of [undefined, null, 1, true, {}, [1], new Uint16Array(2), new ArrayBuffer(2), new DataView(new ArrayBuffer(2))]) {
    t.equal(codeOf(() => checkValue(bad, limits)), 'ERR_INVALID_VALUE', `${Object.prototype.toString.call(bad)} is refused`)
  }
  t.equal(codeOf(() => checkValue('a\udc00b', limits)), 'ERR_INVALID_VALUE', 'a lone surrogate would not come back as stored')
})

t.test('retry memory hands a timed-out mutation its seq back once, for the same op, key and value', async (t) => {
  const memory = new RetryMemory()
  memory.remember(7, 'append', 'k', 'v', 1000)
  t.equal(memory.take('put', 'k', 'v'), undefined, 'another op')
  t.equal(memory.take('append', 'other', 'v'), undefined, 'another key')
  t.equal(memory.take('append', 'k', 'w'), undefined, 'another value')
  t.equal(memory.take('append', 'k', new Uint8Array([118])), undefined, 'bytes are not the string')
  t.equal(memory.take('append', 'k', 'v'), 7)
  t.equal(memory.take('append', 'k', 'v'), undefined, 'taken: a second identical call is a new operation')
  t.equal(memory.lowest(), 7, 'in flight again: still pinned')
  memory.forget(7)
  t.equal(memory.lowest(), undefined)
})

t.test('retry memory compares bytes by content and keeps its own copy', async (t) => {
  const memory = new RetryMemory()
  const bytes = new Uint8Array([1, 2, 3])
  memory.remember(3, 'put', 'k', bytes, 1000)
  bytes[0] = 9
  t.equal(memory.take('put', 'k', bytes), undefined, 'the caller changed its array: a different call')
  t.equal(memory.take('put', 'k', new Uint8Array([1, 2, 3])), 3)
})

t.test('retry memory forgets calls past their time or op window, and keeps the lowest seq right', async (t) => {
  const memory = new RetryMemory()
  memory.remember(5, 'put', 'a', 'x', 100)
  memory.remember(9, 'put', 'b', 'x', 10_000)
  memory.remember(12, 'put', 'c', 'x', 10_000)
  t.equal(memory.lowest(), 5)
  memory.expire(200, 13)
  t.equal(memory.lowest(), 9, 'seq 5 expired by time')
  memory.expire(210, 12 + RETRY_WINDOW_OPS)
  t.equal(memory.lowest(), 12, 'seq 9 expired: too many newer operations')
  memory.take('put', 'c', 'x')
  memory.expire(20_000, 12 + 2 * RETRY_WINDOW_OPS)
  t.equal(memory.lowest(), 12, 'a retry in flight is never expired')
})

t.test('retry memory holds at most RETRY_MEMORY_CALLS calls, dropping the oldest', async (t) => {
  const memory = new RetryMemory()
  for (let seq = 1; seq <= RETRY_MEMORY_CALLS + 1; seq++) memory.remember(seq, 'append', `k${seq}`, 'v', 1000)
  t.equal(memory.size, RETRY_MEMORY_CALLS)
  t.equal(memory.take('append', 'k1', 'v'), undefined, 'the oldest went')
  t.equal(memory.lowest(), 2)
})
