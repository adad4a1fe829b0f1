import t, { type Test } from 'tap'
import { renderStoreChart, compact } from '../../src/bench/store-chart.js'
import { shareOf, type RunResult } from '../../src/bench/store-drive.js'
import { encodeHistogram, mergeEncoded, newHistogram, percentilesOf, recordMs } from '../../src/bench/store-latency.js'
import { checkStoreTargets, formatStoreReport, measureLoad, measureTarget, measureWorkload, type FailoverResult, type StoreBenchPoint, type StoreBenchReport } from '../../src/bench/store-report.js'
import type { TargetCheck } from '../../src/bench/report.js'
import { summarize } from '../../src/bench/store-failover.js'

/** A run whose latencies are `latenciesUs`, measured over `elapsedMs`. */
function run(latenciesUs: readonly number[], elapsedMs: number, completedTotal = latenciesUs.length): RunResult {
  const histogram = newHistogram()
  for (const latencyUs of latenciesUs) recordMs(histogram, latencyUs / 1000)
  return { completed: latenciesUs.length, elapsedMs, completedTotal, histogram: encodeHistogram(histogram) }
}

const oneToThousandUs = Array.from({ length: 1000 }, (_, index) => index + 1)

/** Within HdrHistogram's 3 significant digits. */
function near(t: Test, actual: number | undefined, expected: number, what: string): void {
  t.ok(actual !== undefined && Math.abs(actual - expected) <= expected * 0.001 + 1e-9, `${what}: ${actual} ≈ ${expected}`)
}

t.test('percentiles come from the HdrHistogram of every recorded latency', async (t) => {
  const histogram = newHistogram()
  for (const latencyUs of oneToThousandUs) recordMs(histogram, latencyUs / 1000)
  const percentiles = percentilesOf(histogram)!
  t.equal(percentiles.count, 1000)
  near(t, percentiles.p50Us, 500, 'p50')
  near(t, percentiles.p95Us, 950, 'p95')
  near(t, percentiles.p99Us, 990, 'p99')
  near(t, percentiles.p999Us, 999, 'p99.9')
  near(t, percentiles.maxUs, 1000, 'max')
  near(t, percentiles.meanUs, 500.5, 'mean')
  t.equal(percentilesOf(newHistogram()), null, 'no samples, no percentiles')
})

t.test('sub-microsecond latencies keep their resolution (recorded in ns)', async (t) => {
  const histogram = newHistogram()
  for (let index = 0; index < 100; index++) recordMs(histogram, 0.00025)
  near(t, percentilesOf(histogram)!.p50Us, 0.25, 'p50 of 250 ns')
})

t.test('client threads: rates add up over the common window, histograms merge', async (t) => {
  const threads = [run(oneToThousandUs.slice(0, 500), 1000, 600), run(oneToThousandUs.slice(500), 1000, 700)]
  const measurement = measureTarget('shardkv', threads, 2600, true)
  t.equal(measurement.completed, 1000)
  t.equal(measurement.opsPerSecond, 1000, '1000 ops in a 1000 ms window')
  near(t, measurement.latency?.p50Us, 500, 'merged p50')
  near(t, measurement.latency?.p99Us, 990, 'merged p99')
  t.equal(measurement.cpuUsPerOp, 2, '2600 µs of CPU over 1300 ops completed in all, warm-up included')
  t.equal(mergeEncoded([measurement.histogram!]).totalCount, 1000, 'the report carries the merged histogram')
  const untimed = measureTarget('map', [run([], 500)], null, false)
  t.equal(untimed.latency, null)
  t.equal(untimed.opsPerSecond, null, 'nothing completed: no rate')
  t.equal(untimed.cpuUsPerOp, null)
})

t.test('an operations run is rated over the slowest thread', async (t) => {
  const measurement = measureTarget('redis', [run([10, 10], 2), run([10, 10], 4)], 0, true)
  t.equal(measurement.opsPerSecond, 1000, '4 ops in 4 ms')
  t.same([0, 1, 2].map((index) => shareOf(10, index, 3)), [4, 3, 3], 'operations split as evenly as whole numbers allow')
})

