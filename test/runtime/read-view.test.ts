import { performance } from 'node:perf_hooks'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import {
  MAX_CACHED_VALUE_BYTES,
  NOT_IN_VIEW,
  ReadViewReader,
  ReadViewWriter,
  createReadViewBuffer,
  sharedClockMs,
  type ViewRead,
  type ViewValue,
} from '../../src/runtime/read-view.js'
import {
  CONTROL_DONE,
  CONTROL_OPS,
  CONTROL_READY,
  CONTROL_STOP,
  CONTROL_WORDS,
  DELETED_SHARD,
  RELOADED_SHARD,
  STRESS_KEY_COUNT,
  STRESS_SHARDS,
  stressCounter,
  stressKey,
  stressShard,
  type ReadViewWriterInit,
  type StressMode,
} from './fixtures/read-view-stress.js'

const WRITER_URL = new URL('./fixtures/read-view-writer.js', import.meta.url)

/** Mirrors the layout in read-view.ts: Int32 word 0 is the generation, bumped twice by every rebuild, clearShard and reset. */
const GENERATION_WORD = 0
/** Mirrors the layout in read-view.ts: Int32 word 3 is the lease's sequence, bumped twice by every change of the lease. */
const LEASE_SEQ_WORD = 3

const SHARDS = 3
/** Keys of the model tests: the empty key, ASCII, Cyrillic, and a surrogate pair. */
const KEYS = ['', 'a', 'ключ', '🔑 key'] as const
const NEVER_SET_KEY = 'never-set'
/**
 * Bounds a property's runs and its shrinking: shrinking a long failing op
 * sequence can take many minutes; past the limit the property fails with
 * the smallest counterexample found so far.
 */
const PROPERTY_LIMITS = { interruptAfterTimeLimit: 20_000, markInterruptAsFailure: true } as const

/** Any instant will do: the tests hand nowMs to get(). */
const NOW_MS = 1_000_000

/** The smallest buffer createReadViewBuffer accepts for `shards`, found by bisection so the test does not hard-code the layout. */
function smallestViewBytes(shards: number): number {
  const accepts = (bytes: number): boolean => {
    try {
      createReadViewBuffer(shards, bytes)
      return true
    } catch (error) {
      if (error instanceof RangeError) return false
      throw error
    }
  }
  let refused = 0
  let accepted = 1 << 24
  while (accepted - refused > 1) {
    const middle = Math.floor((refused + accepted) / 2)
    if (accepts(middle)) accepted = middle
    else refused = middle
  }
  return accepted
}

function utf8Bytes(value: ViewValue): number {
  return typeof value === 'string' ? Buffer.byteLength(value) : value.byteLength
}

/** Same type and same contents; NOT_IN_VIEW and undefined only equal themselves. */
function sameRead(actual: ViewRead, expected: ViewRead): boolean {
  if (typeof expected === 'string') return typeof actual === 'string' && actual === expected
  if (expected instanceof Uint8Array) return actual instanceof Uint8Array && Buffer.compare(actual, expected) === 0
  return actual === expected
}

function describeRead(read: ViewRead): string {
  if (read === NOT_IN_VIEW) return 'NOT_IN_VIEW'
  if (read === undefined) return 'undefined'
  if (typeof read === 'string') return `string ${JSON.stringify(read)}`
  return `bytes [${Array.from(read).join(',')}]`
}

function filledBytes(lengthBytes: number, value: number): Uint8Array {
  return new Uint8Array(lengthBytes).fill(value)
}

function openView(shards: number, bytes: number): { buffer: SharedArrayBuffer; writer: ReadViewWriter; reader: ReadViewReader } {
  const buffer = createReadViewBuffer(shards, bytes)
  return { buffer, writer: new ReadViewWriter(buffer, shards), reader: new ReadViewReader(buffer, shards) }
}

t.test('createReadViewBuffer rejects bad shard counts and sizes with a RangeError', async (t) => {
  const smallest = smallestViewBytes(4)
  for (const shards of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => createReadViewBuffer(shards, 1 << 20), RangeError, `shards ${shards}`)
  }
  for (const bytes of [0, -1, 1024, smallest - 1, smallest + 0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => createReadViewBuffer(4, bytes), RangeError, `bytes ${bytes}`)
  }
  t.equal(createReadViewBuffer(4, smallest).byteLength, smallest)
  t.ok(smallestViewBytes(1000) > smallest, 'more shards need more header')
  t.ok(createReadViewBuffer(4).byteLength > smallest, 'the default size is allowed')
})

