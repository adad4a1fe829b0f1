/**
 * Serves a Cluster over gRPC: both services of proto/shardkv.proto on one
 * port, with the limits and the access rules of `shardkv serve`.
 *
 * - Without a token the server binds only to loopback unless `insecure`.
 * - `maxMessageBytes` bounds every message both ways; grpc-js refuses a
 *   larger one with RESOURCE_EXHAUSTED on that call only.
 * - shutdown(): no new calls; open Pipeline streams stop reading and end
 *   once their outstanding operations answer; unary calls finish. Past
 *   `drainTimeoutMs` the remaining calls are cancelled. The cluster is the
 *   caller's to close afterwards.
 */
import { Server, ServerCredentials } from '@grpc/grpc-js'
import type { Cluster } from '../cluster.js'
import { ShardKVError } from '../errors.js'
import { formatHostPort, isLoopbackHost } from './address.js'
import { TokenCheck } from './auth.js'
import { COMMON_CHANNEL_OPTIONS } from './channel-options.js'
import { KvPool } from './kv-pool.js'
import { batchBytesBound } from './pipeline-batch.js'
import type { PipelineSession } from './pipeline-session.js'
import { shardKvProto } from './proto.js'
import { RequestLedger } from './request-ledger.js'
import { adminService, keyValueService } from './service.js'

export const DEFAULT_HOST = '127.0.0.1'
export const DEFAULT_PORT = 50051
/** gRPC's customary default receive limit. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000

export interface GrpcServerOptions {
  /** Interface to bind. Default 127.0.0.1. */
  readonly host?: string
  /** Default 50051; 0 picks a free port. */
  readonly port?: number
  /** Largest message either way, in bytes. Default 4 MiB. */
  readonly maxMessageBytes?: number
  /** When set, every call must carry `authorization: Bearer <token>`. */
  readonly authToken?: string
  /** PEM certificate chain and private key: serve TLS. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer }
  /** Allow binding to a non-loopback host without a token. */
  readonly insecure?: boolean
  /** Sees every error that is not a ShardKVError (a bug). Default: written to stderr. */
  readonly onBug?: (error: unknown) => void
}

export interface GrpcServer {
  /** `host:port` as bound (the real port when 0 was asked). */
  readonly address: string
  readonly port: number
  readonly tls: boolean
  readonly authRequired: boolean
  /** Drains and stops; resolves true when every call finished within the bound, false when some were cancelled. */
  shutdown(drainTimeoutMs?: number): Promise<boolean>
  /** Cancels every call still open now (a shutdown in progress then resolves false). */
  cancelAll(): void
}

export async function serveCluster(cluster: Cluster, options: GrpcServerOptions = {}): Promise<GrpcServer> {
  const host = options.host ?? DEFAULT_HOST
  const port = options.port ?? DEFAULT_PORT
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
  checkAccess(host, options)
  const tokens = new TokenCheck(options.authToken)
  const pool = new KvPool(cluster)
  const sessions = new Set<PipelineSession>()
  const context = { cluster, pool, ledger: new RequestLedger(), tokens, sessions, batchBytes: batchBytesBound(maxMessageBytes), onBug: options.onBug ?? reportBug }
  const server = new Server({ 'grpc.max_receive_message_length': maxMessageBytes, 'grpc.max_send_message_length': maxMessageBytes, ...COMMON_CHANNEL_OPTIONS })
  const proto = shardKvProto()
  server.addService(proto.keyValue, keyValueService(context))
  server.addService(proto.admin, adminService(context))
  const credentials = options.tls === undefined ? ServerCredentials.createInsecure() : ServerCredentials.createSsl(null, [{ cert_chain: options.tls.cert, private_key: options.tls.key }], false)
  let boundPort: number
  try {
    boundPort = await bind(server, formatHostPort(host, port), credentials)
  } catch (error) {
    pool.close()
    throw error
  }
  return {
    address: formatHostPort(host, boundPort),
    port: boundPort,
    tls: options.tls !== undefined,
    authRequired: tokens.required,
    shutdown: async (drainTimeoutMs = DEFAULT_DRAIN_TIMEOUT_MS) => {
      for (const session of [...sessions]) session.drain()
      const drained = await stop(server, drainTimeoutMs)
      pool.close()
      return drained
    },
    cancelAll: () => server.forceShutdown(),
  }
}

function checkAccess(host: string, options: GrpcServerOptions): void {
  if (options.authToken === '') throw new ShardKVError('ERR_INVALID_OPTION', 'authToken must not be empty')
  if (options.authToken === undefined && options.insecure !== true && !isLoopbackHost(host)) {
    throw new ShardKVError('ERR_INVALID_OPTION', `refusing to serve ${host} (not loopback) without an auth token; set one, or pass insecure to allow anyone who can reach it`)
  }
}

function bind(server: Server, target: string, credentials: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(target, credentials, (error, port) => {
      if (error === null) resolve(port)
      else reject(new ShardKVError('ERR_INVALID_OPTION', `cannot listen on ${target}: ${error.message}`))
    })
  })
}

function stop(server: Server, drainTimeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown()
      resolve(false)
    }, drainTimeoutMs)
    server.tryShutdown(() => {
      clearTimeout(timer)
      resolve(true)
    })
  })
}

function reportBug(error: unknown): void {
  process.stderr.write(`shardkv grpc: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
}
