import t from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { parseWorkloads } from '../../src/bench/store-workload.js'
import { UsageError } from '../../src/cli-flags.js'

const BIN = fileURLToPath(new URL('../../../bin/shardkv.js', import.meta.url))

async function shardkv(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { timeout: 60_000 })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string }
    return { code: failure.code ?? -1, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' }
  }
}

t.test('a short store bench run prints one JSON document with every workload and both baselines', async (t) => {
  const run = await shardkv(['bench', 'store', '--duration-ms', '200', '--keys', '200', '--json'])
  t.equal(run.code, 0, run.stderr)
  t.equal(run.stderr, '', 'no progress line when stderr is not a terminal')
  const report = JSON.parse(run.stdout) as {
    benchmark: string
    workloads: { workload: string; shardkv: { opsPerSecond: number | null; p50Us: number | null; p99Us: number | null }; postMessage: { opsPerSecond: number | null }; map: { opsPerSecond: number | null }; shardkvOverPostMessage: number | null; shardkvOverMap: number | null }[]
    targets: { id: string; met: boolean | null }[]
  }
  t.equal(report.benchmark, 'store')
  t.same(report.workloads.map((workload) => workload.workload), ['read', '95/5', '50/50'])
  for (const workload of report.workloads) {
    t.type(workload.shardkv.opsPerSecond, 'number', `${workload.workload}: shardkv ops/s`)
    t.type(workload.shardkv.p50Us, 'number', `${workload.workload}: shardkv p50`)
    t.type(workload.shardkv.p99Us, 'number', `${workload.workload}: shardkv p99`)
    t.type(workload.postMessage.opsPerSecond, 'number', `${workload.workload}: postMessage ops/s`)
    t.type(workload.map.opsPerSecond, 'number', `${workload.workload}: Map ops/s`)
    t.type(workload.shardkvOverPostMessage, 'number')
    t.type(workload.shardkvOverMap, 'number')
  }
  t.same(report.targets.map((target) => target.id), ['readOnly.shardkvOverPostMessage'])
  t.type(report.targets[0]!.met, 'boolean')
})

t.test('bench --help lists store as the default and bench store --help lists its flags, exit 0', async (t) => {
  const group = await shardkv(['bench', '--help'])
  t.equal(group.code, 0)
  t.match(group.stdout, /store\s+.*\(default\)/)
  t.match(group.stdout, /runtime/)
  const store = await shardkv(['bench', 'store', '--help'])
  t.equal(store.code, 0)
  for (const flag of ['--groups', '--client-threads', '--inflight', '--keys', '--value-bytes', '--duration-ms', '--workloads', '--json']) t.match(store.stdout, flag)
})

t.test('a bad flag value is a usage error, exit 2, naming the flag', async (t) => {
  const outOfRange = await shardkv(['bench', 'store', '--inflight', '0'])
  t.equal(outOfRange.code, 2)
  t.match(outOfRange.stderr, '--inflight')
  const badWorkload = await shardkv(['bench', '--workloads', 'read,90/20'])
  t.equal(badWorkload.code, 2)
  t.match(badWorkload.stderr, '--workloads')
  t.equal(badWorkload.stdout, '')
})

t.test('workloads parse to read shares and reject malformed entries', async (t) => {
  t.same(parseWorkloads('read,95/5,50/50,write'), [
    { name: 'read', readPercent: 100 },
    { name: '95/5', readPercent: 95 },
    { name: '50/50', readPercent: 50 },
    { name: 'write', readPercent: 0 },
  ])
  for (const bad of ['', 'reads', '95/6', '95', 'read,read']) t.throws(() => parseWorkloads(bad), UsageError, bad)
})
