import t from 'tap'
import { keyChooser, latestChooser, seededRandom, uniformChooser, zeta, ZipfianChooser } from '../../src/bench/store-key-choosers.js'
import { keyName, OperationStream, parseWorkloads, WORKLOADS, type OperationKind, type WorkloadSpec } from '../../src/bench/store-workloads.js'
import { UsageError } from '../../src/cli-flags.js'

const DRAWS = 200_000

function histogramOf(draw: () => number, buckets: number, draws = DRAWS): number[] {
  const counts = new Array<number>(buckets).fill(0)
  for (let index = 0; index < draws; index++) counts[draw()]!++
  return counts
}

function mixOf(workload: WorkloadSpec, records: number, draws: number, seed = 7): Record<OperationKind, number> {
  const stream = new OperationStream({ workload, records, seed, thread: 0, threads: 1 })
  const counts: Record<OperationKind, number> = { read: 0, update: 0, insert: 0, readModifyWrite: 0 }
  for (let index = 0; index < draws; index++) counts[stream.next().kind]++
  return counts
}

t.test('the seeded random source is uniform in [0, 1) and replays under a seed', async (t) => {
  const a = seededRandom(42)
  const b = seededRandom(42)
  const first = Array.from({ length: 1000 }, a)
  t.same(first, Array.from({ length: 1000 }, b), 'same seed, same sequence')
  t.notSame(first, Array.from({ length: 1000 }, seededRandom(43)), 'another seed, another sequence')
  t.ok(first.every((value) => value >= 0 && value < 1))
  const mean = first.reduce((sum, value) => sum + value, 0) / first.length
  t.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean} near 0.5`)
})

t.test('zipfian (theta 0.99) over 1000 items: rank 1 has its share, frequencies fall with rank', async (t) => {
  const items = 1000
  const chooser = new ZipfianChooser(seededRandom(1))
  const counts = histogramOf(() => chooser.next(items), items)
  const expectedRank1 = 1 / zeta(items, 0.99)
  const rank1 = counts[0]! / DRAWS
  t.ok(Math.abs(rank1 - expectedRank1) / expectedRank1 < 0.05, `rank-1 frequency ${rank1.toFixed(4)} within 5 % of 1/zeta = ${expectedRank1.toFixed(4)}`)
  // Gray et al.'s generator is exact for ranks 1 and 2 and a continuous approximation beyond (as in YCSB).
  const expectedRank2 = 1 / Math.pow(2, 0.99) / zeta(items, 0.99)
  const rank2 = counts[1]! / DRAWS
  t.ok(Math.abs(rank2 - expectedRank2) / expectedRank2 < 0.05, `rank-2 frequency ${rank2.toFixed(4)} within 5 % of ${expectedRank2.toFixed(4)}`)
  let rises = 0
  for (let rank = 1; rank < 20; rank++) if (counts[rank]! > counts[rank - 1]! * 1.1) rises++
  t.equal(rises, 0, 'over the first 20 ranks no frequency exceeds the one before by more than 10 %')
  // Over decades of ranks the mean frequency falls about tenfold, as 1/r^0.99 does.
  const decades = [[0, 1], [1, 10], [10, 100], [100, 1000]].map(([from, to]) => counts.slice(from, to).reduce((sum, count) => sum + count, 0) / (to! - from!))
  for (let index = 1; index < decades.length; index++) t.ok(decades[index]! < decades[index - 1]!, `decade ${index} mean ${decades[index]} < ${decades[index - 1]}`)
  const fall = decades[2]! / decades[3]!
  t.ok(fall > 7 && fall < 13, `from ranks 11-100 to 101-1000 the mean frequency falls ${fall.toFixed(1)}x (about 10x)`)
  t.ok(counts.every((count) => count >= 0) && counts[items - 1]! < counts[0]! / 100, 'the tail is far rarer than the head')
})

t.test('zipfian ranks stay in range as the item count grows (workload D inserts)', async (t) => {
  const chooser = new ZipfianChooser(seededRandom(3))
  for (let count = 1; count <= 2000; count += 7) {
    const rank = chooser.next(count)
    if (!(rank >= 0 && rank < count)) t.fail(`rank ${rank} out of [0, ${count})`)
  }
  const grown = new ZipfianChooser(seededRandom(5))
  grown.next(100)
  const skipped = seededRandom(5)
  skipped()
  const fresh = new ZipfianChooser(skipped)
  t.same(
    Array.from({ length: 1000 }, () => grown.next(5000)),
    Array.from({ length: 1000 }, () => fresh.next(5000)),
    'a zeta extended from 100 to 5000 items draws exactly like one computed for 5000',
  )
})

t.test('latest favours the newest record; uniform spreads evenly', async (t) => {
  const latest = latestChooser(seededRandom(9))
  const counts = histogramOf(() => latest.next(1000), 1000)
  t.ok(counts[999]! > counts[998]! && counts[998]! > counts[900]!, 'newest > second newest > older')
  t.ok(counts[999]! / DRAWS > 0.1, 'the newest record takes its zipfian share')
  const uniform = uniformChooser(seededRandom(11))
  const spread = histogramOf(() => uniform.next(10), 10)
  for (const count of spread) t.ok(Math.abs(count / DRAWS - 0.1) < 0.01, `uniform bucket ${count / DRAWS} near 0.1`)
  t.ok(keyChooser('zipfian', seededRandom(1)) instanceof ZipfianChooser)
})

t.test('each workload issues its YCSB operation mix within tolerance', async (t) => {
  const draws = 100_000
  const tolerance = 0.01
  const expected: Record<string, Partial<Record<OperationKind, number>>> = {
    A: { read: 0.5, update: 0.5 },
    B: { read: 0.95, update: 0.05 },
    C: { read: 1 },
    D: { read: 0.95, insert: 0.05 },
    F: { read: 0.5, readModifyWrite: 0.5 },
  }
  for (const workload of Object.values(WORKLOADS)) {
    const mix = mixOf(workload, 1000, draws)
    for (const kind of ['read', 'update', 'insert', 'readModifyWrite'] as const) {
      const share = mix[kind] / draws
      const want = expected[workload.name]![kind] ?? 0
      t.ok(Math.abs(share - want) <= tolerance, `${workload.name} ${kind}: ${share.toFixed(4)} vs ${want}`)
    }
  }
})

t.test('an operation stream replays under a seed and differs per thread', async (t) => {
  const take = (seed: number, thread: number): string[] => {
    const stream = new OperationStream({ workload: WORKLOADS.A, records: 500, seed, thread, threads: 2 })
    return Array.from({ length: 500 }, () => {
      const operation = stream.next()
      return `${operation.kind}:${operation.key}`
    })
  }
  t.same(take(1, 0), take(1, 0), 'same seed and thread: same operations')
  t.notSame(take(1, 0), take(2, 0), 'another seed: other operations')
  t.notSame(take(1, 0), take(1, 1), 'another thread: other operations')
})

t.test('workload D inserts new keys in its thread stripe and reads them back, the newest most', async (t) => {
  const records = 100
  const streams = [0, 1].map((thread) => new OperationStream({ workload: WORKLOADS.D, records, seed: 1, thread, threads: 2 }))
  const inserted = [new Set<string>(), new Set<string>()]
  let readsOfInserted = 0
  for (let index = 0; index < 20_000; index++) {
    for (const [thread, stream] of streams.entries()) {
      const operation = stream.next()
      if (operation.kind === 'insert') {
        t.notOk(inserted[thread]!.has(operation.key), 'never inserts a key twice')
        const number = Number(operation.key.slice('user'.length))
        if (number < records || (number - records) % 2 !== thread) t.fail(`thread ${thread} inserted ${operation.key} outside its stripe`)
        inserted[thread]!.add(operation.key)
      } else if (inserted[thread]!.has(operation.key)) {
        readsOfInserted++
      }
    }
  }
  t.ok(streams[0]!.inserted > 800 && streams[1]!.inserted > 800, 'about 5 % inserts')
  t.ok(readsOfInserted > 20_000, `reads go mostly to the inserted records (${readsOfInserted})`)
  t.equal(keyName(7), 'user7')
})

t.test('--workload parses letters in order, case-insensitively, and rejects the rest', async (t) => {
  t.same(parseWorkloads('A,b, C').map((workload) => workload.name), ['A', 'B', 'C'])
  t.same(parseWorkloads('a,d', 'uniform').map((workload) => workload.distribution), ['uniform', 'uniform'], '--distribution overrides')
  t.equal(parseWorkloads('D')[0]!.distribution, 'latest')
  for (const bad of ['', 'E', 'G', 'A,A', 'A,,B']) t.throws(() => parseWorkloads(bad), UsageError, JSON.stringify(bad))
})
