import { performance } from 'node:perf_hooks'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import fc from 'fast-check'
import t from 'tap'
import { ShardKVError } from '../../src/errors.js'
import type { StableStorage } from '../../src/runtime/actor.js'
import { Prng } from '../../src/runtime/prng.js'
import {
  MAX_STABLE_KEY_BYTES,
  MemoryStableStorage,
  SharedStableStorage,
  createStableStorageBuffer,
} from '../../src/runtime/stable-storage.js'
import { PROGRESS_DONE, PROGRESS_OPENED, applyWriterOp, writerOp, type StorageWriterInit } from './fixtures/storage-ops.js'

const WRITER_URL = new URL('./fixtures/storage-writer.js', import.meta.url)

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values)
}

function filled(lengthBytes: number, value: number): Uint8Array {
  return new Uint8Array(lengthBytes).fill(value)
}

function contents(storage: StableStorage): Map<string, Uint8Array> {
  return new Map(storage.keys().map((key) => [key, storage.get(key)!]))
}

function sameContents(a: ReadonlyMap<string, Uint8Array>, b: ReadonlyMap<string, Uint8Array>): boolean {
  if (a.size !== b.size) return false
  for (const [key, value] of a) {
    const other = b.get(key)
    if (other === undefined || Buffer.compare(value, other) !== 0) return false
  }
  return true
}

function errorCode(action: () => void): string | undefined {
  try {
    action()
    return undefined
  } catch (error) {
    if (error instanceof ShardKVError) return error.code
    throw error
  }
}

t.test('set, get, delete and keys; a reader of the same buffer sees the same map', async (t) => {
  const buffer = createStableStorageBuffer(4096)
  const storage = new SharedStableStorage(buffer)
  storage.set('paxos/promised', bytes(1, 2, 3))
  storage.set('paxos/accepted', bytes(4))
  storage.set('ключ', bytes())
  storage.delete('paxos/accepted')
  storage.delete('never-set')

  t.same(storage.get('paxos/promised'), bytes(1, 2, 3))
  t.equal(storage.get('paxos/accepted'), undefined)
  t.same(storage.get('ключ'), bytes())
  t.same(storage.keys().sort(), ['paxos/promised', 'ключ'].sort())
  t.ok(sameContents(contents(new SharedStableStorage(buffer)), contents(storage)))
})

t.test('values are copied in and out, so callers cannot change what is stored', async (t) => {
  for (const storage of [new SharedStableStorage(createStableStorageBuffer(4096)), new MemoryStableStorage(4096)]) {
    const value = bytes(1, 2, 3)
    storage.set('k', value)
    value[0] = 99
    storage.get('k')![1] = 99
    t.same(storage.get('k'), bytes(1, 2, 3))
  }
})

t.test('compaction keeps the log within capacity and the map intact across many cycles', async (t) => {
  const capacityBytes = 4096
  const buffer = createStableStorageBuffer(capacityBytes)
  let storage = new SharedStableStorage(buffer)
  const model = new Map<string, Uint8Array>()
  let compactions = 0
  let mismatchedCompactions = 0
  let mostUsedBytes = 0
  for (let index = 0; index < 5000; index++) {
    const op = writerOp(index)
    const usedBefore = storage.usedBytes
    applyWriterOp(storage, op)
    applyWriterOp(model, op)
    if (storage.usedBytes < usedBefore) {
      compactions++
      // Values moved to the other region: every one must still read back.
      if (!sameContents(contents(storage), model)) mismatchedCompactions++
    }
    mostUsedBytes = Math.max(mostUsedBytes, storage.usedBytes)
    if (index % 997 === 0) storage = new SharedStableStorage(buffer)
  }
  t.ok(compactions > 50, `compacted ${compactions} times`)
  t.equal(mismatchedCompactions, 0, 'the map read back right after every compaction')
  t.ok(mostUsedBytes <= capacityBytes, `the log never outgrew capacity (peak ${mostUsedBytes} bytes)`)
  t.ok(sameContents(contents(storage), model), 'live map matches the model')
  t.ok(sameContents(contents(new SharedStableStorage(buffer)), model), 'a reader matches the model')
})