t.test('a fresh view answers nothing: no shard served, no lease', async (t) => {
  const { writer, reader } = openView(SHARDS, smallestViewBytes(SHARDS))
  t.ok(writer.set(0, 'k', 'v'))
  t.equal(reader.get(0, 'k', NOW_MS), NOT_IN_VIEW, 'neither served nor leased')
  t.ok(writer.setServing(0, true))
  t.equal(reader.get(0, 'k', NOW_MS), NOT_IN_VIEW, 'served but before any lease')
  writer.setLeaseEnd(NOW_MS + 1000)
  t.equal(reader.get(0, 'k', NOW_MS), 'v')
})

t.test('the lease: answers strictly before its end, none at or after it, none once set to -Infinity', async (t) => {
  const { writer, reader } = openView(SHARDS, smallestViewBytes(SHARDS))
  const endMs = sharedClockMs() + 60_000
  writer.set(1, 'k', 'v')
  writer.setServing(1, true)
  writer.setLeaseEnd(endMs)
  t.equal(reader.get(1, 'k', sharedClockMs()), 'v', 'now, on the shared clock')
  t.equal(reader.get(1, 'k', endMs - 1), 'v', 'a millisecond before the end')
  t.equal(reader.get(1, 'absent', endMs - 1), undefined, 'an absent key is answered too')
  t.ok(reader.serves(1, endMs - 1))
  for (const nowMs of [endMs, endMs + 1, Number.POSITIVE_INFINITY]) {
    t.equal(reader.get(1, 'k', nowMs), NOT_IN_VIEW, `at end + ${nowMs - endMs} ms`)
    t.equal(reader.get(1, 'absent', nowMs), NOT_IN_VIEW, `absent key at end + ${nowMs - endMs} ms`)
    t.notOk(reader.serves(1, nowMs))
  }
  writer.setLeaseEnd(endMs + 1000)
  t.equal(reader.get(1, 'k', endMs), 'v', 'an extended lease answers again')
  writer.setLeaseEnd(Number.NEGATIVE_INFINITY)
  t.equal(reader.get(1, 'k', Number.NEGATIVE_INFINITY), NOT_IN_VIEW, '-Infinity: not even at the earliest instant')
  t.equal(reader.get(1, 'k', sharedClockMs()), NOT_IN_VIEW)
  t.notOk(reader.serves(1, sharedClockMs()))
  t.ok(writer.isServing(1), 'ending the lease does not change which shards are served')
})

t.test('a writer that died between the two bumps of a seqlock leaves a view that its successor\'s reset makes answer again', async (t) => {
  for (const word of [GENERATION_WORD, LEASE_SEQ_WORD]) {
    const { buffer, writer } = openView(SHARDS, smallestViewBytes(SHARDS))
    writer.set(0, 'k', 'old')
    writer.setServing(0, true)
    writer.setLeaseEnd(NOW_MS + 1000)
    // A worker terminated inside a rebuild or clearShard (word 0), or inside setLeaseEnd (word 3), left it odd.
    Atomics.add(new Int32Array(buffer), word, 1)
    const reader = new ReadViewReader(buffer, SHARDS)
    t.equal(reader.get(0, 'k', NOW_MS), NOT_IN_VIEW, `word ${word} odd: the dead writer's view answers nothing`)
    const successor = new ReadViewWriter(buffer, SHARDS)
    successor.reset()
    successor.set(0, 'k', 'new')
    successor.setServing(0, true)
    successor.setLeaseEnd(NOW_MS + 1000)
    t.equal(reader.get(0, 'k', NOW_MS), 'new', `word ${word}: the successor's view answers`)
    t.equal(Atomics.load(new Int32Array(buffer), word) % 2, 0, `word ${word} is even again while the writer is quiet`)
  }
})

t.test('values are copied in and out, and come back in the type stored', async (t) => {
  const { writer, reader } = openView(SHARDS, smallestViewBytes(SHARDS))
  writer.setServing(0, true)
  writer.setLeaseEnd(NOW_MS + 1000)
  const stored = Uint8Array.from([1, 2, 3])
  writer.set(0, 'bytes', stored)
  writer.set(0, 'text', '123')
  writer.set(0, 'buffer', Buffer.from('a Buffer is bytes'))
  stored[0] = 99
  const read = reader.get(0, 'bytes', NOW_MS)
  t.same(read, Uint8Array.from([1, 2, 3]), 'changing the stored array after set changes nothing')
  if (read instanceof Uint8Array) read[1] = 99
  t.same(reader.get(0, 'bytes', NOW_MS), Uint8Array.from([1, 2, 3]), 'changing a read copy changes nothing')
  t.equal(reader.get(0, 'text', NOW_MS), '123', 'a string of digits stays a string')
  t.same(reader.get(0, 'buffer', NOW_MS), new Uint8Array(Buffer.from('a Buffer is bytes')))
  t.ok(reader.get(0, 'buffer', NOW_MS) instanceof Uint8Array)
})

