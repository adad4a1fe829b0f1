/**
 * The client end of a Pipeline stream: the key-value calls of GrpcClient,
 * multiplexed as tagged requests over one stream, for throughput. Tags count
 * up from 1; responses settle their call by tag, in any order.
 *
 * Batches (pipeline-batch.ts): requests made in the same turn are written
 * as one batch message, on setImmediate or as soon as a batch is full (a
 * lone request goes out as a plain message); responses are accepted plain
 * or batched. The server must know batches (shardkv.proto field `batch`).
 *
 * Bounds: at most MAX_PIPELINE_CALLS calls outstanding (more is
 * ERR_OVERLOADED); each call's deadline (deadlineMs) is checked by one
 * sweeper timer, not a timer per call, and a call past it fails with
 * ERR_TIMEOUT (outcome unknown; its late response is ignored). When the
 * stream ends or fails, every outstanding call fails with the stream's error.
 *
 * Mutations carry the request ids of the GrpcClient that opened the
 * pipeline (client-request-ids.ts), so a mutation whose outcome is unknown
 * (a deadline, or the stream failing under it) may be retried on any
 * pipeline of that client, or as a unary call, without applying twice.
 */
import type { ClientDuplexStream, ServiceError } from '@grpc/grpc-js'
import type { Value } from '../client/kv-client.js'
import { ShardKVError } from '../errors.js'
import { checkCall, decodeGetResponse, type CallOptions, type KeyValueStore } from './client-calls.js'
import { isUnknownOutcome, type Mutation, type RequestIds } from './client-request-ids.js'
import { OutgoingBatch, requestBytes, unbatch } from './pipeline-batch.js'
import { errorOfPipelineError, errorOfServiceError, GrpcShardKVError, Status } from './status.js'
import { toWireValue } from './values.js'
import type { PipelineRequest, PipelineResponse, WireRequestId } from './wire.js'

export const MAX_PIPELINE_CALLS = 16_384
const SWEEP_INTERVAL_MS = 50

/** How a call ended; `outcomeUnknown`: the server may have run it (see RequestIds.settle). */
type CallOutcome = { readonly response: PipelineResponse } | { readonly error: ShardKVError; readonly outcomeUnknown: boolean }

interface PendingCall {
  readonly deadlineAtMs: number
  readonly settle: (outcome: CallOutcome) => void
}

export class GrpcPipeline implements KeyValueStore {
  private readonly pending = new Map<number, PendingCall>()
  private nextTag = 1
  private failure: ShardKVError | undefined
  private readonly sweeper: NodeJS.Timeout
  private readonly queued: OutgoingBatch<PipelineRequest>

