/**
 * connectGrpc: a shardkv client in any process that can reach `shardkv
 * serve`. It has the in-process client's interface (put / get / append /
 * delete / close, values string | Uint8Array, ShardKVError codes), plus a
 * per-call deadline, `pipeline()` for many calls over one stream, and
 * `admin` for the shard configuration.
 *
 * Errors are GrpcShardKVError: a ShardKVError whose `code` is the server's
 * (or, for a failure of gRPC itself, the nearest one: see status.ts) and whose
 * `status` is the gRPC status.
 *
 * At most once: every put, append and delete carries a request id (this
 * client's nanoid and a seq: client-request-ids.ts), which the server
 * remembers (request-ledger.ts). A call that fails with an unknown outcome
 * (ERR_TIMEOUT, or ERR_CLOSED when the connection or a pipeline broke
 * mid-call) may still have taken effect; calling the same
 * put/append/delete again on this client, unary or on any of its pipelines,
 * resends it under the same id, so it takes effect at most once. That holds
 * for a retry within MIN_RETRY_WINDOW_MS (or deadlineMs, if longer) of the
 * failure and before RETRY_WINDOW_OPS newer mutations, while the server
 * remembers the id (not across a restart, nor past its bounds). Reads carry
 * no id: reading again is always safe.
 */