t.test('ERR_STORAGE_FULL when even the compacted data cannot fit, with nothing changed', async (t) => {
  const buffer = createStableStorageBuffer(256)
  const storage = new SharedStableStorage(buffer)
  storage.set('a', filled(100, 1))
  storage.set('b', filled(100, 2))
  const usedBytes = storage.usedBytes

  t.equal(errorCode(() => storage.set('c', filled(100, 3))), 'ERR_STORAGE_FULL')
  t.equal(errorCode(() => storage.set('a', filled(200, 4))), 'ERR_STORAGE_FULL')
  t.equal(storage.usedBytes, usedBytes)
  t.same(storage.keys().sort(), ['a', 'b'])
  t.same(storage.get('a'), filled(100, 1))
  t.ok(sameContents(contents(new SharedStableStorage(buffer)), contents(storage)), 'the buffer holds the old state too')

  storage.delete('b')
  storage.set('c', filled(100, 3))
  t.same(contents(new SharedStableStorage(buffer)), new Map([['a', filled(100, 1)], ['c', filled(100, 3)]]), 'a delete frees room')
})

t.test('bytes past the published log and in the inactive region are never read', async (t) => {
  // Mirrors the layout in stable-storage.ts: 64-byte header, Int32 word 2 is the
  // active region, word 3 + r the published length of region r.
  const capacityBytes = 4096
  const buffer = createStableStorageBuffer(capacityBytes)
  const writer = new SharedStableStorage(buffer)
  const model = new Map<string, Uint8Array>()
  for (let index = 0; index < 40; index++) {
    applyWriterOp(writer, writerOp(index))
    applyWriterOp(model, writerOp(index))
  }
  const header = new Int32Array(buffer, 0, 5)
  const active = header[2]!
  const regionStart = (region: number): number => 64 + region * capacityBytes
  const raw = new Uint8Array(buffer)
  const junk = new Prng(7)
  for (let offset = regionStart(active) + header[3 + active]!; offset < regionStart(active + 1); offset++) raw[offset] = junk.int(256)
  for (let offset = regionStart(1 - active); offset < regionStart(2 - active); offset++) raw[offset] = junk.int(256)

  const reader = new SharedStableStorage(buffer)
  t.ok(sameContents(contents(reader), model), 'the reader ignores the junk')
  for (let index = 40; index < 400; index++) {
    applyWriterOp(reader, writerOp(index))
    applyWriterOp(model, writerOp(index))
  }
  t.ok(sameContents(contents(new SharedStableStorage(buffer)), model), 'writing over the junk works')
})

t.test('rejects bad buffers, capacities, keys and values with typed errors', async (t) => {
  const storage = new SharedStableStorage(createStableStorageBuffer(4096))
  t.equal(errorCode(() => new SharedStableStorage(new SharedArrayBuffer(4096 * 2 + 64))), 'ERR_INVALID_OPTION')
  t.equal(errorCode(() => new SharedStableStorage(new SharedArrayBuffer(8))), 'ERR_INVALID_OPTION')
  t.equal(errorCode(() => createStableStorageBuffer(10)), 'ERR_INVALID_OPTION')
  t.equal(errorCode(() => createStableStorageBuffer(1000.5)), 'ERR_INVALID_OPTION')
  t.equal(errorCode(() => new MemoryStableStorage(0)), 'ERR_INVALID_OPTION')
  t.equal(errorCode(() => storage.set('x'.repeat(MAX_STABLE_KEY_BYTES + 1), bytes())), 'ERR_KEY_TOO_LARGE')
  t.equal(errorCode(() => storage.set('lone \ud800 surrogate', bytes())), 'ERR_INVALID_KEY')
  t.equal(errorCode(() => storage.set('k', [1, 2] as unknown as Uint8Array)), 'ERR_INVALID_VALUE')
  t.same(storage.keys(), [])
})

type StorageOp =
  | { readonly kind: 'set'; readonly key: number; readonly lengthBytes: number }
  | { readonly kind: 'delete'; readonly key: number }
  | { readonly kind: 'reopen' }

const storageOp: fc.Arbitrary<StorageOp> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), key: fc.nat(5), lengthBytes: fc.nat(300) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
)

