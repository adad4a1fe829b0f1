import t from 'tap'

import { checkLinearizability, describeViolation, type LinearizabilityResult } from '../../src/check/linearizability.js'
import type { HistoryEntry } from '../../src/check/history.js'
import { CLOCK_CHECK_STEPS } from '../../src/check/wgl-search.js'
import { append, bytes, del, failed, get, put } from './history-builders.js'

function verdict(history: readonly HistoryEntry[]): LinearizabilityResult['result'] {
  return checkLinearizability(history).result
}

t.test('a sequential history of every operation is linearizable', async (t) => {
  const history = [
    get('c1', 'k', undefined, 0, 1),
    put('c1', 'k', 'a', 2, 3),
    get('c1', 'k', 'a', 4, 5),
    append('c1', 'k', 'b', 6, 7),
    get('c1', 'k', 'ab', 8, 9),
    del('c1', 'k', true, 10, 11),
    get('c1', 'k', undefined, 12, 13),
    del('c1', 'k', false, 14, 15),
  ]
  const result = checkLinearizability(history)
  t.equal(result.result, 'ok')
  t.match(result.stats, { keys: 1, operations: 8, excluded: 0 })
})

t.test('concurrent reads during a write may see the old value, then the new one', async (t) => {
  const history = [
    put('w', 'k', 'old', 0, 1),
    put('w', 'k', 'new', 10, 20),
    get('r1', 'k', 'old', 11, 12),
    get('r2', 'k', 'new', 13, 14),
    get('r3', 'k', 'new', 15, 25),
  ]
  t.equal(verdict(history), 'ok')
})

t.test('overlapping writes may take effect in either order', async (t) => {
  const writes = [put('a', 'k', 'x', 0, 10), put('b', 'k', 'y', 0, 10)]
  t.equal(verdict([...writes, get('r', 'k', 'x', 11, 12)]), 'ok')
  t.equal(verdict([...writes, get('r', 'k', 'y', 11, 12)]), 'ok')
  t.equal(verdict([...writes, get('r', 'k', 'y', 11, 12), get('r', 'k', 'x', 13, 14)]), 'illegal', 'but not both orders')
})

t.test('operations ending and starting at the same instant count as concurrent', async (t) => {
  t.equal(verdict([put('a', 'k', 'x', 0, 5), get('r', 'k', undefined, 5, 6)]), 'ok')
  t.equal(verdict([put('a', 'k', 'x', 0, 5), get('r', 'k', undefined, 6, 7)]), 'illegal')
})

t.test('an unknown-outcome write may have taken effect, at any time after its call, or never', async (t) => {
  const before = [put('a', 'k', 'a', 0, 1), put('b', 'k', 'b', 2, undefined)]
  t.equal(verdict([...before, get('r', 'k', 'b', 50, 51)]), 'ok', 'taken')
  t.equal(verdict([...before, get('r', 'k', 'a', 50, 51)]), 'ok', 'not taken')
  t.equal(verdict([...before, get('r', 'k', 'a', 50, 51), get('r', 'k', 'b', 900, 901)]), 'ok', 'taken late')
  t.equal(verdict([...before, get('r', 'k', 'b', 50, 51), get('r', 'k', 'a', 52, 53)]), 'illegal', 'but once')
  t.equal(verdict([put('b', 'k', 'b', 2, undefined), get('r', 'k', 'b', 0, 1)]), 'illegal', 'never before its call')
  const appends = [append('a', 'k', 'x', 0, undefined), append('b', 'k', 'y', 1, 2)]
  t.equal(verdict([...appends, get('r', 'k', 'y', 3, 4), get('r', 'k', 'yx', 5, 6)]), 'ok', 'an unknown append can land after a later one')
  t.equal(verdict([del('a', 'k', undefined, 0, undefined), put('b', 'k', 'v', 1, 2), get('r', 'k', undefined, 3, 4)]), 'ok', 'an unknown delete')
})

t.test('a get with unknown outcome constrains nothing and is left out', async (t) => {
  const result = checkLinearizability([put('a', 'k', 'a', 0, 1), get('r', 'k', 'never written', 2, undefined)])
  t.equal(result.result, 'ok')
  t.equal(result.stats.excluded, 1)
})