function point(overrides: { readOnlyRatio?: number; redis?: boolean; failover?: FailoverResult | null } = {}): StoreBenchPoint {
  const shardkv = measureTarget('shardkv', [run(oneToThousandUs, 10)], 1000, true)
  const unreplicated = measureTarget('unreplicated', [run(oneToThousandUs, 20)], 1000, true)
  const postMessage = measureTarget('postmessage', [run(oneToThousandUs, 10 * (overrides.readOnlyRatio ?? 4))], 1000, true)
  const map = measureTarget('map', [run([], 1)], 1000, false)
  const redis = overrides.redis === false ? [] : [measureTarget('redis', [run(oneToThousandUs, 20)], 1000, true)]
  const single = measureTarget('shardkv', [run(Array.from({ length: 100 }, () => 8), 1)], 100, true)
  const workload = (name: string) => measureWorkload({ name, description: `workload ${name}`, distribution: 'zipfian' }, [shardkv, unreplicated, map, postMessage, ...redis])
  return {
    sweep: null,
    config: { groups: 3, replicas: 1, masters: 1, shards: 64, clientThreads: 1, inflight: 256, mainThreadInflight: 256, records: 1000, valueBytes: 100 },
    load: [measureLoad('shardkv', 1000, 250), measureLoad('unreplicated', 1000, 1000)],
    workloads: [workload('A'), workload('C')],
    singleRead: measureWorkload({ name: 'single-read', description: 'one in flight', distribution: 'zipfian' }, [single]),
    failover: overrides.failover === undefined ? summarize([150, 90, 400, 120, 130]) : overrides.failover,
    skipped: overrides.redis === false ? [{ name: 'redis', skipped: 'no redis-server binary on PATH' }] : [],
  }
}

function report(points: StoreBenchPoint[]): StoreBenchReport {
  return {
    benchmark: 'store',
    environment: { node: 'v20', platform: 'linux', arch: 'x64', cpus: 2, cpuModel: 'test', loadAverage1mAtStart: 0, loadAverage1mAtEnd: 0 },
    config: { window: { kind: 'duration', warmupMs: 250, durationMs: 1000 }, workloads: ['A', 'C'], distribution: null, compare: ['unreplicated', 'map', 'postmessage', 'redis'], failoverTrials: 5, rounds: 1, seed: 1 },
    points,
    targets: checkStoreTargets(points[0]),
  }
}

t.test('ratios are shardkv over each baseline; the targets are checked on workload C and the single read', async (t) => {
  const measured = point()
  const readOnly = measured.workloads[1]!
  t.equal(readOnly.shardkvOver.postmessage, 4)
  t.equal(readOnly.shardkvOver.redis, 2)
  t.equal(measureLoad('shardkv', 1000, 250).recordsPerSecond, 4000)
  const checks = checkStoreTargets(measured)
  t.same(checks.map((check) => [check.id, check.met]), [
    ['C.shardkvOverPostMessage', true],
    ['C.shardkvOverRedis', false],
    ['singleRead.shardkv.p50Us', true],
    ['A.shardkvOverUnreplicated', true],
    ['load.shardkvOverUnreplicated', true],
    ['failover.p50ElectionTimeouts', true],
  ])
  t.equal(checks[3]!.value, 2, 'A: 100,000 over 50,000 ops/s')
  t.equal(checks[4]!.value, 4, 'load: 4,000 over 1,000 records/s')
  t.equal(checks[5]!.value, 1.3, 'failover p50 130 ms over a 100 ms election timeout')
  const slow = checkStoreTargets(point({ failover: summarize([400, 350, 900]) }))
  t.equal(slow[5]!.met, false, 'a p50 of 400 ms is 4 election timeouts')
  const withoutRedis = checkStoreTargets(point({ redis: false, readOnlyRatio: 2, failover: { skipped: 'needs replicas' } }))
  t.same(withoutRedis.map((check) => check.met), [false, null, true, true, true, null], 'a skipped baseline or failover leaves its target unchecked')
  t.same(checkStoreTargets(undefined).map((check) => check.met), [null, null, null, null, null, null])
  const network = checkStoreTargets(measured, true)
  t.same(network.map((check) => [check.id, check.met]), [
    ['grpc.C.shardkvOverRedis', true],
    ['grpc.singleRead.p50OverRedis', null],
  ], 'over the network: issue #6’s targets (no Redis single read measured here)')
  t.equal(network[0]!.value, 2)
  const unaryCheck = (shardkvUs: number, redisUs: number): TargetCheck => {
    const singles = [shardkvUs, redisUs].map((latencyUs, index) => measureTarget(index === 0 ? 'shardkv' : 'redis', [run(Array.from({ length: 100 }, () => latencyUs), 1)], 100, true))
    return checkStoreTargets({ ...measured, singleRead: measureWorkload({ name: 'single-read', description: 'one in flight', distribution: 'zipfian' }, singles) }, true)[1]!
  }
  t.equal(unaryCheck(6, 4).met, true, 'a unary Get p50 of 6 µs against 4 µs is within twice')
  t.equal(unaryCheck(10, 4).met, false, '10 µs against 4 µs is not')
})