t.test(`values over MAX_CACHED_VALUE_BYTES (${MAX_CACHED_VALUE_BYTES}) are present but read NOT_IN_VIEW; overwrite and delete work`, async (t) => {
  const { writer, reader } = openView(SHARDS, 1 << 20)
  writer.setServing(0, true)
  writer.setLeaseEnd(NOW_MS + 1000)
  const largest = 'x'.repeat(MAX_CACHED_VALUE_BYTES)
  const bigAscii = 'x'.repeat(MAX_CACHED_VALUE_BYTES + 1)
  // Fewer characters than the limit, more UTF-8 bytes: the limit is in bytes.
  const bigUtf8 = 'é'.repeat(MAX_CACHED_VALUE_BYTES / 2 + 1)
  const bigBytes = filledBytes(MAX_CACHED_VALUE_BYTES + 1, 7)
  t.ok(writer.set(0, 'largest', largest))
  t.ok(writer.set(0, 'big-ascii', bigAscii))
  t.ok(writer.set(0, 'big-utf8', bigUtf8))
  t.ok(writer.set(0, 'big-bytes', bigBytes))
  t.ok(writer.set(0, 'small', 'small'))
  t.equal(reader.get(0, 'largest', NOW_MS), largest, 'exactly the limit is cached')
  for (const key of ['big-ascii', 'big-utf8', 'big-bytes']) t.equal(reader.get(0, key, NOW_MS), NOT_IN_VIEW, key)
  t.equal(reader.get(0, 'small', NOW_MS), 'small', 'the shard is still served')
  t.equal(writer.records, 5)

  t.ok(writer.set(0, 'big-ascii', 'now small'))
  t.equal(reader.get(0, 'big-ascii', NOW_MS), 'now small', 'overwriting a large value with a small one caches it')
  writer.delete(0, 'big-utf8')
  t.equal(reader.get(0, 'big-utf8', NOW_MS), undefined, 'a deleted large value is absent')
  t.ok(writer.set(0, 'small', bigBytes))
  t.equal(reader.get(0, 'small', NOW_MS), NOT_IN_VIEW, 'overwriting a small value with a large one uncaches it')
  t.equal(writer.records, 4)
})

t.test('a shard that overflows is dropped and refused until reset; the other shards read on', async (t) => {
  const { writer, reader } = openView(SHARDS, smallestViewBytes(SHARDS))
  for (let shard = 0; shard < SHARDS; shard++) writer.setServing(shard, true)
  writer.setLeaseEnd(NOW_MS + 1000)
  writer.set(1, 'one', 'value of shard 1')
  writer.set(2, 'two', Uint8Array.from([2]))
  writer.set(0, 'early', 'in shard 0 before the overflow')
  let stored = 0
  while (stored < 10_000 && writer.set(0, `fill-${stored}`, filledBytes(100, stored & 0xff))) stored++
  t.ok(stored > 10 && stored < 10_000, `set() refused shard 0's write after ${stored} stored values`)

  t.notOk(writer.isServing(0))
  t.notOk(reader.serves(0, NOW_MS))
  t.notOk(writer.setServing(0, true), 'an overflowed shard cannot be served')
  t.notOk(writer.isServing(0))
  t.notOk(writer.set(0, 'tiny', ''), 'nor written')
  t.equal(reader.get(0, 'early', NOW_MS), NOT_IN_VIEW)
  t.equal(reader.get(0, 'fill-0', NOW_MS), NOT_IN_VIEW)
  t.equal(writer.records, 2, "the overflowed shard's records are dropped")
  t.equal(reader.get(1, 'one', NOW_MS), 'value of shard 1')
  t.same(reader.get(2, 'two', NOW_MS), Uint8Array.from([2]))
  t.ok(writer.set(1, 'after', 'still writable'), 'other shards still take writes')
  t.equal(reader.get(1, 'after', NOW_MS), 'still writable')

  writer.reset()
  t.equal(reader.get(1, 'one', NOW_MS), NOT_IN_VIEW, 'reset serves nothing')
  t.equal(writer.records, 0)
  writer.setLeaseEnd(NOW_MS + 1000)
  t.ok(writer.set(0, 'early', 'again'), 'after reset the shard takes writes')
  t.ok(writer.setServing(0, true), 'and can be served')
  t.equal(reader.get(0, 'early', NOW_MS), 'again')
  t.equal(reader.get(0, 'fill-0', NOW_MS), undefined)
})

