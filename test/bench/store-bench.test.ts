import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { UsageError } from '../../src/cli-flags.js'
import { parseCompare, parseSweep, resolveWindow } from '../../src/bench/store-options.js'
import { findOnPath } from '../../src/bench/store-redis-server.js'

const BIN = fileURLToPath(new URL('../../../bin/shardkv.js', import.meta.url))

async function shardkv(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { timeout: 120_000, env, maxBuffer: 16 * 1024 * 1024 })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string }
    return { code: failure.code ?? -1, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' }
  }
}

interface Measurement {
  target: string
  opsPerSecond: number | null
  latency: { p50Us: number; p95Us: number; p99Us: number; p999Us: number } | null
  cpuUsPerOp: number | null
}

interface Report {
  benchmark: string
  config: { window: { kind: string }; workloads: string[] }
  points: {
    sweep: { flag: string; value: number } | null
    config: { groups: number }
    load: { target: string }[]
    workloads: { workload: string; targets: Measurement[]; shardkvOver: Record<string, number | null> }[]
    singleRead: { targets: Measurement[] }
    failover: { trials: number; samplesMs: number[]; p50Ms: number; p50InElectionTimeouts: number } | { skipped: string } | null
    skipped: { name: string; skipped: string }[]
  }[]
  targets: { id: string; met: boolean | null }[]
}

t.test('a short default bench run prints one JSON document: every workload, target, percentile and ratio', async (t) => {
  const run = await shardkv(['bench', '--duration-ms', '200', '--records', '200', '--json'])
  t.equal(run.code, 0, run.stderr)
  t.equal(run.stderr, '', 'no progress bar when stderr is not a terminal')
  const report = JSON.parse(run.stdout) as Report
  t.equal(report.benchmark, 'store')
  t.same(report.config.workloads, ['A', 'B', 'C', 'F', 'D'])
  t.equal(report.points.length, 1)
  const [point] = report.points
  const redisRan = point!.skipped.length === 0
  t.same(point!.skipped.map((skipped) => skipped.name), redisRan ? [] : ['redis'], 'Redis runs, or is reported skipped')
  const targets = ['shardkv', 'unreplicated', 'map', 'postmessage', 'comlink', ...(redisRan ? ['redis'] : [])]
  t.same(point!.load.map((load) => load.target), targets, 'each target loads its records')
  t.same(point!.workloads.map((workload) => workload.workload), ['A', 'B', 'C', 'F', 'D'])
  for (const workload of point!.workloads) {
    t.same(workload.targets.map((measurement) => measurement.target), targets, `${workload.workload}: every target`)
    for (const measurement of workload.targets) {
      t.type(measurement.opsPerSecond, 'number', `${workload.workload} ${measurement.target}: ops/s`)
      t.type(measurement.cpuUsPerOp, 'number', `${workload.workload} ${measurement.target}: CPU per op`)
      if (measurement.target === 'map') continue
      const latency = measurement.latency!
      t.ok(latency.p50Us <= latency.p95Us && latency.p95Us <= latency.p99Us && latency.p99Us <= latency.p999Us, `${workload.workload} ${measurement.target}: ordered percentiles`)
    }
    for (const baseline of targets.slice(1)) t.type(workload.shardkvOver[baseline], 'number', `${workload.workload}: shardkv/${baseline}`)
  }
  t.same(point!.singleRead.targets.map((measurement) => measurement.target), targets.filter((target) => target !== 'map'))
  t.same(report.targets.map((target) => target.id), [
    'C.shardkvOverPostMessage',
    'C.shardkvOverRedis',
    'singleRead.shardkv.p50Us',
    'A.shardkvOverUnreplicated',
    'load.shardkvOverUnreplicated',
    'failover.p50ElectionTimeouts',
  ])
  t.type(report.targets[0]!.met, 'boolean')
  const failover = point!.failover
  t.ok(failover !== null && !('skipped' in failover), 'the default cluster (groups of 3) runs the failover trials')
  if (failover !== null && !('skipped' in failover)) {
    t.equal(failover.trials, 5, 'five leader kills by default')
    t.ok(failover.samplesMs.length === 5 && failover.samplesMs.every((ms) => ms > 0), 'each timed')
    t.equal(failover.p50InElectionTimeouts, failover.p50Ms / 100, 'p50 in election timeouts of 100 ms')
  }
  t.type(report.targets.find((target) => target.id === 'failover.p50ElectionTimeouts')!.met, 'boolean')
})

