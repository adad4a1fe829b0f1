/**
 * `shardkv serve`: start an embedded cluster and serve it over gRPC until
 * SIGINT or SIGTERM; then drain (no new calls, in-flight ones finish, open
 * Pipeline streams end once their operations answer, at most
 * --drain-timeout-ms), close the cluster and exit 0. A second signal cancels
 * what is still draining.
 *
 * stdout gets one line once the server listens: `shardkv serving on
 * HOST:PORT ...` (or with --json one document with "address"); progress goes
 * to stderr.
 */
import type { ArgsCommand, CliIo } from '../cli.js'
import { UsageError, type FlagSpecs, type FlagValues } from '../cli-flags.js'
import { isLoopbackHost } from './address.js'
import { AUTH_TOKEN_ENV } from './auth.js'
import { nonEmpty, readPem } from './cli-client.js'
import { operandCommand } from './cli-command.js'
import type { GrpcServer, GrpcServerOptions } from './server.js'
import { CLUSTER_SHAPE_FLAGS } from '../cluster-flags.js'

// Cluster-shape ranges are the flags' own; createCluster checks them again (ERR_INVALID_OPTION, exit 2).
const SERVE_FLAGS = {
  host: { kind: 'string', description: 'Interface to listen on; anything but loopback needs --auth-token or --insecure.', default: '127.0.0.1' },
  port: { kind: 'integer', description: 'Port to listen on; 0 picks a free one (printed).', default: 50051, min: 0, max: 65_535 },
  groups: { kind: 'integer', description: 'Replica groups joined at start.', default: 3, min: 0, max: 64 },
  ...CLUSTER_SHAPE_FLAGS,
  maxKeyBytes: { kind: 'integer', description: 'Largest key (UTF-8).', default: 1024, min: 1, max: 65_536, unit: 'bytes' },
  maxValueBytes: { kind: 'integer', description: 'Largest value.', default: 1_048_576, min: 1, max: 8_388_608, unit: 'bytes' },
  opTimeoutMs: { kind: 'integer', description: 'Bound of every operation inside the cluster (ERR_TIMEOUT past it).', default: 10_000, min: 1, max: 3_600_000, unit: 'ms' },
  maxMessageBytes: { kind: 'integer', description: 'Largest gRPC message either way; larger ones are refused (RESOURCE_EXHAUSTED).', default: 4_194_304, min: 1024, max: 268_435_456, unit: 'bytes' },
  authToken: { kind: 'string', description: 'Require "authorization: Bearer <token>" on every call.', defaultText: `$${AUTH_TOKEN_ENV}, else none` },
  tlsCert: { kind: 'string', description: 'PEM certificate chain: serve TLS (with --tls-key).' },
  tlsKey: { kind: 'string', description: 'PEM private key of --tls-cert.' },
  insecure: { kind: 'boolean', description: 'Allow a non-loopback --host without a token.' },
  drainTimeoutMs: { kind: 'integer', description: 'On SIGINT/SIGTERM, how long in-flight calls may finish.', default: 10_000, min: 0, max: 600_000, unit: 'ms' },
  json: { kind: 'boolean', description: 'Print the listening address as one JSON document.' },
} as const satisfies FlagSpecs

type ServeValues = FlagValues<typeof SERVE_FLAGS>

export const serveCommand: ArgsCommand = operandCommand({
  name: 'serve',
  summary: 'Serve an embedded cluster over gRPC (proto/shardkv.proto) until SIGINT/SIGTERM.',
  operands: [],
  flags: SERVE_FLAGS,
  epilog: 'Exit codes: 0 stopped by a signal (after draining); 1 could not start; 2 usage mistake.',
  run: (values, _operands, io, path) => serve(values, io, path),
})

