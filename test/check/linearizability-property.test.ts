import fc from 'fast-check'
import t from 'tap'

import { checkLinearizability } from '../../src/check/linearizability.js'
import type { HistoryEntry, KvValue } from '../../src/check/history.js'
import { largePlan, runSequentially, type PlannedOp } from './sequential-run.js'

// Few keys and few small values, so reads often meet equal values of both
// types and appends across types; windows up to 5 linearization points wide
// on each side, so many operations overlap.
const valueArbitrary: fc.Arbitrary<KvValue> = fc.oneof(
  fc.constantFrom<KvValue>('a', 'b', 'ab', ''),
  fc.constantFrom<KvValue>(Uint8Array.of(97), Uint8Array.of(98), Uint8Array.of()),
)

const plannedOpArbitrary: fc.Arbitrary<PlannedOp> = fc.record({
  key: fc.integer({ min: 0, max: 2 }),
  op: fc.constantFrom('get', 'get', 'put', 'append', 'append', 'delete'),
  value: valueArbitrary,
  client: fc.integer({ min: 0, max: 4 }),
  lead: fc.integer({ min: 0, max: 50 }),
  lag: fc.integer({ min: 0, max: 50 }),
  outcome: fc.constantFrom('returned', 'returned', 'returned', 'returned', 'unknownTaken', 'unknownNotTaken'),
})

const planArbitrary = fc.array(plannedOpArbitrary, { minLength: 1, maxLength: 60 })

/** No value in the plans contains U+0000, so no state can ever equal this. */
const NEVER_WRITTEN = '\u0000never written'

function returnedGets(history: readonly HistoryEntry[]): number[] {
  return history.flatMap((entry, index) => (entry.op === 'get' && entry.returnTime !== undefined ? [index] : []))
}

t.test('property: every history of a real sequential model with random concurrency windows is linearizable', async (t) => {
  fc.assert(
    fc.property(planArbitrary, (plan) => {
      const result = checkLinearizability(runSequentially(plan))
      if (result.result !== 'ok') throw new Error(`judged ${result.result}: ${JSON.stringify(result)}`)
    }),
    { seed: 4, numRuns: 400 },
  )
  t.pass('all runs agreed')
})

t.test('property: changing one read in such a history to a value never written makes it illegal at that key', async (t) => {
  const withRead = fc
    .tuple(planArbitrary, fc.nat())
    .map(([plan, choice]) => ({ history: runSequentially(plan), choice }))
    .filter(({ history }) => returnedGets(history).length > 0)
  fc.assert(
    fc.property(withRead, ({ history, choice }) => {
      const gets = returnedGets(history)
      const index = gets[choice % gets.length] as number
      const original = history[index] as HistoryEntry
      const mutated = history.map((entry, at) => (at === index ? { ...original, output: NEVER_WRITTEN } : entry))
      const result = checkLinearizability(mutated)
      if (result.result !== 'illegal' || result.violation.key !== original.key) {
        throw new Error(`expected illegal at ${original.key}, got ${JSON.stringify(result)}`)
      }
    }),
    { seed: 5, numRuns: 400 },
  )
  t.pass('all runs agreed')
})

t.test('a generated 20,000-operation history over 200 keys with timeouts checks as linearizable', async (t) => {
  const plan = largePlan(11, { operations: 20_000, keys: 200, clients: 32, maxWindowPoints: 4, unknownRate: 0.01 })
  const result = checkLinearizability(runSequentially(plan))
  t.equal(result.result, 'ok')
  t.ok(result.stats.excluded > 0, 'unknown-outcome gets were left out')
})

/**
 * The definition itself, by exhaustive search: some order of the operations
 * respects real time (one that returned before another was called comes
 * first), runs on a plain Map with every known result matching, and may leave
 * out operations whose outcome is unknown (as if they came last). An append
 * refused with ERR_TYPE_MISMATCH reads that the key holds the other type.
 */