  /** @internal Use GrpcClient.pipeline(). */
  constructor(
    private readonly stream: ClientDuplexStream<PipelineRequest, PipelineResponse>,
    private readonly deadlineMs: number,
    private readonly ids: RequestIds,
    batchBytes: number,
  ) {
    // After a failure the stream is gone: queued requests are dropped, their calls already failed.
    this.queued = new OutgoingBatch(batchBytes, (message) => {
      if (this.failure === undefined) this.stream.write(message)
    })
    stream.on('data', (message: PipelineResponse) => {
      for (const response of unbatch(message)) this.settle(response)
    })
    stream.on('error', (error: ServiceError) => this.failAll(errorOfServiceError(error)))
    stream.on('end', () => this.failAll(new GrpcShardKVError('ERR_CLOSED', Status.UNAVAILABLE, 'the server ended the pipeline stream (shutting down?)')))
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS)
    this.sweeper.unref()
  }

  async get(key: string, options?: CallOptions): Promise<Value | undefined> {
    checkCall(key, undefined, options)
    return decodeGetResponse(responseOf(await this.send({ get: { key } }, this.deadlineOf(options))).get ?? {})
  }

  async put(key: string, value: Value, options?: CallOptions): Promise<void> {
    checkCall(key, value, options)
    await this.mutate({ op: 'put', key, value }, options, (id) => ({ put: { key, value: toWireValue(value), id } }))
  }

  async append(key: string, value: Value, options?: CallOptions): Promise<void> {
    checkCall(key, value, options)
    await this.mutate({ op: 'append', key, value }, options, (id) => ({ append: { key, value: toWireValue(value), id } }))
  }

  async delete(key: string, options?: CallOptions): Promise<boolean> {
    checkCall(key, undefined, options)
    return (await this.mutate({ op: 'delete', key, value: undefined }, options, (id) => ({ delete: { key, id } }))).delete?.deleted === true
  }

  /** Calls in flight on this stream. */
  get outstanding(): number {
    return this.pending.size
  }

  /** Cancels the stream: calls in flight and later ones fail with ERR_CLOSED. */
  close(): void {
    this.failAll(new ShardKVError('ERR_CLOSED', 'the pipeline was closed'))
    this.stream.cancel()
  }

  /** A mutation under its request id; the id is remembered for a retry when the outcome is unknown. */
  private async mutate(mutation: Mutation, options: CallOptions | undefined, request: (id: WireRequestId) => Omit<PipelineRequest, 'tag'>): Promise<PipelineResponse> {
    if (this.failure !== undefined) throw this.failure
    const deadlineAtMs = this.deadlineOf(options)
    const seq = await this.ids.claim(mutation, deadlineAtMs - Date.now())
    const outcome = await this.send(request(this.ids.idOf(seq)), deadlineAtMs)
    this.ids.settle(seq, mutation, 'error' in outcome && outcome.outcomeUnknown)
    return responseOf(outcome)
  }

  private deadlineOf(options: CallOptions | undefined): number {
    return Date.now() + (options?.deadlineMs ?? this.deadlineMs)
  }

  /** Queues one request for the next batch; resolves (never rejects) with how it ended. */
  private send(request: Omit<PipelineRequest, 'tag'>, deadlineAtMs: number): Promise<CallOutcome> {
    if (this.failure !== undefined) return Promise.resolve({ error: this.failure, outcomeUnknown: false })
    if (this.pending.size >= MAX_PIPELINE_CALLS) {
      return Promise.resolve({ error: new ShardKVError('ERR_OVERLOADED', `a pipeline keeps at most ${MAX_PIPELINE_CALLS} calls outstanding`), outcomeUnknown: false })
    }
    const tag = this.nextTag++
    return new Promise<CallOutcome>((settle) => {
      this.pending.set(tag, { deadlineAtMs, settle })
      this.enqueue({ tag, ...request })
    })
  }

  private enqueue(request: PipelineRequest): void {
    this.queued.add(request, requestBytes(request))
  }

  private settle(response: PipelineResponse): void {
    const tag = response.tag ?? 0
    const call = this.pending.get(tag)
    if (call === undefined) return // its deadline passed: the caller was already told
    this.pending.delete(tag)
    if (response.result === 'error') {
      const wire = response.error ?? {}
      const error = errorOfPipelineError(wire.status, wire.code, wire.message)
      call.settle({ error, outcomeUnknown: isUnknownOutcome(error) })
    } else {
      call.settle({ response })
    }
  }

  private sweep(): void {
    const nowMs = Date.now()
    for (const [tag, call] of this.pending) {
      if (call.deadlineAtMs > nowMs) continue
      this.pending.delete(tag)
      call.settle({ error: new GrpcShardKVError('ERR_TIMEOUT', Status.DEADLINE_EXCEEDED, 'no response before the deadline; the outcome is unknown'), outcomeUnknown: true })
    }
  }

  /** Every call still outstanding was sent and got no answer: whatever the stream's error, its outcome is unknown. */
  private failAll(error: ShardKVError): void {
    this.failure ??= error
    clearInterval(this.sweeper)
    const calls = [...this.pending.values()]
    this.pending.clear()
    for (const call of calls) call.settle({ error: this.failure, outcomeUnknown: true })
  }
}

function responseOf(outcome: CallOutcome): PipelineResponse {
  if ('error' in outcome) throw outcome.error
  return outcome.response
}