t.test('--chart writes a well-formed SVG; --sweep runs once per value; redis without redis-server is skipped', async (t) => {
  // Also the PATH of the run: no redis-server on it.
  const directory = mkdtempSync(join(tmpdir(), 'shardkv-chart-'))
  t.teardown(() => rmSync(directory, { recursive: true, force: true }))
  const chart = join(directory, 'bench.svg')
  const env = { ...process.env, PATH: directory }
  const run = await shardkv(
    ['bench', 'store', '--workload', 'C', '--operations', '2000', '--records', '100', '--compare', 'map,redis', '--sweep', 'groups=1,2', '--failover', '0', '--chart', chart, '--json'],
    env,
  )
  t.equal(run.code, 0, run.stderr)
  const report = JSON.parse(run.stdout) as Report
  t.equal(report.config.window.kind, 'operations')
  t.same(report.points.map((point) => [point.sweep?.value, point.config.groups]), [[1, 1], [2, 2]])
  for (const point of report.points) {
    t.same(point.skipped, [{ name: 'redis', skipped: 'no redis-server binary on PATH' }])
    t.same(point.workloads[0]!.targets.map((measurement) => measurement.target), ['shardkv', 'map'])
    t.equal(point.failover, null, '--failover 0: no leader kills')
  }
  t.equal(report.targets.find((target) => target.id === 'C.shardkvOverRedis')!.met, null)
  const svg = readFileSync(chart, 'utf8')
  t.ok(svg.startsWith('<svg'), 'starts with <svg')
  t.ok(svg.trimEnd().endsWith('</svg>'))
  const tags = [...svg.matchAll(/<(\/?)([a-z]+)\b[^>]*?(\/?)>/g)].filter(([, , , selfClosing]) => selfClosing !== '/')
  t.equal(tags.filter(([, closing]) => closing === '').length, tags.filter(([, closing]) => closing === '/').length, 'every element opened is closed')
  t.match(svg, /groups=2/)
})

t.test('the text report is a table with every workload, and names the skipped baseline', async (t) => {
  const emptyPath = mkdtempSync(join(tmpdir(), 'shardkv-path-'))
  t.teardown(() => rmSync(emptyPath, { recursive: true, force: true }))
  const run = await shardkv(['bench', '--workload', 'b,d', '--duration-ms', '100', '--records', '100', '--compare', 'postmessage,redis'], { ...process.env, PATH: emptyPath })
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /workload\s+target\s+ops\/s\s+p50 µs\s+p95 µs\s+p99 µs\s+p99\.9 µs\s+CPU µs\/op\s+shardkv\/target/)
  t.match(run.stdout, /^B\s+shardkv/m)
  t.match(run.stdout, /^D\s+shardkv/m)
  t.match(run.stdout, /^single-read\s+shardkv/m)
  t.match(run.stdout, /Redis skipped: no redis-server binary on PATH/)
  t.match(run.stdout, /failover, leader killed to the next write on its shards, 5 trials: p50 \d+ ms/)
})

t.test('an unreplicated cluster skips the unreplicated baseline and the failover trials, and says why', async (t) => {
  const run = await shardkv(['bench', '--workload', 'c', '--operations', '500', '--records', '100', '--replicas', '1', '--masters', '1', '--compare', 'unreplicated', '--json'])
  t.equal(run.code, 0, run.stderr)
  const [point] = (JSON.parse(run.stdout) as Report).points
  t.same(point!.skipped, [{ name: 'unreplicated', skipped: 'the cluster under test is unreplicated already' }])
  t.same(point!.failover, { skipped: 'needs groups of 3 or more replicas (--replicas)' })
})

t.test('bench --help names store the default; bench store --help lists its flags', async (t) => {
  const group = await shardkv(['bench', '--help'])
  t.equal(group.code, 0)
  t.match(group.stdout, /store\s+.*\(default\)/)
  const store = await shardkv(['bench', 'store', '--help'])
  t.equal(store.code, 0)
  for (const flag of ['--failover', '--workload', '--distribution <uniform|zipfian|latest>', '--records', '--operations', '--duration-ms', '--value-bytes', '--groups', '--replicas', '--masters', '--shards', '--client-threads', '--inflight', '--compare', '--sweep', '--chart', '--seed', '--json']) {
    t.match(store.stdout, flag)
  }
})