import { Client, credentials, Metadata, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js'
import type { Value } from '../client/kv-client.js'
import { readIntegerOptions, describe } from '../client/options.js'
import { ShardKVError } from '../errors.js'
import { parseAddress, type ParsedAddress } from './address.js'
import { AUTHORIZATION_KEY, bearer } from './auth.js'
import { COMMON_CHANNEL_OPTIONS } from './channel-options.js'
import { checkCall, checkCallOptions, decodeGetResponse, MAX_DEADLINE_MS, type CallOptions, type KeyValueStore } from './client-calls.js'
import { GrpcPipeline } from './client-pipeline.js'
import { isUnknownOutcome, RequestIds, type Mutation } from './client-request-ids.js'
import { batchBytesBound } from './pipeline-batch.js'
import { pipelineMethod, unaryMethod } from './proto.js'
import { errorOfServiceError, GrpcShardKVError, Status } from './status.js'
import { toWireValue } from './values.js'
import type { UnaryMethod, UnaryMethods, WireConfig, WireRequestId } from './wire.js'
import type { ClusterActor, ClusterConfig, JoinOptions } from '../cluster.js'

export interface GrpcClientOptions {
  /** Sent as `authorization: Bearer <token>` on every call. Default: none. */
  readonly authToken?: string
  /**
   * TLS: `true` trusts the system's roots; `{ ca }` trusts that PEM (a
   * private CA or a self-signed certificate). Default: plaintext, unless the
   * address is grpcs://.
   */
  readonly tls?: boolean | { readonly ca?: string | Uint8Array }
  /** Every call's deadline unless the call gives its own, ms. Default 10000. */
  readonly deadlineMs?: number
  /** How long connectGrpc waits for the connection, ms. Default 5000. */
  readonly connectTimeoutMs?: number
  /** Largest message either way, bytes; match the server's --max-message-bytes. Default 4 MiB. */
  readonly maxMessageBytes?: number
}

const INTEGER_OPTIONS = {
  deadlineMs: { default: 10_000, min: 1, max: MAX_DEADLINE_MS },
  connectTimeoutMs: { default: 5_000, min: 1, max: MAX_DEADLINE_MS },
  maxMessageBytes: { default: 4 * 1024 * 1024, min: 1024, max: 0x7fffffff },
} as const

interface Settings {
  readonly deadlineMs: number
  readonly authToken: string | undefined
  readonly maxMessageBytes: number
}

/** Connects to a shardkv server and resolves once the connection is up (ERR_CLOSED if it cannot be reached in time). */
export async function connectGrpc(address: string, options: GrpcClientOptions = {}): Promise<GrpcClient> {
  const parsed = parseAddress(address)
  const { authToken, tls, ...integers } = options
  const limits = readIntegerOptions('connectGrpc', integers, INTEGER_OPTIONS)
  if (authToken !== undefined && (typeof authToken !== 'string' || authToken === '')) {
    throw new ShardKVError('ERR_INVALID_OPTION', `connectGrpc: authToken must be a non-empty string, got ${describe(authToken)}`)
  }
  const channel = new Client(parsed.target, channelCredentials(parsed, tls), {
    'grpc.max_receive_message_length': limits.maxMessageBytes,
    'grpc.max_send_message_length': limits.maxMessageBytes,
    ...COMMON_CHANNEL_OPTIONS,
  })
  try {
    await waitForReady(channel, parsed, limits.connectTimeoutMs)
  } catch (error) {
    channel.close()
    throw error
  }
  return new GrpcClient(channel, { deadlineMs: limits.deadlineMs, authToken, maxMessageBytes: limits.maxMessageBytes })
}

export class GrpcClient implements KeyValueStore {
  /** The shard configuration and the actors (the Admin service). */
  readonly admin: GrpcAdmin
  private readonly pipelines = new Set<GrpcPipeline>()
  /** The ids of this client's mutations, unary and pipelined alike. */
  private readonly ids: RequestIds
  private closed = false

  /** @internal Use connectGrpc(). */
  constructor(
    private readonly channel: Client,
    private readonly settings: Settings,
  ) {
    this.admin = new GrpcAdmin((method, request, options) => this.call(method, request, options))
    this.ids = new RequestIds(settings.deadlineMs)
  }

  async get(key: string, options?: CallOptions): Promise<Value | undefined> {
    checkCall(key, undefined, options)
    return decodeGetResponse(await this.call('KeyValue/Get', { key }, options))
  }

  async put(key: string, value: Value, options?: CallOptions): Promise<void> {
    checkCall(key, value, options)
    await this.mutate({ op: 'put', key, value }, options, (id, deadline) => this.call('KeyValue/Put', { key, value: toWireValue(value), id }, options, deadline))
  }

  async append(key: string, value: Value, options?: CallOptions): Promise<void> {
    checkCall(key, value, options)
    await this.mutate({ op: 'append', key, value }, options, (id, deadline) => this.call('KeyValue/Append', { key, value: toWireValue(value), id }, options, deadline))
  }

  async delete(key: string, options?: CallOptions): Promise<boolean> {
    checkCall(key, undefined, options)
    const response = await this.mutate({ op: 'delete', key, value: undefined }, options, (id, deadline) => this.call('KeyValue/Delete', { key, id }, options, deadline))
    return response.deleted === true
  }

  /** A Pipeline stream: the same calls, many in flight over one stream. Closed with this client. */
  pipeline(): GrpcPipeline {
    this.assertOpen()
    const method = pipelineMethod()
    const stream = this.channel.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, this.metadata())
    const pipeline = new GrpcPipeline(stream, this.settings.deadlineMs, this.ids, batchBytesBound(this.settings.maxMessageBytes))
    this.pipelines.add(pipeline)
    return pipeline
  }

  /** Closes the connection: calls in flight and later ones fail with ERR_CLOSED. */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const pipeline of this.pipelines) pipeline.close()
    this.channel.close()
  }

  /** A mutation under its request id; the id is remembered for a retry when the outcome is unknown. */
  private async mutate<T>(mutation: Mutation, options: CallOptions | undefined, send: (id: WireRequestId, deadline: number) => Promise<T>): Promise<T> {
    this.assertOpen()
    const timeoutMs = options?.deadlineMs ?? this.settings.deadlineMs
    const deadline = Date.now() + timeoutMs
    const seq = await this.ids.claim(mutation, timeoutMs)
    try {
      const response = await send(this.ids.idOf(seq), deadline)
      this.ids.settle(seq, mutation, false)
      return response
    } catch (error) {
      this.ids.settle(seq, mutation, isUnknownOutcome(error))
      throw error
    }
  }

  private call<M extends UnaryMethod>(
    name: M,
    request: UnaryMethods[M][0],
    options: CallOptions | undefined,
    deadline = Date.now() + (options?.deadlineMs ?? this.settings.deadlineMs),
  ): Promise<UnaryMethods[M][1]> {
    this.assertOpen()
    const method = unaryMethod(name)
    return new Promise((resolve, reject) => {
      withoutCallerStack(() =>
        this.channel.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, this.metadata(), { deadline }, (error: ServiceError | null, response?: UnaryMethods[M][1]) => {
          if (error !== null) reject(errorOfServiceError(error))
          else resolve(response ?? {})
        }),
      )
    })
  }

  private metadata(): Metadata {
    const metadata = new Metadata()
    if (this.settings.authToken !== undefined) metadata.set(AUTHORIZATION_KEY, bearer(this.settings.authToken))
    return metadata
  }

  private assertOpen(): void {
    if (this.closed) throw new ShardKVError('ERR_CLOSED', 'the client was closed; connect again')
  }
}

type Caller = <M extends UnaryMethod>(name: M, request: UnaryMethods[M][0], options: CallOptions | undefined) => Promise<UnaryMethods[M][1]>

/** The Cluster's admin calls, remotely. Each takes an optional last CallOptions. */
export class GrpcAdmin {
  /** @internal */
  constructor(private readonly call: Caller) {}

