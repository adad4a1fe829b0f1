import t from 'tap'
import {
  buildReport,
  buildRows,
  checkTargets,
  formatReport,
  formatTable,
  percentile,
  ratio,
  summarizeLatency,
  summarizeThroughput,
  type LatencySummary,
  type Measurements,
  type ThroughputSummary,
} from '../../src/bench/report.js'

const oneToHundred = Float64Array.from({ length: 100 }, (_, index) => index + 1)

function latency(p50Us: number | null, p99Us: number | null): LatencySummary {
  return { roundTrips: 1000, samples: 1000, p50Us, p99Us }
}

function rate(requestsPerSecond: number | null): ThroughputSummary {
  return { completed: requestsPerSecond ?? 0, elapsedMs: 1000, requestsPerSecond }
}

function measurements(overrides: { idle?: Measurements['idle']; ringRate?: number; ringP50Us?: number } = {}): Measurements {
  const pingPong = { ring: latency(overrides.ringP50Us ?? 5, 20), postMessage: latency(100, 400), comlink: latency(200, 800) }
  const pipelined = { ring: rate(overrides.ringRate ?? 600_000), postMessage: rate(200_000), comlink: rate(50_000) }
  return {
    pingPong: { mainToWorker: pingPong, workerToWorker: pingPong },
    pipelined: { mainToWorker: pipelined, workerToWorker: pipelined },
    idle: overrides.idle === undefined ? { actors: 12, windowMs: 2000, cpuPercentOfCore: 0.5 } : overrides.idle,
  }
}

t.test('percentile is nearest-rank over sorted samples', async (t) => {
  const oneToTen = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  t.equal(percentile(oneToTen, 50), 5)
  t.equal(percentile(oneToTen, 90), 9)
  t.equal(percentile(oneToTen, 99), 10)
  t.equal(percentile(oneToTen, 100), 10)
  t.equal(percentile(oneToTen, 0), 1, 'p0 is the smallest sample')
  t.equal(percentile(oneToHundred, 50), 50)
  t.equal(percentile(oneToHundred, 99), 99)
  t.equal(percentile([7], 99), 7, 'one sample is every percentile')
  t.equal(percentile([], 50), null, 'no samples, no percentile')
  t.throws(() => percentile(oneToTen, 101), RangeError)
  t.throws(() => percentile(oneToTen, Number.NaN), RangeError)
})

t.test('latency summary sorts its samples (numerically) before taking p50 and p99', async (t) => {
  const shuffled = Float64Array.from([100, 3, 55, 9, 20, 1, 2, 1000, 4, 10])
  const summary = summarizeLatency(shuffled, 12_345)
  t.same(summary, { roundTrips: 12_345, samples: 10, p50Us: 9, p99Us: 1000 })
  t.same([...shuffled.slice(0, 3)], [100, 3, 55], 'the caller’s samples are left in place')
  t.same(summarizeLatency(new Float64Array(0), 0), { roundTrips: 0, samples: 0, p50Us: null, p99Us: null })
})

t.test('throughput of concurrent runs is the sum of their rates', async (t) => {
  t.same(summarizeThroughput([{ completed: 1000, elapsedMs: 1000 }, { completed: 500, elapsedMs: 500 }]), {
    completed: 1500,
    elapsedMs: 1000,
    requestsPerSecond: 2000,
  })
  t.equal(summarizeThroughput([]).requestsPerSecond, null, 'no run, no rate')
  t.equal(summarizeThroughput([{ completed: 5, elapsedMs: 0 }]).requestsPerSecond, null, 'an empty window has no rate')
})

t.test('ratio divides, and is null when either side is missing or the baseline is not positive', async (t) => {
  t.equal(ratio(600, 200), 3)
  t.equal(ratio(5, 100), 0.05)
  t.equal(ratio(null, 100), null)
  t.equal(ratio(100, null), null)
  t.equal(ratio(100, 0), null)
  t.equal(ratio(100, -1), null)
})

