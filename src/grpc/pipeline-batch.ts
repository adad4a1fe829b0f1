/**
 * Coalescing of Pipeline messages, shared by both ends of the stream: grpc-js
 * pays a large fixed cost per stream message, so requests (client) and
 * responses (server) made in the same turn travel as one message whose
 * `batch` field carries them (see PipelineRequest.batch in shardkv.proto).
 *
 * Bounds: a batch holds at most MAX_BATCH_MESSAGES messages and about
 * batchBytesBound() bytes (an estimate, kept well under the message limit);
 * a message larger than that bound travels alone, as a plain message, so it
 * meets the same size check as before batching existed.
 */
import type { PipelineRequest, PipelineResponse, WireRequestId, WireValue } from './wire.js'

/** Most requests (or responses) one batch message carries; a larger received batch is refused. */
export const MAX_BATCH_MESSAGES = 256
/** Most estimated bytes one batch carries, whatever the message limit. */
export const MAX_BATCH_BYTES = 64 * 1024
/** Estimated bytes of a message's tag, field keys and lengths. */
const MESSAGE_OVERHEAD_BYTES = 32

/** The byte bound of a batch under a message limit: half of it, for the estimate's error, at most MAX_BATCH_BYTES. */
export function batchBytesBound(maxMessageBytes: number): number {
  return Math.min(MAX_BATCH_BYTES, Math.floor(maxMessageBytes / 2))
}

/**
 * Messages waiting for one stream write. A full batch is written at once,
 * the rest on setImmediate, so the messages of one turn share a write;
 * `write` is the owner's, and decides whether the stream can still take it.
 */
export class OutgoingBatch<M extends { readonly batch?: readonly M[] }> {
  private messages: M[] = []
  private bytes = 0
  private flushScheduled = false

  constructor(
    private readonly bytesBound: number,
    private readonly write: (message: M) => void,
  ) {}

  /** Queues `message` (of about `bytes`), writing what is queued first when it would not fit beside it. */
  add(message: M, bytes: number): void {
    if (this.isFullFor(bytes)) this.flush()
    this.messages.push(message)
    this.bytes += bytes
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(() => {
      this.flushScheduled = false
      this.flush()
    })
  }

  /** Writes what is queued as one wire message: plain for one message, a batch for more. */
  flush(): void {
    const messages = this.messages
    if (messages.length === 0) return
    this.messages = []
    this.bytes = 0
    this.write(messages.length === 1 ? messages[0]! : ({ batch: messages } as unknown as M))
  }

  private isFullFor(bytes: number): boolean {
    return this.messages.length > 0 && (this.messages.length >= MAX_BATCH_MESSAGES || this.bytes + bytes > this.bytesBound)
  }
}

/** The requests or responses one received message carries: its batch, or itself. */
export function unbatch<M extends { readonly batch?: readonly M[] }>(message: M): readonly M[] {
  return message.batch !== undefined && message.batch.length > 0 ? message.batch : [message]
}

export function requestBytes(request: PipelineRequest): number {
  const mutation = request.put ?? request.append ?? request.delete
  const key = request.get?.key ?? mutation?.key
  const value = request.put?.value ?? request.append?.value
  return MESSAGE_OVERHEAD_BYTES + textBytes(key) + valueBytes(value) + idBytes(mutation?.id)
}

export function responseBytes(response: PipelineResponse): number {
  const error = response.error
  return MESSAGE_OVERHEAD_BYTES + valueBytes(response.get?.value) + textBytes(error?.code) + textBytes(error?.message)
}

/** An upper bound of a string's UTF-8 bytes, cheap to compute. */
function textBytes(text: string | undefined): number {
  return text === undefined ? 0 : text.length * 3
}

function valueBytes(value: WireValue | undefined): number {
  return value?.data?.byteLength ?? 0
}

function idBytes(id: WireRequestId | undefined): number {
  return id === undefined ? 0 : MESSAGE_OVERHEAD_BYTES + textBytes(id.client)
}