t.test('when the view is full, the shard whose write is refused is dropped; the shards already in it read on', async (t) => {
  const { writer, reader } = openView(SHARDS, smallestViewBytes(SHARDS))
  const fill = (index: number): Uint8Array => filledBytes(100, index & 0xff)
  writer.setServing(0, true)
  let fitting = 0
  while (fitting < 10_000 && writer.set(0, `fill-${fitting}`, fill(fitting))) fitting++
  writer.reset()
  writer.setLeaseEnd(NOW_MS + 1000)
  let stored = 0
  while (stored < fitting && writer.set(0, `fill-${stored}`, fill(stored))) stored++
  t.equal(stored, fitting, `after reset shard 0 takes its ${fitting} values again`)
  t.ok(writer.setServing(0, true))
  t.ok(writer.setServing(1, true))
  let refused = false
  for (let index = 0; index < 100 && !refused; index++) refused = !writer.set(1, `more-${index}`, fill(1))
  t.ok(refused, 'shard 1 is refused once the view is full')
  t.notOk(writer.isServing(1))
  t.equal(reader.get(1, 'more-0', NOW_MS), NOT_IN_VIEW)
  t.ok(writer.isServing(0))
  let intact = 0
  for (let index = 0; index < stored; index++) if (sameRead(reader.get(0, `fill-${index}`, NOW_MS), fill(index))) intact++
  t.equal(intact, stored, 'every value of shard 0 reads back')
})

type LeaseState = 'running' | 'ended' | 'none'

type ViewOp =
  | { readonly kind: 'set'; readonly shard: number; readonly key: string; readonly value: ViewValue }
  | { readonly kind: 'delete'; readonly shard: number; readonly key: string }
  | { readonly kind: 'clearShard'; readonly shard: number }
  | { readonly kind: 'setServing'; readonly shard: number; readonly serving: boolean }
  | { readonly kind: 'lease'; readonly lease: LeaseState }
  | { readonly kind: 'reset' }

function viewValue(maxBytes: number): fc.Arbitrary<ViewValue> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom<ViewValue>('', new Uint8Array(0)) },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: Math.floor(maxBytes / 4), size: 'max' }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: maxBytes, size: 'max' }) },
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: maxBytes, size: 'max' }) },
  )
}

/** Weights chosen so that a run rebuilds several times between resets and reads are mostly answered. */
function viewOp(maxValueBytes: number): fc.Arbitrary<ViewOp> {
  const shard = fc.nat(SHARDS - 1)
  const key = fc.constantFrom(...KEYS)
  const serving = fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) })
  const lease = fc.oneof(
    { weight: 3, arbitrary: fc.constant<LeaseState>('running') },
    { weight: 1, arbitrary: fc.constantFrom<LeaseState>('ended', 'none') },
  )
  return fc.oneof(
    { weight: 60, arbitrary: fc.record({ kind: fc.constant('set' as const), shard, key, value: viewValue(maxValueBytes) }) },
    { weight: 20, arbitrary: fc.record({ kind: fc.constant('delete' as const), shard, key }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('clearShard' as const), shard }) },
    { weight: 12, arbitrary: fc.record({ kind: fc.constant('setServing' as const), shard, serving }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('lease' as const), lease }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const) }) },
  )
}

/** What the view should hold: the model the reader is checked against after every op. */
class ViewModel {
  readonly entries = Array.from({ length: SHARDS }, () => new Map<string, ViewValue>())
  readonly serving = new Set<number>()
  readonly overflowed = new Set<number>()
  lease: LeaseState = 'none'

  get records(): number {
    return this.entries.reduce((sum, shard) => sum + shard.size, 0)
  }

  /** Bytes of every live key and value, with `extra` more. */
  payloadBytes(extra: number): number {
    let bytes = extra
    for (const shard of this.entries) for (const [key, value] of shard) bytes += Buffer.byteLength(key) + utf8Bytes(value)
    return bytes
  }

  clear(shard: number): void {
    this.entries[shard]!.clear()
    this.serving.delete(shard)
  }

  expected(shard: number, key: string): ViewRead {
    if (!this.serving.has(shard) || this.lease !== 'running') return NOT_IN_VIEW
    return this.entries[shard]!.get(key)
  }
}

interface ModelRunStats {
  rebuilds: number
  overflows: number
  /** Reads the view answered (a value or undefined), against all reads checked. */
  answeredReads: number
  reads: number
}

/** The view refuses a write only when the live data is well past this, even in the smallest buffer. */
const ALWAYS_FITS_PAYLOAD_BYTES = 1024

const LEASE_END_MS: Record<LeaseState, number> = { running: NOW_MS + 1000, ended: NOW_MS, none: Number.NEGATIVE_INFINITY }

