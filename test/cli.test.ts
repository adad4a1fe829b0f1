import t from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { flagName, formatFlagHelp, parseFlags, UsageError, wantsHelp, type FlagSpecs } from '../src/cli-flags.js'
import { main, type CliIo } from '../src/cli.js'

const BIN = fileURLToPath(new URL('../../bin/shardkv.js', import.meta.url))

const SPECS = {
  durationMs: { kind: 'integer', description: 'Window.', default: 2000, min: 50, max: 600_000, unit: 'ms' },
  spinMicros: { kind: 'integer', description: 'Spin.', defaultText: 'the runtime’s', min: 0, max: 10_000 },
  dropRate: { kind: 'number', description: 'Drop rate.', default: 0, min: 0, max: 1 },
  workload: { kind: 'string', description: 'Workload.', choices: ['A', 'B', 'C'], default: 'A' },
  label: { kind: 'string', description: 'Label.' },
  json: { kind: 'boolean', description: 'JSON.' },
} as const satisfies FlagSpecs

function parse(args: string[]): ReturnType<typeof parseFlags<typeof SPECS>> {
  return parseFlags(SPECS, args, 'shardkv test')
}

function usageMessage(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    if (error instanceof UsageError) return error.message
    throw error
  }
  throw new Error('expected a UsageError')
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const io: CliIo = { out: (text) => (out += text), err: (text) => (err += text), errIsTTY: false }
  const code = await main(args, io)
  return { code, out, err }
}

t.test('flag names are the kebab-case of their keys', async (t) => {
  t.equal(flagName('durationMs'), '--duration-ms')
  t.equal(flagName('json'), '--json')
})

t.test('absent flags take their defaults; a flag without one is undefined; booleans are false', async (t) => {
  t.same(parse([]), { durationMs: 2000, spinMicros: undefined, dropRate: 0, workload: 'A', label: undefined, json: false })
})

t.test('flags take values as "--flag value" or "--flag=value"', async (t) => {
  const values = parse(['--duration-ms', '200', '--spin-micros=0', '--drop-rate', '0.25', '--workload=C', '--label', 'x=y', '--json'])
  t.same(values, { durationMs: 200, spinMicros: 0, dropRate: 0.25, workload: 'C', label: 'x=y', json: true })
  t.equal(parse(['--json=false']).json, false)
  t.same(parse(['--duration-ms', '60', '--']), { ...parse([]), durationMs: 60 }, '-- ends the flags')
})

t.test('bad values are usage errors that name the flag and what it accepts', async (t) => {
  t.match(usageMessage(() => parse(['--duration-ms', 'abc'])), /--duration-ms must be an integer in 50\.\.600000 ms, got "abc"/)
  t.match(usageMessage(() => parse(['--duration-ms', '49'])), /--duration-ms must be an integer in 50\.\.600000 ms, got "49"/)
  t.match(usageMessage(() => parse(['--duration-ms', '2.5'])), /must be an integer/)
  t.match(usageMessage(() => parse(['--duration-ms', '1e3'])), /must be an integer/)
  t.match(usageMessage(() => parse(['--drop-rate', '1.5'])), /--drop-rate must be a number in 0\.\.1, got "1\.5"/)
  t.match(usageMessage(() => parse(['--drop-rate', 'NaN'])), /--drop-rate must be a number/)
  t.match(usageMessage(() => parse(['--workload', 'Z'])), /--workload must be one of A, B, C, got "Z"/)
  t.match(usageMessage(() => parse(['--json=yes'])), /--json takes no value/)
})

t.test('unknown flags, missing values, repeats and stray arguments are usage errors', async (t) => {
  t.match(usageMessage(() => parse(['--bogus'])), /^shardkv test: unknown flag --bogus\. Run "shardkv test --help" for usage\.$/)
  t.match(usageMessage(() => parse(['--duration-ms'])), /--duration-ms needs a value \(an integer in 50\.\.600000 ms\)/)
  t.match(usageMessage(() => parse(['--duration-ms', '--json'])), /--duration-ms needs a value/)
  t.match(usageMessage(() => parse(['--json', '--json'])), /--json is given more than once/)
  t.match(usageMessage(() => parse(['extra'])), /unexpected argument "extra"/)
  t.match(usageMessage(() => parse(['--', 'extra'])), /unexpected argument "extra"/)
  t.equal(new UsageError('x').exitCode, 2)
})

t.test('help lists every flag with its default and range', async (t) => {
  const help = formatFlagHelp(SPECS)
  t.match(help, /--duration-ms <ms>\s+Window\. \(default 2000, 50\.\.600000\)/)
  t.match(help, /--spin-micros <n>\s+Spin\. \(default: the runtime’s, 0\.\.10000\)/)
  t.match(help, /--workload <A\|B\|C>\s+Workload\. \(default A\)/)
  t.match(help, /--json\s+JSON\./)
  t.match(help, /--help, -h\s+Show this help\./)
  t.ok(wantsHelp(['--json', '-h']))
  t.notOk(wantsHelp(['--', '--help']), 'after -- nothing is a flag')
})

