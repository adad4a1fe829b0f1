/**
 * One Pipeline stream on the server: tagged requests in, tagged responses
 * out, in completion order. Each operation runs exactly as a unary call
 * would (operations.ts: the same KvPool and request ledger, so a retry may
 * come by either); a failed operation is an `error` response and the stream
 * goes on.
 *
 * Batches (pipeline-batch.ts): a request message may carry a batch of up to
 * MAX_BATCH_MESSAGES requests, each one counting toward the bound below as a
 * plain request would; a larger batch fails the stream (INVALID_ARGUMENT).
 * Once the client has sent a batch, the session coalesces its responses:
 * those completed in one turn go out as one batch message, written on
 * setImmediate or as soon as a batch is full; a lone response goes out as a
 * plain message. A client that never sends a batch gets one plain message
 * per response, as before batches existed.
 *
 * Bounds: at most MAX_PIPELINE_OUTSTANDING operations of one stream run at
 * once (a batch read at the bound may overshoot it by less than one batch),
 * and the session stops reading (HTTP/2 flow control pushes back on the
 * client) while it is at that bound or while the response buffer is full.
 * Nothing is dropped.
 *
 * Ending: when the client half-closes, the stream ends with OK once every
 * outstanding operation has answered and every queued response is written. `drain()` (server shutdown) stops
 * reading and does the same; requests the client sent but the server never
 * read get no response, and the client fails them when the stream ends.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js'
import { ShardKVError } from '../errors.js'
import { runAppend, runDelete, runGet, runPut, type KvBackend } from './operations.js'
import { MAX_BATCH_MESSAGES, OutgoingBatch, responseBytes } from './pipeline-batch.js'
import { statusObjectOf, summarizeError } from './status.js'
import type { PipelineRequest, PipelineResponse } from './wire.js'

export const MAX_PIPELINE_OUTSTANDING = 1024

type Result = Omit<PipelineResponse, 'tag'>

export class PipelineSession {
  private outstanding = 0
  private halfClosed = false
  private draining = false
  private writeBlocked = false
  private ended = false
  /** Set by the client's first batch: from then on responses are coalesced. */
  private clientBatches = false
  private readonly queued: OutgoingBatch<PipelineResponse>

  constructor(
    private readonly call: ServerDuplexStream<PipelineRequest, PipelineResponse>,
    private readonly backend: KvBackend,
    private readonly onBug: (error: unknown) => void,
    private readonly onEnd: () => void,
    batchBytes: number,
  ) {
    this.queued = new OutgoingBatch(batchBytes, (message) => {
      if (!this.ended) this.write(message)
    })
    call.on('data', (message: PipelineRequest) => this.receive(message))
    call.on('end', () => {
      this.halfClosed = true
      this.endWhenIdle()
    })
    call.on('cancelled', () => this.finish())
    call.on('error', () => this.finish())
  }

  /** Stops reading and ends the stream once the outstanding operations have answered. */
  drain(): void {
    this.draining = true
    this.call.pause()
    this.endWhenIdle()
  }

  private receive(message: PipelineRequest): void {
    if (this.ended) return // a refused batch failed the stream; what follows it is not run
    const batch = message.batch
    if (batch === undefined || batch.length === 0) {
      this.accept(message)
      return
    }
    if (batch.length > MAX_BATCH_MESSAGES) {
      this.fail(new ShardKVError('ERR_INVALID_OPTION', `a pipeline batch carries at most ${MAX_BATCH_MESSAGES} requests, got ${batch.length}`))
      return
    }
    this.clientBatches = true
    for (const request of batch) this.accept(request)
  }

  private accept(request: PipelineRequest): void {
    const tag = request.tag ?? 0
    this.outstanding++
    if (this.outstanding >= MAX_PIPELINE_OUTSTANDING) this.call.pause()
    this.execute(request).then(
      (result) => this.respond({ tag, ...result }),
      (error: unknown) => {
        const summary = summarizeError(error, this.onBug)
        this.respond({ tag, error: { status: summary.status, code: summary.code, message: summary.message } })
      },
    )
  }

  private async execute(request: PipelineRequest): Promise<Result> {
    if (this.draining) throw new ShardKVError('ERR_CLOSED', 'the server is shutting down')
    switch (request.op) {
      case 'get':
        return { get: await runGet(this.backend, request.get ?? {}) }
      case 'put':
        return { put: await runPut(this.backend, request.put ?? {}) }
      case 'append':
        return { append: await runAppend(this.backend, request.append ?? {}) }
      case 'delete':
        return { delete: await runDelete(this.backend, request.delete ?? {}) }
      case undefined:
        throw new ShardKVError('ERR_INVALID_OPTION', 'a pipeline request must set one of get, put, append, delete')
      default: {
        const never: never = request.op
        throw new ShardKVError('ERR_INVALID_OPTION', `unknown pipeline operation ${String(never)}`)
      }
    }
  }

  private respond(response: PipelineResponse): void {
    this.outstanding--
    if (this.ended) return
    if (this.clientBatches) {
      this.enqueue(response)
    } else {
      this.write(response)
    }
    this.resumeIfRoom()
    this.endWhenIdle()
  }

  /** Queues a response for the next batch (see OutgoingBatch). */
  private enqueue(response: PipelineResponse): void {
    this.queued.add(response, responseBytes(response))
  }

  /** Writes one message; when the buffer is full, stops reading until it drains (the message itself is buffered, not lost). */
  private write(message: PipelineResponse): void {
    if (!this.call.write(message) && !this.writeBlocked) {
      this.writeBlocked = true
      this.call.pause()
      this.call.once('drain', () => {
        this.writeBlocked = false
        this.resumeIfRoom()
      })
    }
  }

  private resumeIfRoom(): void {
    if (this.draining || this.writeBlocked || this.halfClosed || this.ended) return
    if (this.outstanding < MAX_PIPELINE_OUTSTANDING && this.call.isPaused()) this.call.resume()
  }

  private endWhenIdle(): void {
    if ((this.halfClosed || this.draining) && this.outstanding === 0 && !this.ended) {
      this.queued.flush()
      this.call.end()
      this.finish()
    }
  }

  /** A protocol error of the client: the stream fails; responses still queued or outstanding are not sent. */
  private fail(error: ShardKVError): void {
    this.call.emit('error', statusObjectOf(summarizeError(error, this.onBug)))
    this.finish()
  }

  private finish(): void {
    if (this.ended) return
    this.ended = true
    this.onEnd()
  }
}