/** Applies `op` to the writer and the model; throws when the writer's answer is not the model's. */
function applyOp(writer: ReadViewWriter, model: ViewModel, op: ViewOp, stats: ModelRunStats): void {
  switch (op.kind) {
    case 'set': {
      const wasOverflowed = model.overflowed.has(op.shard)
      const stored = writer.set(op.shard, op.key, op.value)
      if (stored && wasOverflowed) throw new Error(`set stored into overflowed shard ${op.shard}`)
      if (stored) {
        model.entries[op.shard]!.set(op.key, op.value)
      } else if (!wasOverflowed) {
        const payloadBytes = model.payloadBytes(Buffer.byteLength(op.key) + utf8Bytes(op.value))
        if (payloadBytes <= ALWAYS_FITS_PAYLOAD_BYTES) throw new Error(`set refused with only ${payloadBytes} bytes of keys and values`)
        stats.overflows++
        model.clear(op.shard)
        model.overflowed.add(op.shard)
      }
      return
    }
    case 'delete':
      writer.delete(op.shard, op.key)
      model.entries[op.shard]!.delete(op.key)
      return
    case 'clearShard':
      writer.clearShard(op.shard)
      model.clear(op.shard)
      model.overflowed.delete(op.shard)
      return
    case 'setServing': {
      const accepted = writer.setServing(op.shard, op.serving)
      const expected = !(op.serving && model.overflowed.has(op.shard))
      if (accepted !== expected) throw new Error(`setServing(${op.shard}, ${op.serving}) returned ${accepted}`)
      if (accepted && op.serving) model.serving.add(op.shard)
      if (accepted && !op.serving) model.serving.delete(op.shard)
      return
    }
    case 'lease':
      writer.setLeaseEnd(LEASE_END_MS[op.lease])
      model.lease = op.lease
      return
    case 'reset':
      writer.reset()
      for (let shard = 0; shard < SHARDS; shard++) model.clear(shard)
      model.overflowed.clear()
      model.lease = 'none'
      return
    default: {
      const never: never = op
      throw new Error(`unknown op ${JSON.stringify(never)}`)
    }
  }
}

/** Throws unless `reader` and `writer` agree with the model on every key of every shard. */
function checkAgainstModel(reader: ReadViewReader, writer: ReadViewWriter, model: ViewModel, where: string, stats: ModelRunStats): void {
  if (writer.records !== model.records) throw new Error(`${where}: writer.records is ${writer.records}, model has ${model.records}`)
  for (let shard = 0; shard < SHARDS; shard++) {
    if (writer.isServing(shard) !== model.serving.has(shard)) throw new Error(`${where}: isServing(${shard}) is ${writer.isServing(shard)}`)
    const serves = model.serving.has(shard) && model.lease === 'running'
    if (reader.serves(shard, NOW_MS) !== serves) throw new Error(`${where}: serves(${shard}) is ${!serves}`)
    for (const key of [...KEYS, NEVER_SET_KEY]) {
      const actual = reader.get(shard, key, NOW_MS)
      const expected = model.expected(shard, key)
      stats.reads++
      if (expected !== NOT_IN_VIEW) stats.answeredReads++
      if (!sameRead(actual, expected)) {
        throw new Error(`${where}: shard ${shard} key ${JSON.stringify(key)} read ${describeRead(actual)}, expected ${describeRead(expected)}`)
      }
    }
  }
}

/** Runs `ops` from a view with every shard served under a running lease; the reader must match the model after every op. */
function runAgainstModel(ops: readonly ViewOp[], viewBytes: number, stats: ModelRunStats): void {
  const { buffer, writer, reader } = openView(SHARDS, viewBytes)
  const generation = new Int32Array(buffer, GENERATION_WORD * 4, 1)
  const model = new ViewModel()
  const start: ViewOp[] = [{ kind: 'lease', lease: 'running' }]
  for (let shard = 0; shard < SHARDS; shard++) start.push({ kind: 'setServing', shard, serving: true })
  for (const [index, op] of [...start, ...ops].entries()) {
    const generationBefore = Atomics.load(generation, 0)
    const overflowsBefore = stats.overflows
    applyOp(writer, model, op, stats)
    // A set moves the generation for a rebuild, or for the clearShard of an overflow.
    if (op.kind === 'set') stats.rebuilds += (Atomics.load(generation, 0) - generationBefore) / 2 - (stats.overflows - overflowsBefore)
    checkAgainstModel(reader, writer, model, `after op ${index - start.length} (${op.kind})`, stats)
  }
  checkAgainstModel(new ReadViewReader(buffer, SHARDS), writer, model, 'a reader opened at the end', stats)
}

t.test('small values on the smallest buffer: the reader matches a Map model after every op, across many rebuilds', async (t) => {
  const viewBytes = smallestViewBytes(SHARDS)
  const stats: ModelRunStats = { rebuilds: 0, overflows: 0, answeredReads: 0, reads: 0 }
  const runs = 150
  fc.assert(
    fc.property(fc.array(viewOp(200), { minLength: 100, maxLength: 300, size: 'max' }), (ops) => runAgainstModel(ops, viewBytes, stats)),
    { seed: 20240701, numRuns: runs, ...PROPERTY_LIMITS },
  )
  t.equal(stats.overflows, 0, 'every write fitted')
  t.ok(stats.answeredReads > stats.reads / 3, `${stats.answeredReads} of ${stats.reads} reads answered`)
  t.ok(stats.rebuilds > runs, `${stats.rebuilds} rebuilds over ${runs} runs`)
})