t.test('shared and memory storage agree with a Map model, including which writes are full', async (t) => {
  fc.assert(
    fc.property(fc.array(storageOp, { maxLength: 120 }), (ops) => {
      const buffer = createStableStorageBuffer(512)
      let shared = new SharedStableStorage(buffer)
      const memory = new MemoryStableStorage(512)
      const model = new Map<string, Uint8Array>()
      ops.forEach((op, index) => {
        if (op.kind === 'reopen') {
          shared = new SharedStableStorage(buffer)
        } else {
          const key = `key-${op.key}`
          const value = filled(op.kind === 'set' ? op.lengthBytes : 0, index & 0xff)
          const act = (target: StableStorage) => () => (op.kind === 'set' ? target.set(key, value) : target.delete(key))
          const sharedError = errorCode(act(shared))
          if (sharedError !== errorCode(act(memory))) throw new Error(`op ${index}: shared and memory disagree`)
          if (sharedError === undefined) applyWriterOp(model, op.kind === 'set' ? { kind: 'set', key, value } : { kind: 'delete', key })
        }
        if (!sameContents(contents(shared), model) || !sameContents(contents(memory), model)) throw new Error(`op ${index}: state differs`)
      })
    }),
    { seed: 20240611, numRuns: 300 },
  )
  t.pass('300 random op sequences agree')
})

/** Upper bound of the seeded kill point, in completed writer ops. */
const MAX_KILL_AFTER_OPS = 3000
const CRASH_ROUNDS = 25
const WRITER_OP_LIMIT = 10_000_000
const WRITER_WAIT_LIMIT_MS = 20_000

/** Starts a writer incarnation at `firstOp`, kills it once it has done `killAfterOps` ops, returns the ops it completed. */
async function runWriterUntilKilled(storage: SharedArrayBuffer, firstOp: number, killAfterOps: number): Promise<number> {
  const progress = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT)
  const words = new Int32Array(progress)
  const init: StorageWriterInit = { storage, progress, firstOp, opLimit: WRITER_OP_LIMIT }
  // No execArgv: the test runner's loaders would add seconds to every incarnation.
  const worker = new Worker(WRITER_URL, { workerData: init, execArgv: [] })
  let failure: unknown
  let exited = false
  worker.once('error', (error) => (failure = error))
  worker.once('exit', () => (exited = true))
  const deadlineMs = performance.now() + WRITER_WAIT_LIMIT_MS
  while (!exited && (Atomics.load(words, PROGRESS_OPENED) === 0 || Atomics.load(words, PROGRESS_DONE) < killAfterOps)) {
    if (performance.now() > deadlineMs) throw new Error(`writer did not reach ${killAfterOps} ops within ${WRITER_WAIT_LIMIT_MS} ms`)
    await yieldToEventLoop()
  }
  await worker.terminate()
  if (failure !== undefined) throw failure
  return Atomics.load(words, PROGRESS_DONE)
}

function advanced(model: ReadonlyMap<string, Uint8Array>, firstOp: number, count: number): Map<string, Uint8Array> {
  const next = new Map(model)
  for (let index = firstOp; index < firstOp + count; index++) applyWriterOp(next, writerOp(index))
  return next
}

t.test('a writer killed by terminate() at seeded random moments leaves exactly a prefix of its writes', async (t) => {
  const killPoints = new Prng(20240612)
  // Small regions: the writer compacts every few dozen ops, so kills land mid-compaction too.
  const buffer = createStableStorageBuffer(4096)
  let model = new Map<string, Uint8Array>()
  let applied = 0
  let inFlightKept = 0
  for (let round = 0; round < CRASH_ROUNDS; round++) {
    const completed = await runWriterUntilKilled(buffer, applied, killPoints.int(MAX_KILL_AFTER_OPS + 1))
    const stored = contents(new SharedStableStorage(buffer))
    // The op in flight at the kill may or may not have been published; nothing else may differ.
    const prefix = advanced(model, applied, completed)
    const prefixPlusOne = advanced(prefix, applied + completed, 1)
    const keptInFlight = !sameContents(stored, prefix) && sameContents(stored, prefixPlusOne)
    if (!t.ok(sameContents(stored, prefix) || keptInFlight, `round ${round}: state is the first ${applied + completed} (+1) writes`)) return
    model = keptInFlight ? prefixPlusOne : prefix
    applied += completed + (keptInFlight ? 1 : 0)
    if (keptInFlight) inFlightKept++
  }
  t.comment(`${applied} writes over ${CRASH_ROUNDS} incarnations; the op in flight survived ${inFlightKept} kills`)
})
