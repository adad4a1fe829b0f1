import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'

const BIN = fileURLToPath(new URL('../../../bin/shardkv.js', import.meta.url))
const execFileAsync = promisify(execFile)

interface Outcome {
  code: number
  stdout: string
  stderr: string
}

/** Runs the CLI as a process; resolves with its exit code and output, whatever the code. */
async function shardkv(args: string[], timeoutMs: number): Promise<Outcome> {
  return execFileAsync(process.execPath, [BIN, ...args], { timeout: timeoutMs }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  )
}

t.test('a short run prints one JSON document with every field and the seed', async (t) => {
  const { code, stdout, stderr } = await shardkv(['chaos', '--duration', '3', '--seed', '42', '--json'], 170_000)
  t.equal(stderr, '', 'no progress line when stderr is not a terminal')
  const report = JSON.parse(stdout) as Record<string, unknown> & {
    operations: Record<string, number>
    faults: { injected: Record<string, number>; total: number }
    lostWrites: { lost: number }
    linearizable: string
    passed: boolean
  }
  t.equal(report.seed, 42)
  t.equal(report.durationMs, 3000)
  for (const field of ['cluster', 'workload', 'operations', 'faults', 'settle', 'finalReads', 'linearizable', 'linearizabilityDetail', 'lostWrites', 'notes', 'passed']) {
    t.ok(field in report, `has ${field}`)
  }
  for (const field of ['total', 'ok', 'failed', 'unknown']) t.type(report.operations[field], 'number', `operations.${field}`)
  t.equal(report.operations.total, report.operations.ok! + report.operations.failed! + report.operations.unknown!)
  t.same(Object.keys(report.faults.injected).sort(), ['kill', 'partition', 'pause', 'unreliable'])
  t.ok(['yes', 'no', 'unknown'].includes(report.linearizable))
  t.type(report.lostWrites.lost, 'number')
  t.equal(code, report.passed ? 0 : 1, 'exit 0 exactly when the run passed')
})

t.test('bad flags exit 2 without running', async (t) => {
  for (const args of [['--duration', '0'], ['--seed', '-1'], ['--clients', 'many'], ['--no-such-flag'], ['extra'], ['--replicas', '2']]) {
    const { code, stdout, stderr } = await shardkv(['chaos', ...args], 30_000)
    t.equal(code, 2, args.join(' '))
    t.equal(stdout, '')
    t.match(stderr, /shardkv chaos/)
  }
})

t.test('--help describes the flags and exits 0', async (t) => {
  const { code, stdout } = await shardkv(['chaos', '--help'], 30_000)
  t.equal(code, 0)
  for (const flag of ['--seed', '--duration', '--fault-interval-ms', '--clients', '--keys', '--groups', '--replicas', '--masters', '--shards', '--json']) t.match(stdout, flag)
})