t.test('--help works for the command and each subcommand', async (t) => {
  for (const [args, usage] of [
    [['--help'], 'Usage: shardkv <command>'],
    [['help'], 'Usage: shardkv <command>'],
    [['bench', '--help'], 'Usage: shardkv bench [command]'],
    [['help', 'bench'], 'Usage: shardkv bench [command]'],
    [['bench', 'runtime', '--help'], 'Usage: shardkv bench runtime [flags]'],
    [['bench', 'runtime', '-h'], 'Usage: shardkv bench runtime [flags]'],
  ] as const) {
    const result = await run([...args])
    t.equal(result.code, 0, `${args.join(' ')} exits 0`)
    t.ok(result.out.startsWith(usage), `${args.join(' ')} prints its usage`)
    t.equal(result.err, '')
  }
  const runtimeHelp = (await run(['bench', 'runtime', '--help'])).out
  for (const flag of ['--duration-ms', '--warmup-ms', '--inflight', '--workers', '--spin-micros', '--idle-ms', '--skip-idle', '--json']) {
    t.match(runtimeHelp, flag)
  }
  t.match((await run(['bench', '--help'])).out, /store\s+.*\(default\)/, 'bench names its default subcommand')
})

t.test('usage mistakes exit 2 with a message on stderr and nothing on stdout', async (t) => {
  for (const [args, message] of [
    [['nope'], /shardkv: unknown command "nope"/],
    [['bench', 'nope'], /shardkv bench: unknown command "nope"/],
    [['--bogus'], /shardkv: unknown flag --bogus/],
    [['bench', '--bogus'], /shardkv bench store: unknown flag --bogus/],
    [['bench', 'runtime', '--inflight', '0'], /--inflight must be an integer in 1\.\.16384, got "0"/],
    [['bench', 'runtime', '--workers', 'many'], /--workers must be an integer/],
    [[], /Usage: shardkv <command>/],
  ] as const) {
    const result = await run([...args])
    t.equal(result.code, 2, `"${args.join(' ')}" exits 2`)
    t.match(result.err, message)
    t.equal(result.out, '')
  }
})

t.test('--version prints the package version', async (t) => {
  const result = await run(['--version'])
  t.equal(result.code, 0)
  t.match(result.out, /^\d+\.\d+\.\d+\n$/)
})

const execFileAsync = promisify(execFile)

t.test('shardkv bench runtime --json runs end to end and prints one JSON document with every target', async (t) => {
  const { stdout, stderr } = await execFileAsync(process.execPath, [BIN, 'bench', 'runtime', '--duration-ms', '200', '--skip-idle', '--json'], {
    timeout: 120_000,
  })
  t.equal(stderr, '', 'no progress line when stderr is not a terminal')
  const report = JSON.parse(stdout) as {
    benchmark: string
    config: { durationMs: number; skipIdle: boolean }
    rows: { id: string; values: Record<string, number | null> }[]
    targets: { id: string; met: boolean | null; value: number | null }[]
    measurements: { idle: unknown }
  }
  t.equal(report.benchmark, 'runtime')
  t.equal(report.config.durationMs, 200)
  t.equal(report.config.skipIdle, true)
  t.equal(report.measurements.idle, null)
  t.same(
    report.targets.map((target) => target.id),
    [
      'pipelined.mainToWorker.ringOverPostMessage',
      'pipelined.mainToWorker.ringOverComlink',
      'pipelined.workerToWorker.ringOverPostMessage',
      'pipelined.workerToWorker.ringOverComlink',
      'pingPong.p50.mainToWorker.ring',
      'pingPong.p50.workerToWorker.ring',
      'idle.cpuPercentOfCore',
    ],
  )
  for (const target of report.targets) {
    if (target.id === 'idle.cpuPercentOfCore') t.equal(target.met, null, 'a skipped target is neither met nor missed')
    else t.type(target.met, 'boolean', `${target.id} was evaluated`)
  }
  t.equal(report.rows.length, 6)
  for (const row of report.rows) {
    for (const transport of ['ring', 'postMessage', 'comlink']) t.type(row.values[transport], 'number', `${row.id} ${transport} measured`)
  }
})

t.test('the command exits 2 on a bad flag when run as a process', async (t) => {
  const failure = await execFileAsync(process.execPath, [BIN, 'bench', 'runtime', '--duration-ms', '10']).then(
    () => undefined,
    (error: { code: number; stdout: string; stderr: string }) => error,
  )
  t.ok(failure, 'the process failed')
  t.equal(failure?.code, 2)
  t.equal(failure?.stdout, '')
  t.match(failure?.stderr, /--duration-ms must be an integer in 50\.\.600000 ms, got "10"/)
})