t.test('large values on the smallest buffer: overflows drop only the refused shard, which clearShard or reset make servable again', async (t) => {
  const viewBytes = smallestViewBytes(SHARDS)
  const stats: ModelRunStats = { rebuilds: 0, overflows: 0, answeredReads: 0, reads: 0 }
  const runs = 150
  fc.assert(
    fc.property(fc.array(viewOp(1200), { minLength: 20, maxLength: 150, size: 'max' }), (ops) => runAgainstModel(ops, viewBytes, stats)),
    { seed: 20240702, numRuns: runs, ...PROPERTY_LIMITS },
  )
  t.ok(stats.overflows > runs / 2, `${stats.overflows} overflows over ${runs} runs`)
  t.ok(stats.answeredReads > stats.reads / 4, `${stats.answeredReads} of ${stats.reads} reads answered`)
  t.ok(stats.rebuilds > runs, `${stats.rebuilds} rebuilds over ${runs} runs`)
})

/** Mirrors the layout in read-view.ts: a 64-byte header, the Int32 shard states rounded up to 8 bytes, then the two halves. */
const FIRST_HALF_BYTE = 64 + Math.ceil((SHARDS * 4) / 8) * 8
/** Mirrors the layout: Int32 words 1 and 2 of the header are the active half and the index size. */
const HALF_AND_INDEX_WORDS = [1, 2] as const

t.test('a reader neither throws nor hangs whatever bytes the halves and their header words hold', async (t) => {
  const viewBytes = smallestViewBytes(SHARDS)
  const headerJunk = fc.option(
    fc.record({
      word: fc.constantFrom(...HALF_AND_INDEX_WORDS),
      value: fc.oneof(fc.integer(), fc.constantFrom(0, 1, 2, 1024, 2048, 4096, 8192)),
    }),
  )
  const junkByte = fc.record({ at: fc.integer({ min: FIRST_HALF_BYTE, max: viewBytes - 1 }), byte: fc.nat(255) })
  const junk = fc.array(junkByte, { maxLength: 400, size: 'max' })
  fc.assert(
    fc.property(junk, headerJunk, (junkBytes, junkWord) => {
      const { buffer, writer, reader } = openView(SHARDS, viewBytes)
      for (let shard = 0; shard < SHARDS; shard++) writer.setServing(shard, true)
      writer.setLeaseEnd(NOW_MS + 1000)
      for (const [index, key] of KEYS.entries()) writer.set(index % SHARDS, key, 'v'.repeat(index * 30))
      const bytes = new Uint8Array(buffer)
      for (const { at, byte } of junkBytes) bytes[at] = byte
      if (junkWord !== null) new Int32Array(buffer)[junkWord.word] = junkWord.value
      for (let shard = 0; shard < SHARDS; shard++) {
        for (const key of [...KEYS, NEVER_SET_KEY, 'x'.repeat(300)]) {
          const read = reader.get(shard, key, NOW_MS)
          if (!(read === NOT_IN_VIEW || read === undefined || typeof read === 'string' || read instanceof Uint8Array)) return false
        }
      }
      return true
    }),
    { seed: 20240703, numRuns: 300, ...PROPERTY_LIMITS },
  )
  t.pass('300 corrupted views read without an exception')
})

/** How long the main thread reads while the worker writes. */
const STRESS_READ_MS = 1200
const WORKER_WAIT_LIMIT_MS = 10_000
/** Reads between two yields to the event loop, so that a worker error is noticed. */
const READS_PER_SLICE = 5000
const STRESS_OP_LIMIT = 100_000_000
const MAX_REPORTED_ANOMALIES = 10

/** Waits, yielding to the event loop, until `word` is set, the worker has failed, or WORKER_WAIT_LIMIT_MS pass. */
async function waitForWord(words: Int32Array, word: number, what: string, failed: () => boolean): Promise<void> {
  const deadlineMs = performance.now() + WORKER_WAIT_LIMIT_MS
  while (Atomics.load(words, word) === 0 && !failed()) {
    if (performance.now() > deadlineMs) throw new Error(`the writer did not ${what} within ${WORKER_WAIT_LIMIT_MS} ms`)
    await yieldToEventLoop()
  }
}

/** What the reading thread saw. */
class StressTally {
  answered = 0
  absent = 0
  notInView = 0
  /** Reads that returned a higher counter than the last read of the same key: the writer moved while we read. */
  advances = 0
  readonly anomalies: string[] = []
  anomalyCount = 0
  private readonly lastCounter = new Array<number>(STRESS_KEY_COUNT).fill(-1)