t.test('a definite failure had no effect: a type mismatch is a read of the other type, other errors are left out', async (t) => {
  const refused = failed(append('c', 'k', 'x', 2, 3), 'ERR_TYPE_MISMATCH', 3)
  t.equal(verdict([put('a', 'k', bytes(1), 0, 1), refused, get('r', 'k', bytes(1), 4, 5)]), 'ok')
  t.equal(verdict([put('a', 'k', 'text', 0, 1), refused]), 'illegal', 'a string onto a string is not refused')
  t.equal(verdict([refused]), 'illegal', 'an append onto a missing key is not refused')
  const tooLarge = failed(append('c', 'k', 'x', 2, 3), 'ERR_VALUE_TOO_LARGE', 3)
  const result = checkLinearizability([put('a', 'k', 'a', 0, 1), tooLarge, get('r', 'k', 'a', 4, 5)])
  t.equal(result.result, 'ok')
  t.equal(result.stats.excluded, 1)
})

t.test('a stale read after a completed write is illegal, explained by the prefix and the stuck read', async (t) => {
  const stale = get('r', 'k', 'a', 4, 5)
  const result = checkLinearizability([put('w', 'k', 'a', 0, 1), put('w', 'k', 'b', 2, 3), stale])
  t.equal(result.result, 'illegal')
  if (result.result !== 'illegal') return
  t.equal(result.violation.key, 'k')
  t.equal(result.violation.stuck, stale)
  t.same(result.violation.prefix.map((entry) => entry.input), ['a', 'b'])
  t.equal(result.violation.valueAfterPrefix, 'b')
  const text = describeViolation(result.violation)
  t.match(text, /key "k": no linearization can place get -> "a" \(client r, called at 4, returned at 5\)/)
  t.match(text, /longest linearizable prefix found \(2 operations\)/)
  t.match(text, /where the key holds "b"/)
})

t.test('a lost append is illegal', async (t) => {
  const history = [append('a', 'k', 'x', 0, 1), append('b', 'k', 'y', 2, 3), get('r', 'k', 'x', 4, 5)]
  t.equal(verdict(history), 'illegal')
})

t.test('an append applied twice is illegal', async (t) => {
  t.equal(verdict([append('a', 'k', 'x', 0, 1), get('r', 'k', 'xx', 2, 3)]), 'illegal')
  t.equal(verdict([append('a', 'k', 'x', 0, undefined), get('r', 'k', 'xx', 2, 3)]), 'illegal', 'even with unknown outcome')
})

t.test('reading a value never written is illegal', async (t) => {
  t.equal(verdict([put('a', 'k', 'x', 0, 10), get('r', 'k', 'z', 1, 9)]), 'illegal')
  t.equal(verdict([get('r', 'k', '', 1, 9)]), 'illegal', 'the empty string is a value, not a missing key')
})

t.test('two readers seeing two concurrent writes in opposite orders is illegal', async (t) => {
  const history = [
    put('w1', 'k', 'x', 0, 100),
    put('w2', 'k', 'y', 0, 100),
    get('r1', 'k', 'x', 10, 20),
    get('r1', 'k', 'y', 30, 40),
    get('r2', 'k', 'y', 10, 20),
    get('r2', 'k', 'x', 30, 40),
  ]
  t.equal(verdict(history), 'illegal')
  t.equal(verdict(history.slice(0, 4)), 'ok', 'either reader alone is fine')
})

t.test('delete reports whether the key existed', async (t) => {
  t.equal(verdict([put('a', 'k', 'x', 0, 1), del('b', 'k', false, 2, 3)]), 'illegal')
  t.equal(verdict([del('b', 'k', true, 2, 3)]), 'illegal')
  t.equal(verdict([put('a', 'k', 'x', 0, 10), del('b', 'k', true, 1, 11), del('c', 'k', false, 2, 12)]), 'ok')
})

t.test('values keep their type: the string "a" is not the bytes [97]', async (t) => {
  t.equal(verdict([put('a', 'k', 'a', 0, 1), get('r', 'k', bytes(97), 2, 3)]), 'illegal')
  t.equal(verdict([put('a', 'k', bytes(97), 0, 1), get('r', 'k', 'a', 2, 3)]), 'illegal')
  t.equal(verdict([put('a', 'k', bytes(97), 0, 1), get('r', 'k', bytes(97), 2, 3)]), 'ok', 'bytes compare by content')
  t.equal(verdict([put('a', 'k', Buffer.from('a'), 0, 1), get('r', 'k', bytes(97), 2, 3)]), 'ok', 'a Buffer is bytes')
  t.equal(verdict([put('a', 'k', bytes(), 0, 1), get('r', 'k', '', 2, 3)]), 'illegal', 'empty bytes are not the empty string')
})

