import t from 'tap'
import { Metadata, type ServiceError } from '@grpc/grpc-js'
import { ERROR_CODES, ShardKVError } from '../../src/errors.js'
import { isLoopbackHost, parseAddress } from '../../src/grpc/address.js'
import { splitArguments } from '../../src/grpc/cli-command.js'
import { ERROR_CODE_KEY, errorOfPipelineError, errorOfServiceError, GrpcShardKVError, Status, STATUS_OF_CODE, statusObjectOf, summarizeError } from '../../src/grpc/status.js'
import { fromWireValue, missingValue, toWireValue } from '../../src/grpc/values.js'

function serviceError(code: Status, details: string, metadata = new Metadata()): ServiceError {
  return Object.assign(new Error(details), { code, details, metadata })
}

t.test('every ShardKVError code has a status, and the code travels in the trailing metadata and comes back', async (t) => {
  const expected: Record<string, Status> = {
    ERR_INVALID_KEY: Status.INVALID_ARGUMENT,
    ERR_KEY_TOO_LARGE: Status.INVALID_ARGUMENT,
    ERR_INVALID_VALUE: Status.INVALID_ARGUMENT,
    ERR_VALUE_TOO_LARGE: Status.INVALID_ARGUMENT,
    ERR_INVALID_OPTION: Status.INVALID_ARGUMENT,
    ERR_INVALID_SHARD: Status.INVALID_ARGUMENT,
    ERR_TYPE_MISMATCH: Status.FAILED_PRECONDITION,
    ERR_UNKNOWN_GROUP: Status.NOT_FOUND,
    ERR_TIMEOUT: Status.DEADLINE_EXCEEDED,
    ERR_OVERLOADED: Status.RESOURCE_EXHAUSTED,
    ERR_FRAME_TOO_LARGE: Status.RESOURCE_EXHAUSTED,
    ERR_STORAGE_FULL: Status.RESOURCE_EXHAUSTED,
    ERR_CLOSED: Status.UNAVAILABLE,
    ERR_UNKNOWN_ACTOR: Status.INTERNAL,
    ERR_CODEC: Status.INTERNAL,
  }
  for (const code of ERROR_CODES) {
    t.equal(STATUS_OF_CODE[code], expected[code], `${code} -> ${Status[expected[code]!]}`)
    const sent = statusObjectOf(summarizeError(new ShardKVError(code, `why ${code}`), () => t.fail('not a bug')))
    t.equal(sent.code, expected[code])
    t.same(sent.metadata!.get(ERROR_CODE_KEY), [code])
    const received = errorOfServiceError(serviceError(sent.code!, sent.details!, sent.metadata))
    t.ok(received instanceof ShardKVError && received instanceof GrpcShardKVError)
    t.equal(received.code, code)
    t.equal(received.status, expected[code])
    t.equal(received.message, `why ${code}`)
  }
})

t.test('an error that is not a ShardKVError is a bug: INTERNAL without its text, reported to onBug', async (t) => {
  const bugs: unknown[] = []
  const summary = summarizeError(new TypeError('secret detail'), (error) => bugs.push(error))
  t.equal(summary.status, Status.INTERNAL)
  t.notMatch(summary.message, /secret/)
  t.equal(bugs.length, 1)
})

t.test('a status from gRPC itself (no shardkv code) becomes the nearest ShardKVError code', async (t) => {
  const cases: [Status, string][] = [
    [Status.DEADLINE_EXCEEDED, 'ERR_TIMEOUT'],
    [Status.UNAVAILABLE, 'ERR_CLOSED'],
    [Status.CANCELLED, 'ERR_CLOSED'],
    [Status.RESOURCE_EXHAUSTED, 'ERR_FRAME_TOO_LARGE'],
    [Status.UNAUTHENTICATED, 'ERR_INVALID_OPTION'],
    [Status.PERMISSION_DENIED, 'ERR_INVALID_OPTION'],
    [Status.INTERNAL, 'ERR_CODEC'],
    [Status.UNIMPLEMENTED, 'ERR_CODEC'],
  ]
  for (const [status, code] of cases) {
    const error = errorOfServiceError(serviceError(status, 'from grpc'))
    t.equal(error.code, code, `${Status[status]} -> ${code}`)
    t.equal(error.status, status)
    t.match(error.message, new RegExp(`^${Status[status]}: from grpc`))
  }
  t.equal(errorOfServiceError(serviceError(Status.INTERNAL, 'x', metadataWith('NOT_A_CODE'))).code, 'ERR_CODEC', 'an unknown code in the trailer is ignored')
})

t.test('a Pipeline error response carries the same status and code as a unary failure', async (t) => {
  const error = errorOfPipelineError(Status.FAILED_PRECONDITION, 'ERR_TYPE_MISMATCH', 'text onto bytes')
  t.equal(error.code, 'ERR_TYPE_MISMATCH')
  t.equal(error.status, Status.FAILED_PRECONDITION)
  t.equal(errorOfPipelineError(undefined, undefined, undefined).code, 'ERR_CODEC')
})

t.test('values keep string vs bytes across the wire; text must be valid UTF-8', async (t) => {
  t.equal(fromWireValue(toWireValue('héllo ✓'), missingValue), 'héllo ✓')
  t.same(fromWireValue(toWireValue(new Uint8Array([0, 255, 7])), missingValue), new Uint8Array([0, 255, 7]))
  t.equal(fromWireValue({ text: true }, missingValue), '', 'absent data is empty')
  t.throws(() => fromWireValue({ data: Buffer.from([0xff]), text: true }, missingValue), { code: 'ERR_INVALID_VALUE' })
  t.throws(() => fromWireValue(undefined, missingValue), { code: 'ERR_INVALID_VALUE' })
})

t.test('addresses: host:port, [ipv6]:port, grpc:// and grpcs://; anything else names the problem', async (t) => {
  t.match(parseAddress('127.0.0.1:50051'), { host: '127.0.0.1', port: 50051, tls: false, target: '127.0.0.1:50051' })
  t.match(parseAddress('grpc://localhost:7'), { host: 'localhost', port: 7, tls: false })
  t.match(parseAddress('grpcs://db.example:443'), { host: 'db.example', port: 443, tls: true })
  t.match(parseAddress('[::1]:9000'), { host: '::1', port: 9000, target: '[::1]:9000' })
  for (const bad of ['localhost', ':80', 'host:0', 'host:70000', 'http://host:80', 'a b:1']) {
    t.throws(() => parseAddress(bad), { code: 'ERR_INVALID_OPTION' }, bad)
  }
})

t.test('loopback hosts are told apart from the rest', async (t) => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) t.ok(isLoopbackHost(host), host)
  for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.com', '128.0.0.1']) t.notOk(isLoopbackHost(host), host)
})

t.test('command operands are told apart from flags and their values, wherever they stand', async (t) => {
  const specs = { addr: { kind: 'string', description: 'a' }, json: { kind: 'boolean', description: 'j' } } as const
  t.same(splitArguments(specs, ['k', '--addr', 'h:1', 'v', '--json']), { flagArgs: ['--addr', 'h:1', '--json'], operands: ['k', 'v'] })
  t.same(splitArguments(specs, ['--addr=h:1', '--', '--key', '-v']), { flagArgs: ['--addr=h:1'], operands: ['--key', '-v'] })
  t.same(splitArguments(specs, ['-x', '--json', 'y']), { flagArgs: ['--json'], operands: ['-x', 'y'] }, 'a boolean flag takes no value')
})

function metadataWith(code: string): Metadata {
  const metadata = new Metadata()
  metadata.set(ERROR_CODE_KEY, code)
  return metadata
}