t.test('the text report has a row per workload and target, the ratios, skipped baselines and the targets', async (t) => {
  const text = formatStoreReport(report([point({ redis: false })]))
  t.match(text, /workload\s+target\s+ops\/s\s+p50 µs\s+p95 µs\s+p99 µs\s+p99\.9 µs\s+CPU µs\/op\s+shardkv\/target/)
  t.match(text, /^C\s+shardkv\s+100,000\s+500\s+950\s+990\s+999\s+1\.0\s*$/m)
  t.match(text, /^\s+postMessage\s+25,000 .* 4\.00x$/m)
  t.match(text, /^\s+Map\s+n\/a\s+n\/a/m)
  t.match(text, /Redis skipped: no redis-server binary on PATH/)
  t.match(text, /\[skipped\] workload C \(read only\) ops\/s: shardkv \/ Redis/)
  t.match(text, /^\s+shardkv, 1 replica\s+50,000 .* 2\.00x$/m)
  t.match(text, /failover, leader killed to the next write on its shards, 5 trials: p50 130 ms \(1\.30 election timeouts of 100 ms; they run 100\.\.200 ms\), p95 400 ms, max 400 ms/)
  t.match(formatStoreReport(report([point({ failover: { skipped: 'needs groups of 3 or more replicas (--replicas)' } })])), /failover skipped: needs groups of 3/)
})

/** True when every opening tag has its closing tag, in order. */
function balanced(svg: string): boolean {
  const stack: string[] = []
  for (const match of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = match
    if (selfClosing === '/') continue
    if (closing === '/') {
      if (stack.pop() !== name) return false
    } else {
      stack.push(name!)
    }
  }
  return stack.length === 0
}

t.test('the chart is a well-formed SVG with a bar per target and sweep value', async (t) => {
  const sweep = [1, 2].map((value) => ({ ...point(), sweep: { flag: 'groups', value } }))
  const svg = renderStoreChart(report(sweep))
  t.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'))
  t.ok(svg.trimEnd().endsWith('</svg>'))
  t.ok(balanced(svg), 'tags are balanced')
  t.notOk(balanced('<svg><g></svg>'), 'the check catches an unclosed tag')
  t.match(svg, /groups=1/)
  t.match(svg, /groups=2/)
  // 2 workloads x 2 panels x 2 sweep values x 3 timed-or-rated bars, plus the single read's shardkv bars, plus the legend.
  const bars = (svg.match(/<rect [^>]*><title>/g) ?? []).length
  t.ok(bars >= 2 * 2 * 3, `${bars} bars`)
  t.equal(compact(1_234_567), '1.23M')
  t.equal(compact(45_678), '45.7k')
  t.equal(compact(8), '8.00')
})
