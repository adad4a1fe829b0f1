/**
 * The client end of a Pipeline stream: the key-value calls of GrpcClient,
 * multiplexed as tagged requests over one stream, for throughput. Tags count
 * up from 1; responses settle their call by tag, in any order.
 *
 * Bounds: at most MAX_PIPELINE_CALLS calls outstanding (more is
 * ERR_OVERLOADED); each call's deadline (deadlineMs) is checked by one
 * sweeper timer, not a timer per call, and a call past it fails with
 * ERR_TIMEOUT (outcome unknown; its late response is ignored). When the
 * stream ends or fails, every outstanding call fails with the stream's error.
 */
import type { ClientDuplexStream, ServiceError } from '@grpc/grpc-js'
import type { Value } from '../client/kv-client.js'
import { ShardKVError } from '../errors.js'
import { checkCall, decodeGetResponse, type CallOptions, type KeyValueStore } from './client-calls.js'
import { errorOfPipelineError, errorOfServiceError, GrpcShardKVError, Status } from './status.js'
import { toWireValue } from './values.js'
import type { PipelineRequest, PipelineResponse } from './wire.js'

export const MAX_PIPELINE_CALLS = 16_384
const SWEEP_INTERVAL_MS = 50

interface PendingCall {
  readonly deadlineAtMs: number
  readonly resolve: (response: PipelineResponse) => void
  readonly reject: (error: ShardKVError) => void
}

export class GrpcPipeline implements KeyValueStore {
  private readonly pending = new Map<number, PendingCall>()
  private nextTag = 1
  private failure: ShardKVError | undefined
  private readonly sweeper: NodeJS.Timeout

  /** @internal Use GrpcClient.pipeline(). */
  constructor(
    private readonly stream: ClientDuplexStream<PipelineRequest, PipelineResponse>,
    private readonly deadlineMs: number,
  ) {
    stream.on('data', (response: PipelineResponse) => this.settle(response))
    stream.on('error', (error: ServiceError) => this.failAll(errorOfServiceError(error)))
    stream.on('end', () => this.failAll(new GrpcShardKVError('ERR_CLOSED', Status.UNAVAILABLE, 'the server ended the pipeline stream (shutting down?)')))
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS)
    this.sweeper.unref()
  }

  async get(key: string, options?: CallOptions): Promise<Value | undefined> {
    checkCall(key, undefined, options)
    return decodeGetResponse((await this.send({ get: { key } }, options)).get ?? {})
  }

  async put(key: string, value: Value, options?: CallOptions): Promise<void> {
    checkCall(key, value, options)
    await this.send({ put: { key, value: toWireValue(value) } }, options)
  }

  async append(key: string, value: Value, options?: CallOptions): Promise<void> {
    checkCall(key, value, options)
    await this.send({ append: { key, value: toWireValue(value) } }, options)
  }

  async delete(key: string, options?: CallOptions): Promise<boolean> {
    checkCall(key, undefined, options)
    return (await this.send({ delete: { key } }, options)).delete?.deleted === true
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

  private send(request: Omit<PipelineRequest, 'tag'>, options: CallOptions | undefined): Promise<PipelineResponse> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    if (this.pending.size >= MAX_PIPELINE_CALLS) {
      return Promise.reject(new ShardKVError('ERR_OVERLOADED', `a pipeline keeps at most ${MAX_PIPELINE_CALLS} calls outstanding`))
    }
    const tag = this.nextTag++
    const deadlineAtMs = Date.now() + (options?.deadlineMs ?? this.deadlineMs)
    return new Promise<PipelineResponse>((resolve, reject) => {
      this.pending.set(tag, { deadlineAtMs, resolve, reject })
      this.stream.write({ tag, ...request })
    })
  }

  private settle(response: PipelineResponse): void {
    const tag = response.tag ?? 0
    const call = this.pending.get(tag)
    if (call === undefined) return // its deadline passed: the caller was already told
    this.pending.delete(tag)
    if (response.result === 'error') {
      const error = response.error ?? {}
      call.reject(errorOfPipelineError(error.status, error.code, error.message))
    } else {
      call.resolve(response)
    }
  }

  private sweep(): void {
    const nowMs = Date.now()
    for (const [tag, call] of this.pending) {
      if (call.deadlineAtMs > nowMs) continue
      this.pending.delete(tag)
      call.reject(new GrpcShardKVError('ERR_TIMEOUT', Status.DEADLINE_EXCEEDED, 'no response before the deadline; the outcome is unknown'))
    }
  }

  private failAll(error: ShardKVError): void {
    this.failure ??= error
    clearInterval(this.sweeper)
    const calls = [...this.pending.values()]
    this.pending.clear()
    for (const call of calls) call.reject(this.failure)
  }
}