  /** Checks one read of key `keyIndex`. */
  check(keyIndex: number, read: ViewRead): void {
    if (read === NOT_IN_VIEW) {
      this.notInView++
      return
    }
    if (read === undefined) {
      this.absent++
      // Only DELETED_SHARD's keys are ever absent while their shard is served.
      if (stressShard(keyIndex) !== DELETED_SHARD) this.anomaly(`key ${keyIndex} (shard ${stressShard(keyIndex)}) read absent`)
      return
    }
    this.answered++
    const counter = stressCounter(keyIndex, read)
    if (counter === undefined) {
      this.anomaly(`key ${keyIndex} read a malformed or foreign value: ${describeRead(read).slice(0, 200)}`)
      return
    }
    const last = this.lastCounter[keyIndex]!
    if (counter < last) this.anomaly(`key ${keyIndex} went back from counter ${last} to ${counter}`)
    if (counter > last) {
      if (last >= 0) this.advances++
      this.lastCounter[keyIndex] = counter
    }
  }

  anomaly(description: string): void {
    this.anomalyCount++
    if (this.anomalies.length < MAX_REPORTED_ANOMALIES) this.anomalies.push(description)
  }
}

interface StressRun {
  readonly tally: StressTally
  readonly writerSteps: number
  /** Rebuilds and clearShard calls, from the generation counter. */
  readonly generationMoves: number
}

interface RunningWriter {
  readonly view: SharedArrayBuffer
  readonly words: Int32Array
  /** The worker's error, once it has thrown. */
  failure(): unknown
  /** Ends the worker wherever it is, as the fault layer's kill does. */
  kill(): Promise<number>
}

/**
 * Starts the writer worker in `mode` on `view` (a fresh one of `viewBytes`
 * unless given: the worker resets it first, as a restarted actor does) and
 * waits until it has loaded every shard.
 */
async function startWriter(t: Test, mode: StressMode, viewBytes: number, seed: number, view = createReadViewBuffer(STRESS_SHARDS, viewBytes)): Promise<RunningWriter> {
  const control = new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT)
  const clock = new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT)
  const words = new Int32Array(control)
  const init: ReadViewWriterInit = { mode, view, control, clock, seed, opLimit: STRESS_OP_LIMIT }
  const clockBeforeMs = sharedClockMs()
  // No execArgv: the test runner's loaders would slow the worker's start.
  const worker = new Worker(WRITER_URL, { workerData: init, execArgv: [] })
  let failure: unknown
  worker.once('error', (error) => (failure = error))
  t.teardown(() => worker.terminate())
  await waitForWord(words, CONTROL_READY, 'load the view', () => failure !== undefined)
  if (failure !== undefined) throw failure
  const clockAfterMs = sharedClockMs()
  const workerClockMs = new Float64Array(clock)[0]!
  t.ok(
    clockBeforeMs <= workerClockMs + 1 && workerClockMs <= clockAfterMs + 1,
    `sharedClockMs() agrees across threads (the worker's reading is ${(workerClockMs - clockBeforeMs).toFixed(1)} ms ` +
      `into the ${(clockAfterMs - clockBeforeMs).toFixed(1)} ms this thread waited)`,
  )
  return { view, words, failure: () => failure, kill: () => worker.terminate() }
}

/**
 * Runs the writer in `mode`, reads the keys `keyIndexes` round robin in this
 * thread for STRESS_READ_MS, stops the writer, reads each key once more with
 * the view quiet, and asserts that no read was an anomaly.
 */
async function runStress(t: Test, mode: StressMode, keyIndexes: readonly number[], viewBytes: number, seed: number, view?: SharedArrayBuffer): Promise<StressRun> {
  const writer = await startWriter(t, mode, viewBytes, seed, view)
  const reader = new ReadViewReader(writer.view, STRESS_SHARDS)
  const generation = new Int32Array(writer.view, GENERATION_WORD * 4, 1)
  const generationAtStart = Atomics.load(generation, 0)
  const tally = new StressTally()
  const readKey = (keyIndex: number): ViewRead => reader.get(stressShard(keyIndex), stressKey(keyIndex), sharedClockMs())
  let next = 0
  const deadlineMs = performance.now() + STRESS_READ_MS
  while (performance.now() < deadlineMs && writer.failure() === undefined) {
    for (let read = 0; read < READS_PER_SLICE; read++) {
      tally.check(keyIndexes[next]!, readKey(keyIndexes[next]!))
      next = (next + 1) % keyIndexes.length
    }
    await yieldToEventLoop()
  }
  Atomics.store(writer.words, CONTROL_STOP, 1)
  await waitForWord(writer.words, CONTROL_DONE, 'stop', () => writer.failure() !== undefined)
  if (writer.failure() !== undefined) throw writer.failure()
  for (const keyIndex of keyIndexes) {
    const read = readKey(keyIndex)
    if (read === NOT_IN_VIEW) tally.anomaly(`key ${keyIndex} read NOT_IN_VIEW with the writer stopped`)
    tally.check(keyIndex, read)
  }
  const generationMoves = Math.floor((Atomics.load(generation, 0) - generationAtStart) / 2)
  const writerSteps = Atomics.load(writer.words, CONTROL_OPS)
  t.comment(
    `${mode}: ${writerSteps} writer steps, ${generationMoves} rebuilds and clears; reads: ${tally.answered} values, ` +
      `${tally.absent} absent, ${tally.notInView} NOT_IN_VIEW, ${tally.advances} saw the writer move on`,
  )
  t.same(tally.anomalies, [], 'no anomalies')
  t.equal(tally.anomalyCount, 0, 'no anomalies past the first few either')
  return { tally, writerSteps, generationMoves }
}