t.test('appends concatenate within a type and create a missing key', async (t) => {
  const strings = [append('a', 'k', 'x', 0, 1), append('a', 'k', 'yz', 2, 3), get('r', 'k', 'xyz', 4, 5)]
  t.equal(verdict(strings), 'ok')
  const byteValues = [put('a', 'b', bytes(1), 0, 1), append('a', 'b', bytes(2, 3), 2, 3), get('r', 'b', bytes(1, 2, 3), 4, 5)]
  t.equal(verdict(byteValues), 'ok')
  const afterDelete = [...strings, del('a', 'k', true, 6, 7), append('a', 'k', 'w', 8, 9), get('r', 'k', 'w', 10, 11)]
  t.equal(verdict(afterDelete), 'ok')
  t.equal(verdict([put('a', 'k', bytes(1), 0, 1), append('a', 'k', 'x', 2, 3)]), 'illegal', 'an acknowledged append across types')
  const unknownAcross = [put('a', 'k', bytes(1), 0, 1), append('a', 'k', 'x', 2, undefined), get('r', 'k', bytes(1), 4, 5)]
  t.equal(verdict(unknownAcross), 'ok', 'an unknown append across types was refused')
  t.equal(verdict([put('a', 'k', 'a', 0, 1), append('a', 'k', 'b', 2, 3), get('r', 'k', 'ba', 4, 5)]), 'illegal', 'order matters')
})

t.test('keys are checked independently and the violation names the bad key', async (t) => {
  const history = [put('a', 'good', 'x', 0, 1), get('r', 'good', 'x', 2, 3), put('a', 'bad', 'x', 0, 1), get('r', 'bad', 'y', 2, 3)]
  const result = checkLinearizability(history)
  t.equal(result.result, 'illegal')
  if (result.result === 'illegal') t.equal(result.violation.key, 'bad')
  t.equal(result.stats.keys, 2)
})

/** n overlapping puts of distinct values and a read of a value none wrote: 2^n (set, state) pairs to refute. */
function pathological(writes: number): HistoryEntry[] {
  const history = Array.from({ length: writes }, (_, index) => put(`w${index}`, 'k', `v${index}`, 0, 100))
  return [...history, get('r', 'k', 'never', 0, 100)]
}

t.test('the step budget ends a pathological search with unknown, naming the key', async (t) => {
  const result = checkLinearizability(pathological(14), { maxStepsPerKey: 1000 })
  t.equal(result.result, 'unknown')
  if (result.result === 'unknown') t.same({ count: result.undecidedKeyCount, keys: result.undecidedKeys }, { count: 1, keys: ['k'] })
  t.ok(result.stats.steps <= 1000)
  t.equal(checkLinearizability(pathological(10)).result, 'illegal', 'with room, the same shape is refuted')
})

t.test('the whole-history step budget leaves the remaining keys undecided', async (t) => {
  const history = ['a', 'b', 'c'].flatMap((key) => pathological(12).map((entry) => ({ ...entry, key })))
  const result = checkLinearizability(history, { maxStepsPerKey: 5000, maxSteps: 7000 })
  t.equal(result.result, 'unknown')
  if (result.result === 'unknown') t.equal(result.undecidedKeyCount, 3)
  t.ok(result.stats.steps <= 7000)
})

t.test('the time budget, read from the injected clock, ends the search with unknown', async (t) => {
  let reads = 0
  // The budget starts at the first reading and is checked before the key and every CLOCK_CHECK_STEPS steps.
  const clock = (): number => (reads++ < 2 ? 0 : 60_000)
  const result = checkLinearizability(pathological(16), { timeBudgetMs: 10_000, clock })
  t.equal(result.result, 'unknown')
  t.equal(result.stats.steps, CLOCK_CHECK_STEPS, 'stopped at the first clock check, long before the step budget')
})

t.test('options and history entries are validated, naming what is wrong', async (t) => {
  const history = [put('a', 'k', 'x', 0, 1)]
  t.throws(() => checkLinearizability(history, { maxSteps: 0 }), { code: 'ERR_INVALID_OPTION', message: /maxSteps must be a positive integer, got 0/ })
  t.throws(() => checkLinearizability(history, { budget: 1 } as never), { message: /unknown option "budget"; known options: maxStepsPerKey, maxSteps, timeBudgetMs, clock/ })
  t.throws(() => checkLinearizability([put('a', 'k', 'x', 5, 4)]), { message: /history\[0\]\.returnTime must not be before callTime \(5\), got 4/ })
  t.throws(() => checkLinearizability([{ ...history[0]!, input: undefined }]), { message: /history\[0\]\.input must be a string or Uint8Array for put/ })
  t.throws(() => checkLinearizability([del('a', 'k', undefined, 0, 1)]), { message: /history\[0\]\.output of a delete must be a boolean/ })
  t.throws(() => checkLinearizability([{ ...history[0]!, op: 'cas' as never }]), { message: /history\[0\]\.op must be one of get, put, append, delete, got cas/ })
})
