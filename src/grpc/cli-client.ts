/**
 * What the client verbs (`get`, `put`, `append`, `del`, `admin ...`) share:
 * their connection flags, one connection per command, and the mapping of
 * outcomes to stdout, stderr and exit codes that scripts rely on.
 *
 * stdout: the result (text), or with --json exactly one JSON document, the
 * result or {"ok":false,"error":{code,status,message}}. stderr: the error.
 */
import { readFileSync } from 'node:fs'
import type { CliIo } from '../cli.js'
import { UsageError, type FlagSpecs, type FlagValues } from '../cli-flags.js'
import { ShardKVError } from '../errors.js'
import { parseAddress } from './address.js'
import { AUTH_TOKEN_ENV } from './auth.js'
import type { GrpcClient, GrpcClientOptions } from './client.js'

export const EXIT_CODES = {
  ok: 0,
  /** The server refused or failed the call; the error names its ShardKVError code. */
  failed: 1,
  usage: 2,
  /** get / del: the key has no value. */
  notFound: 3,
  /** The server could not be reached, or refused the token (UNAVAILABLE, UNAUTHENTICATED). */
  unreachable: 4,
} as const

export const EXIT_CODES_HELP = `Exit codes:
  0   done
  1   the server refused or failed the call (stderr names the error code, e.g. ERR_TYPE_MISMATCH)
  2   usage mistake (unknown flag, missing operand, bad value)
  3   the key has no value (get, del)
  4   the server cannot be reached, or refused the token`

export const DEFAULT_ADDRESS = '127.0.0.1:50051'

export const CLIENT_FLAGS = {
  addr: { kind: 'string', description: 'The server: host:port, grpc://host:port, or grpcs://host:port for TLS.', default: DEFAULT_ADDRESS },
  authToken: { kind: 'string', description: 'Token the server requires.', defaultText: `$${AUTH_TOKEN_ENV}, else none` },
  tls: { kind: 'boolean', description: "Use TLS, trusting the system's roots." },
  tlsCa: { kind: 'string', description: 'PEM file of the CA (or self-signed certificate) to trust; implies TLS.' },
  deadlineMs: { kind: 'integer', description: 'Bound of the connection and the call.', default: 10_000, min: 1, max: 3_600_000, unit: 'ms' },
  json: { kind: 'boolean', description: 'Print one JSON document on stdout: the result, or {"ok":false,"error":{...}}.' },
} as const satisfies FlagSpecs

export type ClientFlagValues = FlagValues<typeof CLIENT_FLAGS>

/** What a command prints on success and exits with. */
export interface Outcome {
  readonly exitCode: number
  /** For stdout without --json (a trailing newline is added); empty prints nothing. */
  readonly text: string
  readonly json: Record<string, unknown>
  /** For stderr, e.g. "key not found". */
  readonly note?: string
}

/** Connects, runs `call`, closes, and prints its outcome or its error. */
export async function withClient(values: ClientFlagValues, io: CliIo, path: string, call: (client: GrpcClient) => Promise<Outcome>): Promise<number> {
  const options = clientOptions(values, path)
  const { connectGrpc } = await import('./client.js')
  let outcome: Outcome
  try {
    const client = await connectGrpc(values.addr, options)
    try {
      outcome = await call(client)
    } finally {
      client.close()
    }
  } catch (error) {
    return reportFailure(error, values.json, io, path)
  }
  if (values.json) io.out(`${JSON.stringify({ ok: true, ...outcome.json })}\n`)
  else if (outcome.text !== '') io.out(`${outcome.text}\n`)
  if (outcome.note !== undefined) io.err(`${path}: ${outcome.note}\n`)
  return outcome.exitCode
}

function clientOptions(values: ClientFlagValues, path: string): GrpcClientOptions {
  try {
    parseAddress(values.addr)
  } catch (error) {
    throw new UsageError(`${path}: --addr: ${error instanceof Error ? error.message : String(error)}`)
  }
  const authToken = values.authToken ?? nonEmpty(process.env[AUTH_TOKEN_ENV])
  if (authToken === '') throw new UsageError(`${path}: --auth-token must not be empty`)
  const tls = values.tlsCa !== undefined ? { ca: readPem(values.tlsCa, '--tls-ca', path) } : values.tls
  return { authToken, tls, deadlineMs: values.deadlineMs, connectTimeoutMs: values.deadlineMs }
}

export function readPem(file: string, flag: string, path: string): Buffer {
  try {
    return readFileSync(file)
  } catch (error) {
    throw new UsageError(`${path}: ${flag}: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`)
  }
}

export function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text === '' ? undefined : text
}

async function reportFailure(error: unknown, json: boolean, io: CliIo, path: string): Promise<number> {
  if (!(error instanceof ShardKVError)) throw error
  const { GrpcShardKVError, Status } = await import('./status.js')
  const status = error instanceof GrpcShardKVError ? error.status : undefined
  const statusName = status === undefined ? undefined : Status[status]
  const reachedShardKv = status === undefined || ![Status.UNAVAILABLE, Status.UNAUTHENTICATED, Status.PERMISSION_DENIED].includes(status)
  if (json) io.out(`${JSON.stringify({ ok: false, error: { code: error.code, status: statusName ?? null, message: error.message } })}\n`)
  io.err(`${path}: ${error.code}${statusName === undefined ? '' : ` (${statusName})`}: ${error.message}\n`)
  return reachedShardKv ? EXIT_CODES.failed : EXIT_CODES.unreachable
}