/** Small: the writer rebuilds every few dozen writes. */
const SMALL_STRESS_VIEW_BYTES = 64 * 1024
/** Large enough that rebuilds, which make racing reads retry, rarely hide a race with clearShard. */
const RELOAD_STRESS_VIEW_BYTES = 4 * 1024 * 1024

const ALL_STRESS_KEYS = Array.from({ length: STRESS_KEY_COUNT }, (_, keyIndex) => keyIndex)

t.test('a reader racing a writer thread never sees a torn, foreign or older value, across rebuilds, deletes and reloads', async (t) => {
  const { tally, writerSteps, generationMoves } = await runStress(t, 'mixed', ALL_STRESS_KEYS, SMALL_STRESS_VIEW_BYTES, 20240704)
  t.ok(writerSteps > 5000, `the writer wrote (${writerSteps})`)
  t.ok(generationMoves > 50, `the writer rebuilt (${generationMoves})`)
  t.ok(tally.answered > 5000, `many reads were answered (${tally.answered})`)
  t.ok(tally.advances > 200, `reads saw the writer move on (${tally.advances})`)
})

t.test('a read racing clearShard and a reload never answers absent for a key the shard holds whenever it is served', async (t) => {
  const reloadedKeys = ALL_STRESS_KEYS.filter((keyIndex) => stressShard(keyIndex) === RELOADED_SHARD)
  const { tally, writerSteps } = await runStress(t, 'reloads', reloadedKeys, RELOAD_STRESS_VIEW_BYTES, 20240705)
  t.ok(writerSteps > 1000, `the writer cleared and reloaded the shard ${writerSteps} times`)
  t.ok(tally.answered > 1000, `many reads were answered (${tally.answered})`)
})

/** Kills tried before one lands inside a clearShard; each lands there about one time in a few. */
const MID_CLEAR_KILL_ATTEMPTS = 40

/**
 * Runs a 'reloads' writer and kills its worker the moment its generation is
 * odd (in a clearShard), until a kill leaves it odd; returns that view.
 */
async function viewOfWriterKilledMidClear(t: Test, viewBytes: number, seed: number): Promise<SharedArrayBuffer> {
  for (let attempt = 0; attempt < MID_CLEAR_KILL_ATTEMPTS; attempt++) {
    const writer = await startWriter(t, 'reloads', viewBytes, seed + attempt)
    const generation = new Int32Array(writer.view, GENERATION_WORD * 4, 1)
    const deadlineMs = performance.now() + WORKER_WAIT_LIMIT_MS
    while ((Atomics.load(generation, 0) & 1) === 0 && performance.now() < deadlineMs);
    await writer.kill()
    if ((Atomics.load(generation, 0) & 1) === 1) {
      t.comment(`killed in a clearShard at attempt ${attempt + 1}`)
      return writer.view
    }
  }
  throw new Error(`no kill of ${MID_CLEAR_KILL_ATTEMPTS} landed inside a clearShard`)
}

t.test('a writer killed inside a clearShard leaves the view to its restart, which answers again and races safely', async (t) => {
  const view = await viewOfWriterKilledMidClear(t, RELOAD_STRESS_VIEW_BYTES, 20240706)
  const reader = new ReadViewReader(view, STRESS_SHARDS)
  const keyIndex = ALL_STRESS_KEYS.find((index) => stressShard(index) === 0)!
  t.equal(reader.get(0, stressKey(keyIndex), sharedClockMs()), NOT_IN_VIEW, 'the dead writer\'s view answers nothing')
  // The restarted writer resets the view (as ViewPublisher.start does), then races the reader as before.
  const reloadedKeys = ALL_STRESS_KEYS.filter((index) => stressShard(index) === RELOADED_SHARD)
  const { tally } = await runStress(t, 'reloads', reloadedKeys, RELOAD_STRESS_VIEW_BYTES, 20240707, view)
  t.ok(tally.answered > 1000, `many reads were answered (${tally.answered})`)
})