async function serve(values: ServeValues, io: CliIo, path: string): Promise<number> {
  const authToken = values.authToken ?? nonEmpty(process.env[AUTH_TOKEN_ENV])
  if (authToken === '') throw new UsageError(`${path}: --auth-token must not be empty`)
  if (authToken === undefined && !values.insecure && !isLoopbackHost(values.host)) {
    throw new UsageError(`${path}: refusing to listen on ${values.host} (not loopback) without --auth-token (or $${AUTH_TOKEN_ENV}); pass --insecure to allow anyone who can reach it`)
  }
  if ((values.tlsCert === undefined) !== (values.tlsKey === undefined)) throw new UsageError(`${path}: --tls-cert and --tls-key go together`)
  const tls = values.tlsCert === undefined ? undefined : { cert: readPem(values.tlsCert, '--tls-cert', path), key: readPem(values.tlsKey!, '--tls-key', path) }
  const signals = listenForSignals()
  try {
    return await serveUntilSignal(values, { authToken, tls }, signals, io, path)
  } finally {
    signals.stop()
  }
}

async function serveUntilSignal(values: ServeValues, access: Pick<GrpcServerOptions, 'authToken' | 'tls'>, signals: SignalListener, io: CliIo, path: string): Promise<number> {
  const { createCluster } = await import('../cluster.js')
  const { serveCluster } = await import('./server.js')
  const { ShardKVError } = await import('../errors.js')
  const cluster = await createCluster(clusterOptions(values)).catch((error: unknown) => {
    throw error instanceof ShardKVError && error.code === 'ERR_INVALID_OPTION' ? new UsageError(`${path}: ${error.message}`) : error
  })
  let server: GrpcServer
  try {
    server = await serveCluster(cluster, { ...access, host: values.host, port: values.port, maxMessageBytes: values.maxMessageBytes, insecure: values.insecure })
  } catch (error) {
    await cluster.close()
    throw error
  }
  io.out(listeningLine(server, values))
  const signal = await signals.next()
  io.err(`${path}: ${signal}: draining (at most ${values.drainTimeoutMs} ms)\n`)
  void signals.next().then((again) => {
    io.err(`${path}: ${again}: cancelling the calls still in flight\n`)
    server.cancelAll()
  })
  const drained = await server.shutdown(values.drainTimeoutMs)
  await cluster.close()
  io.err(`${path}: ${drained ? 'drained' : 'drain bound reached, calls cancelled'}; cluster closed\n`)
  return 0
}

function clusterOptions(values: ServeValues): Record<string, number> {
  const { groups, replicas, masters, shards, maxKeyBytes, maxValueBytes, opTimeoutMs } = values
  return { groups, replicas, masters, shards, maxKeyBytes, maxValueBytes, opTimeoutMs }
}

function listeningLine(server: GrpcServer, values: ServeValues): string {
  const facts = { address: server.address, port: server.port, tls: server.tls, auth: server.authRequired, groups: values.groups, shards: values.shards }
  if (values.json) return `${JSON.stringify(facts)}\n`
  return `shardkv serving on ${server.address} (${server.tls ? 'TLS' : 'plaintext'}, ${server.authRequired ? 'token required' : 'no token'}; ${values.groups} groups, ${values.shards} shards)\n`
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const

interface SignalListener {
  /** The next SIGINT or SIGTERM (one that came before the call is not lost). */
  next(): Promise<NodeJS.Signals>
  /** Removes the handlers: the signals kill the process again. */
  stop(): void
}

/** While listening, SIGINT and SIGTERM do not kill the process: they are handed to next(). */
function listenForSignals(): SignalListener {
  const received: NodeJS.Signals[] = []
  let waiter: ((signal: NodeJS.Signals) => void) | undefined
  const handler = (signal: NodeJS.Signals): void => {
    const resolve = waiter
    waiter = undefined
    if (resolve === undefined) received.push(signal)
    else resolve(signal)
  }
  for (const name of SIGNALS) process.on(name, handler)
  return {
    next: () =>
      new Promise((resolve) => {
        const early = received.shift()
        if (early === undefined) waiter = resolve
        else resolve(early)
      }),
    stop: () => {
      for (const name of SIGNALS) process.off(name, handler)
    },
  }
}
