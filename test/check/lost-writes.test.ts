import t from 'tap'

import type { KvValue } from '../../src/check/history.js'
import { lostWrites, MAX_LOST_EXAMPLES } from '../../src/check/lost-writes.js'
import { append, bytes, del, failed, put } from './history-builders.js'
import { largePlan, runSequentially } from './sequential-run.js'

function reads(entries: Record<string, KvValue | undefined>): Map<string, KvValue | undefined> {
  return new Map(Object.entries(entries))
}

t.test('every acknowledged append visible once and in order: nothing lost', async (t) => {
  const history = [append('c1', 'k', 'a;', 0, 1), append('c2', 'k', 'b;', 0, 2), append('c1', 'k', 'c;', 3, 4)]
  t.same(lostWrites(history, reads({ k: 'b;a;c;' })), { lost: 0, examples: [], checked: 3, unchecked: 0 })
})

t.test('an acknowledged append missing from the final read is lost', async (t) => {
  const history = [append('c1', 'k', 'a;', 0, 1), append('c2', 'k', 'b;', 2, 3)]
  const report = lostWrites(history, reads({ k: 'a;' }))
  t.equal(report.lost, 1)
  t.match(report.examples, [{ key: 'k', entry: history[1], reason: 'missing', finalValue: 'a;' }])
})

t.test('an acknowledged append present twice was applied twice', async (t) => {
  const report = lostWrites([append('c1', 'k', 'a;', 0, 1)], reads({ k: 'a;a;' }))
  t.match(report, { lost: 1, examples: [{ reason: 'duplicated' }] })
})

t.test('acknowledged appends out of real-time order (so out of a client\'s order) are reported', async (t) => {
  const history = [append('c1', 'k', 'a;', 0, 1), append('c1', 'k', 'b;', 2, 3)]
  t.match(lostWrites(history, reads({ k: 'b;a;' })), { lost: 1, examples: [{ entry: history[1], reason: 'out-of-order' }] })
  const overlapping = [append('c1', 'k', 'a;', 0, 5), append('c2', 'k', 'b;', 2, 3)]
  t.equal(lostWrites(overlapping, reads({ k: 'b;a;' })).lost, 0, 'overlapping appends may land either way')
})

t.test('appends of unknown outcome may be present or not, but not twice beyond their number', async (t) => {
  const history = [append('c1', 'k', 'a;', 0, 1), append('c2', 'k', 'x;', 2, undefined)]
  t.equal(lostWrites(history, reads({ k: 'a;' })).lost, 0)
  t.equal(lostWrites(history, reads({ k: 'a;x;' })).lost, 0)
  const retried = [append('c1', 'k', 'a;', 0, 1), append('c1', 'k', 'a;', 2, undefined)]
  t.equal(lostWrites(retried, reads({ k: 'a;a;' })).lost, 0, 'two appends of one piece may show it twice')
})

t.test('the last acknowledged put must be the final value, or its start when appends may follow', async (t) => {
  const history = [put('c1', 'k', 'old', 0, 1), put('c1', 'k', 'new', 2, 3)]
  t.equal(lostWrites(history, reads({ k: 'new' })).lost, 0)
  t.match(lostWrites(history, reads({ k: 'old' })), { lost: 1, examples: [{ entry: history[1], reason: 'overwritten' }] })
  t.match(lostWrites(history, reads({ k: undefined })), { lost: 1, examples: [{ reason: 'missing' }] })
  const withAppend = [...history, append('c2', 'k', '+', 4, 5)]
  t.equal(lostWrites(withAppend, reads({ k: 'new+' })).lost, 0)
  t.equal(lostWrites(withAppend, reads({ k: 'newer' })).lost, 1, 'its append is missing')
  t.equal(lostWrites([put('c1', 'k', '', 0, 1)], reads({ k: '' })).lost, 0, 'an empty put is checked as a value')
})

t.test('writes that a later or concurrent put or delete may hide are unchecked, not passed', async (t) => {
  const history = [append('c1', 'k', 'a;', 0, 1), put('c2', 'k', 'v', 2, 3), del('c3', 'k', true, 2, undefined)]
  t.same(lostWrites(history, reads({ k: undefined })), { lost: 0, examples: [], checked: 0, unchecked: 2 })
  const failedDelete = [append('c1', 'k', 'a;', 0, 1), failed(del('c3', 'k', undefined, 2, undefined), 'ERR_INVALID_KEY', 3)]
  t.match(lostWrites(failedDelete, reads({ k: '' })), { lost: 1, checked: 1 }, 'a delete that failed definitely hides nothing')
})

t.test('keys without a final read are unchecked', async (t) => {
  const history = [put('c1', 'a', 'x', 0, 1), put('c1', 'b', 'y', 0, 1)]
  t.same(lostWrites(history, reads({ a: 'x' })), { lost: 0, examples: [], checked: 1, unchecked: 1 })
})

t.test('bytes are compared by content and not confused with strings', async (t) => {
  const history = [append('c1', 'k', bytes(1, 2), 0, 1), append('c1', 'k', bytes(3), 2, 3)]
  t.equal(lostWrites(history, reads({ k: bytes(1, 2, 3) })).lost, 0)
  t.equal(lostWrites(history, reads({ k: bytes(1, 2) })).lost, 1)
  t.equal(lostWrites([put('c1', 'k', 'a', 0, 1)], reads({ k: bytes(97) })).lost, 1)
})

t.test('examples are bounded while the count is complete', async (t) => {
  const history = Array.from({ length: 30 }, (_, index) => append('c1', 'k', `${index};`, index * 2, index * 2 + 1))
  const report = lostWrites(history, reads({ k: '' }))
  t.equal(report.lost, 30)
  t.equal(report.examples.length, MAX_LOST_EXAMPLES)
})

t.test('a generated run loses nothing when the final reads are the model\'s final values', async (t) => {
  const plan = largePlan(3, { operations: 5000, keys: 20, clients: 16, maxWindowPoints: 3, unknownRate: 0 })
  const history = runSequentially(plan)
  const finalValues = new Map<string, KvValue | undefined>()
  for (let key = 0; key < 20; key++) finalValues.set(`k${key}`, undefined)
  for (const entry of history) {
    if (entry.op === 'put') finalValues.set(entry.key, entry.input)
    if (entry.op === 'append') finalValues.set(entry.key, `${(finalValues.get(entry.key) as string | undefined) ?? ''}${entry.input as string}`)
    if (entry.op === 'delete') finalValues.set(entry.key, undefined)
  }
  const report = lostWrites(history, finalValues)
  t.equal(report.lost, 0)
  t.ok(report.checked > 0)
})