t.test('rows give ring / postMessage and ring / comlink for every measurement', async (t) => {
  const rows = buildRows(measurements())
  t.same(
    rows.map((row) => row.id),
    [
      'pingPong.p50.mainToWorker',
      'pingPong.p50.workerToWorker',
      'pingPong.p99.mainToWorker',
      'pingPong.p99.workerToWorker',
      'pipelined.mainToWorker',
      'pipelined.workerToWorker',
    ],
  )
  const p50 = rows[0]!
  t.same(p50.values, { ring: 5, postMessage: 100, comlink: 200 })
  t.equal(p50.ringOverPostMessage, 0.05)
  t.equal(p50.ringOverComlink, 0.025)
  t.equal(p50.better, 'lower')
  const pipelined = rows[4]!
  t.equal(pipelined.ringOverPostMessage, 3)
  t.equal(pipelined.ringOverComlink, 12)
  t.equal(pipelined.better, 'higher')
})

t.test('targets are met exactly at their thresholds and report the measured value', async (t) => {
  const checks = checkTargets(measurements({ ringRate: 600_000, ringP50Us: 10 }))
  t.same(
    checks.map((check) => [check.id, check.value, check.met]),
    [
      ['pipelined.mainToWorker.ringOverPostMessage', 3, true],
      ['pipelined.mainToWorker.ringOverComlink', 12, true],
      ['pipelined.workerToWorker.ringOverPostMessage', 3, true],
      ['pipelined.workerToWorker.ringOverComlink', 12, true],
      ['pingPong.p50.mainToWorker.ring', 10, true],
      ['pingPong.p50.workerToWorker.ring', 10, true],
      ['idle.cpuPercentOfCore', 0.5, true],
    ],
  )
})

t.test('targets below their thresholds are not met; a skipped measurement is neither', async (t) => {
  const checks = checkTargets(measurements({ ringRate: 400_000, ringP50Us: 10.5, idle: { actors: 12, windowMs: 2000, cpuPercentOfCore: 2 } }))
  const met = Object.fromEntries(checks.map((check) => [check.id, check.met]))
  t.equal(met['pipelined.mainToWorker.ringOverPostMessage'], false, '2x is below 3x')
  t.equal(met['pipelined.mainToWorker.ringOverComlink'], false, '8x is below 10x')
  t.equal(met['pingPong.p50.workerToWorker.ring'], false)
  t.equal(met['idle.cpuPercentOfCore'], false, 'the idle bound is strict: 2 % is not < 2 %')
  const skipped = checkTargets(measurements({ idle: null })).find((check) => check.id === 'idle.cpuPercentOfCore')!
  t.equal(skipped.value, null)
  t.equal(skipped.met, null)
})

t.test('the table prints every row with its ratios', async (t) => {
  const table = formatTable(buildRows(measurements()))
  const lines = table.split('\n')
  t.match(lines[0], /measurement\s+unit\s+ring\s+postMessage\s+comlink\s+ring\/postMessage\s+ring\/comlink/)
  t.equal(lines.length, 2 + 6, 'header, rule and six rows')
  t.match(table, /pipelined main<->worker\s+req\/s\s+600,000\s+200,000\s+50,000\s+3\.00x\s+12\.0x\s+higher/)
  t.match(table, /ping-pong p50 main<->worker\s+µs\s+5\.0\s+100\.0\s+200\.0\s+0\.05x\s+0\.03x\s+lower/)
})

t.test('the text report says which targets are met, missed or skipped, and how busy the machine was', async (t) => {
  const environment = { node: 'v20', platform: 'linux', arch: 'x64', cpus: 2, cpuModel: 'cpu', loadAverage1mAtStart: 0.5, loadAverage1mAtEnd: 1.25 }
  const config = { durationMs: 2000, warmupMs: 250, inflight: 256, workers: 1, spinMicros: null, idleMs: 2000, skipIdle: true }
  const text = formatReport(buildReport(environment, config, measurements({ ringRate: 400_000, idle: null })))
  t.match(text, /load average 0\.50 at start, 1\.25 at end/)
  t.match(text, /spin runtime default/)
  t.match(text, /idle: skipped/)
  t.match(text, /\[NOT MET\] pipelined main<->worker: ring \/ postMessage >= 3: 2\.00/)
  t.match(text, /\[NOT MET\] pipelined main<->worker: ring \/ comlink >= 10: 8\.00/)
  t.match(text, /\[met    \] ping-pong p50 main<->worker: ring \(µs\) <= 10: 5\.00/)
  t.match(text, /\[skipped\] idle: 12 actors \(% of one core\) < 2: n\/a/)
})