t.test('--rounds runs every target that many times and reports the median round, with every round’s figure', async (t) => {
  const run = await shardkv(['bench', '--rounds', '3', '--workload', 'C', '--compare', 'map', '--failover', '0', '--duration-ms', '100', '--records', '100', '--json'])
  t.equal(run.code, 0, run.stderr)
  const report = JSON.parse(run.stdout) as Report & { config: { rounds: number } }
  t.equal(report.config.rounds, 3)
  const [point] = report.points
  for (const measurement of [...point!.workloads[0]!.targets, ...point!.singleRead.targets] as (Measurement & { roundsOpsPerSecond: number[] })[]) {
    t.equal(measurement.roundsOpsPerSecond.length, 3, `${measurement.target}: three rounds`)
    const sorted = [...measurement.roundsOpsPerSecond].sort((a, b) => a - b)
    t.equal(measurement.opsPerSecond, sorted[1], `${measurement.target}: the median round`)
  }
  for (const load of point!.load as { target: string; elapsedMs: number; roundsElapsedMs: number[] }[]) {
    t.equal(load.roundsElapsedMs.length, 3)
    t.equal(load.elapsedMs, [...load.roundsElapsedMs].sort((a, b) => a - b)[1], `${load.target}: the median load`)
  }
})

t.test('bad values are usage errors, exit 2, naming the flag, nothing on stdout', async (t) => {
  for (const [args, message] of [
    [['--inflight', '0'], /--inflight must be an integer in 1\.\.1024/],
    [['--workload', 'A,E'], /--workload: unknown workload "E"/],
    [['--distribution', 'pareto'], /--distribution must be one of uniform, zipfian, latest/],
    [['--operations', '100', '--duration-ms', '100'], /--operations and --duration-ms are exclusive/],
    [['--compare', 'map,mongo'], /--compare: unknown baseline "mongo"/],
    [['--sweep', 'groups=1,0'], /--groups must be an integer in 1\.\.64, got "0"/],
    [['--sweep', 'replicas=1'], /--sweep: cannot sweep "replicas"/],
    [['--records', '0'], /--records must be an integer in 1\.\.1000000/],
    [['--rounds', '0'], /--rounds must be an integer in 1\.\.21/],
  ] as const) {
    const run = await shardkv(['bench', ...args])
    t.equal(run.code, 2, `${args.join(' ')} exits 2`)
    t.match(run.stderr, message)
    t.equal(run.stdout, '')
  }
})

t.test('window, compare and sweep options parse to what the harness runs', async (t) => {
  t.same(resolveWindow({ operations: undefined, durationMs: undefined, warmupMs: undefined }), { kind: 'duration', durationMs: 1000, warmupMs: 250, afterLoadWarmupMs: 1000 })
  t.same(resolveWindow({ operations: undefined, durationMs: 400, warmupMs: undefined }), { kind: 'duration', durationMs: 400, warmupMs: 100, afterLoadWarmupMs: 400 })
  t.same(resolveWindow({ operations: undefined, durationMs: 4000, warmupMs: undefined }), { kind: 'duration', durationMs: 4000, warmupMs: 250, afterLoadWarmupMs: 1000 })
  t.same(resolveWindow({ operations: undefined, durationMs: 400, warmupMs: 0 }), { kind: 'duration', durationMs: 400, warmupMs: 0, afterLoadWarmupMs: 0 }, 'a warm-up given applies to every workload')
  t.same(resolveWindow({ operations: 5, durationMs: undefined, warmupMs: undefined }), { kind: 'operations', operations: 5 })
  t.throws(() => resolveWindow({ operations: 5, durationMs: undefined, warmupMs: 10 }), UsageError)
  t.same(parseCompare('Redis, map'), ['redis', 'map'])
  t.same(parseCompare('none'), [])
  t.throws(() => parseCompare('map,map'), UsageError)
  const flags = { groups: 'groups', shards: 'shards', clientThreads: 'client-threads', inflight: 'inflight', records: 'records', valueBytes: 'value-bytes' }
  t.same(parseSweep('client-threads=1,2,4', flags, (_, text) => Number(text)), { flag: 'clientThreads', values: [1, 2, 4] })
  t.throws(() => parseSweep('groups', flags, (_, text) => Number(text)), UsageError)
  t.throws(() => parseSweep('groups=2,2', flags, (_, text) => Number(text)), UsageError)
  t.equal(findOnPath('node', dirname(process.execPath)), process.execPath)
  t.equal(findOnPath('no-such-binary-here', dirname(process.execPath)), undefined)
})