function linearizableByDefinition(history: readonly HistoryEntry[]): boolean {
  const entries = history.filter((entry) => !(entry.op === 'get' && entry.returnTime === undefined))
  const placed = new Set<HistoryEntry>()
  const explore = (store: Map<string, KvValue>): boolean => {
    if (entries.every((entry) => placed.has(entry) || entry.returnTime === undefined)) return true
    return entries.some((entry) => {
      if (placed.has(entry) || entries.some((other) => !placed.has(other) && other !== entry && (other.returnTime ?? Infinity) < entry.callTime)) return false
      const next = new Map(store)
      if (!applyByDefinition(next, entry)) return false
      placed.add(entry)
      const found = explore(next)
      placed.delete(entry)
      return found
    })
  }
  return explore(new Map())
}

function applyByDefinition(store: Map<string, KvValue>, entry: HistoryEntry): boolean {
  const current = store.get(entry.key)
  const known = entry.returnTime !== undefined
  if (entry.error !== undefined) return current !== undefined && typeof current !== typeof entry.input
  switch (entry.op) {
    case 'get':
      return sameValue(current, entry.output as KvValue | undefined)
    case 'put':
      store.set(entry.key, entry.input as KvValue)
      return true
    case 'delete':
      store.delete(entry.key)
      return !known || entry.output === (current !== undefined)
    case 'append': {
      const input = entry.input as KvValue
      if (current === undefined) store.set(entry.key, input)
      else if (typeof current === 'string' && typeof input === 'string') store.set(entry.key, current + input)
      else if (current instanceof Uint8Array && input instanceof Uint8Array) store.set(entry.key, Buffer.concat([current, input]))
      else return !known
      return true
    }
  }
}

function sameValue(left: KvValue | undefined, right: KvValue | undefined): boolean {
  if (typeof left === 'string' || typeof right === 'string' || left === undefined || right === undefined) return left === right
  return Buffer.from(left).equals(right)
}

const smallValueArbitrary = fc.constantFrom<KvValue>('a', 'b', Uint8Array.of(97))
const readValueArbitrary = fc.constantFrom<KvValue | undefined>(undefined, 'a', 'b', 'ab', 'ba', 'aa', Uint8Array.of(97), Uint8Array.of(97, 97))

/** Arbitrary results, not only the ones a store could give: about half the histories are illegal. */
const arbitraryEntry: fc.Arbitrary<HistoryEntry> = fc
  .record({
    op: fc.constantFrom('get', 'get', 'put', 'append', 'append', 'delete'),
    value: smallValueArbitrary,
    read: readValueArbitrary,
    existed: fc.boolean(),
    refused: fc.boolean(),
    callTime: fc.integer({ min: 0, max: 12 }),
    duration: fc.option(fc.integer({ min: 0, max: 6 }), { freq: 4 }),
  })
  .map(({ op, value, read, existed, refused, callTime, duration }) => {
    const base: HistoryEntry = { clientId: 'c', op, key: 'k', callTime, ...(op === 'put' || op === 'append' ? { input: value } : {}) }
    if (duration === null) return base
    const returned = { ...base, returnTime: callTime + duration }
    if (op === 'append' && refused) return { ...returned, error: 'ERR_TYPE_MISMATCH' }
    if (op === 'get') return read === undefined ? returned : { ...returned, output: read }
    return op === 'delete' ? { ...returned, output: existed } : returned
  })

t.test('property: on small arbitrary histories the checker agrees with an exhaustive search of the definition', async (t) => {
  const verdicts = { ok: 0, illegal: 0 }
  fc.assert(
    fc.property(fc.array(arbitraryEntry, { minLength: 1, maxLength: 7 }), (history) => {
      const expected = linearizableByDefinition(history) ? 'ok' : 'illegal'
      const result = checkLinearizability(history)
      verdicts[expected]++
      if (result.result !== expected) throw new Error(`expected ${expected}, got ${result.result}`)
    }),
    { seed: 6, numRuns: 3000 },
  )
  t.ok(verdicts.ok > 300 && verdicts.illegal > 300, `both verdicts well represented: ${JSON.stringify(verdicts)}`)
})