  /** Starts and joins a new group; resolves with its gid. */
  async join(options: JoinOptions = {}, callOptions?: CallOptions): Promise<number> {
    checkCallOptions(callOptions)
    const response = await this.call('Admin/Join', { replicas: options.replicas ?? 0 }, callOptions)
    return response.gid ?? 0
  }

  async leave(gid: number, callOptions?: CallOptions): Promise<void> {
    checkCallOptions(callOptions)
    await this.call('Admin/Leave', { gid: checkWireInteger('gid', gid) }, callOptions)
  }

  async move(shard: number, gid: number, callOptions?: CallOptions): Promise<void> {
    checkCallOptions(callOptions)
    await this.call('Admin/Move', { shard: checkWireInteger('shard', shard), gid: checkWireInteger('gid', gid) }, callOptions)
  }

  /** Configuration `num`, or the latest when absent or negative. */
  async query(num?: number, callOptions?: CallOptions): Promise<ClusterConfig> {
    checkCallOptions(callOptions)
    if (num !== undefined && !Number.isSafeInteger(num)) throw new ShardKVError('ERR_INVALID_OPTION', `query: num must be an integer, got ${describe(num)}`)
    const response = await this.call('Admin/Query', num === undefined ? {} : { num }, callOptions)
    return fromWireConfig(response.config ?? {})
  }

  async actors(callOptions?: CallOptions): Promise<ClusterActor[]> {
    checkCallOptions(callOptions)
    const response = await this.call('Admin/Actors', {}, callOptions)
    return (response.actors ?? []).map((actor) => {
      const base = { id: actor.id ?? '', role: (actor.role ?? 'down') as ClusterActor['role'], restarts: actor.restarts ?? 0 }
      return actor.kind === 'storage' ? { ...base, kind: 'storage', gid: actor.gid ?? 0 } : { ...base, kind: 'master' }
    })
  }

  /** The cluster's stats (the shape of Cluster.stats()), as the server's JSON. */
  async stats(callOptions?: CallOptions): Promise<Record<string, unknown>> {
    checkCallOptions(callOptions)
    const response = await this.call('Admin/Stats', {}, callOptions)
    return JSON.parse(response.json ?? '{}') as Record<string, unknown>
  }
}

/** A uint32 field: the wire would silently wrap anything else. */
function checkWireInteger(name: string, value: number): number {
  if (Number.isSafeInteger(value) && value >= 0 && value <= 0xffffffff) return value
  throw new ShardKVError(name === 'shard' ? 'ERR_INVALID_SHARD' : 'ERR_UNKNOWN_GROUP', `${name} must be a non-negative integer, got ${describe(value)}`)
}

function fromWireConfig(config: WireConfig): ClusterConfig {
  const groups: Record<number, string[]> = {}
  for (const [gid, members] of Object.entries(config.groups ?? {})) groups[Number(gid)] = [...(members.actors ?? [])]
  return { num: config.num ?? 0, shards: [...(config.shards ?? [])], groups }
}

/**
 * Runs `start` with stack capture off. grpc-js's makeUnaryRequest captures
 * the caller's stack in an Error on every call, only to append it to the
 * ServiceError of a failed call; errorOfServiceError replaces that error
 * with a GrpcShardKVError and drops its stack, so the capture (its async
 * frames included) is pure cost: about 7% of the client's CPU per unary call
 * and ~18 µs of a sequential call's latency on the 2-core development VM.
 */
function withoutCallerStack(start: () => void): void {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    start()
  } finally {
    Error.stackTraceLimit = limit
  }
}

function channelCredentials(address: ParsedAddress, tls: GrpcClientOptions['tls']): ChannelCredentials {
  if (tls === undefined || tls === false) return address.tls ? credentials.createSsl() : credentials.createInsecure()
  if (tls === true) return credentials.createSsl()
  if (typeof tls !== 'object' || tls === null) throw new ShardKVError('ERR_INVALID_OPTION', `connectGrpc: tls must be a boolean or { ca }, got ${describe(tls)}`)
  return credentials.createSsl(tls.ca === undefined ? null : Buffer.from(tls.ca))
}

function waitForReady(channel: Client, address: ParsedAddress, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    channel.waitForReady(Date.now() + timeoutMs, (error) => {
      if (error === undefined) resolve()
      else reject(new GrpcShardKVError('ERR_CLOSED', Status.UNAVAILABLE, `cannot reach a shardkv server at ${address.target} within ${timeoutMs} ms: ${error.message}`))
    })
  })
}

export { GrpcPipeline } from './client-pipeline.js'
export { GrpcShardKVError } from './status.js'
export type { CallOptions, KeyValueStore } from './client-calls.js'
