/**
 * Messages of the runtime benchmark. Ping and pong are the measured traffic
 * and get binary layouts, as a hot message of the store would; the control
 * messages (run a measurement, its result) use the generic encoding.
 *
 * Layout ids 240..241 are reserved for the benchmark; the store's own hot
 * messages take ids from 1 upwards, so the two never clash in one process.
 */
import { codec, type MessageOf } from '../runtime/codec.js'
import type { LoadMode } from './load.js'

const PING_LAYOUT = { type: 'bench.ping', id: 240, fields: [['seq', 'u32']] } as const
const PONG_LAYOUT = { type: 'bench.pong', id: 241, fields: [['seq', 'u32']] } as const

codec.define(PING_LAYOUT)
codec.define(PONG_LAYOUT)

export type PingMessage = MessageOf<typeof PING_LAYOUT>
export type PongMessage = MessageOf<typeof PONG_LAYOUT>

/** Main thread -> driver actor: run one measurement against `target`. */
export interface RunMessage {
  readonly type: 'bench.run'
  readonly target: string
  readonly mode: LoadMode
  readonly inflight: number
  readonly warmupMs: number
  readonly durationMs: number
  readonly sampleCapacity: number
}

/** Driver actor -> main thread: what the run measured; samples are Float64 µs as bytes. */
export interface ResultMessage {
  readonly type: 'bench.result'
  readonly completed: number
  readonly elapsedMs: number
  readonly roundTrips: number
  readonly samples: Uint8Array
}

export type BenchMessage = PingMessage | PongMessage | RunMessage | ResultMessage

/** Sequence numbers wrap within u32, the layout's field. */
export function nextSeq(seq: number): number {
  return (seq + 1) >>> 0
}

export function ping(seq: number): PingMessage {
  return { type: 'bench.ping', seq }
}

export function pong(seq: number): PongMessage {
  return { type: 'bench.pong', seq }
}

export function float64sToBytes(values: Float64Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
}

export function bytesToFloat64s(bytes: Uint8Array): Float64Array {
  // Copied: the decoded bytes may not sit at an 8-byte aligned offset.
  return new Float64Array(bytes.slice().buffer)
}
