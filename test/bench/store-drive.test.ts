import t from 'tap'
import { driveRun, type KvStoreClient, type RunPlan } from '../../src/bench/store-drive.js'
import { WORKLOADS } from '../../src/bench/store-workloads.js'

/** A store that counts which path each call took. */
function countingStore(alone: boolean): { store: KvStoreClient; calls: Record<'read' | 'readAlone' | 'write', number> } {
  const calls = { read: 0, readAlone: 0, write: 0 }
  const store: KvStoreClient = {
    read: async () => void calls.read++,
    write: async () => void calls.write++,
    close: async () => {},
    ...(alone ? { readAlone: async () => void calls.readAlone++ } : {}),
  }
  return { store, calls }
}

function planOf(inflight: number): RunPlan {
  return { window: { kind: 'operations', operations: 200 }, inflight, workload: WORKLOADS.C, records: 100, valueBytes: 8, seed: 1, thread: 0, threads: 1 }
}

t.test('a run with one read in flight takes the store’s readAlone path when it has one, and only then', async (t) => {
  const single = countingStore(true)
  t.equal((await driveRun(planOf(1), single.store)).completed, 200)
  t.same(single.calls, { read: 0, readAlone: 200, write: 0 }, 'one in flight: every read alone')
  const pipelined = countingStore(true)
  await driveRun(planOf(8), pipelined.store)
  t.same(pipelined.calls, { read: 200, readAlone: 0, write: 0 }, 'eight in flight: the pipelined path')
  const plain = countingStore(false)
  await driveRun(planOf(1), plain.store)
  t.same(plain.calls, { read: 200, readAlone: 0, write: 0 }, 'no separate path: read')
})
