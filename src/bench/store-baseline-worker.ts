/**
 * The postMessage and comlink baselines of the store benchmark: one worker
 * thread holding a plain Map, answering gets and puts on its parent port,
 * over raw `postMessage` or behind comlink's `expose`. It starts empty: the
 * load phase fills it through the same channel, like any other target.
 *
 * This module is a worker entry: the main thread imports only its types.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { expose } from 'comlink'
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs'

export type BaselineChannel = 'postmessage' | 'comlink'

export interface BaselineWorkerData {
  readonly channel: BaselineChannel
}

/** postMessage: main thread -> worker, a get (no value) or a put. */
export interface MapRequest {
  readonly id: number
  readonly key: string
  readonly value?: string
}

/** postMessage: worker -> main thread, the answer to request `id` (a get's value). */
export interface MapReply {
  readonly id: number
  readonly value?: string | undefined
}

/** comlink: what the worker exposes. */
export interface MapApi {
  get(key: string): string | undefined
  put(key: string, value: string): void
}

const port = parentPort
if (port === null) throw new Error('store-baseline-worker.js is a worker entry')
const map = new Map<string, string>()
const { channel } = workerData as BaselineWorkerData
if (channel === 'comlink') {
  const api: MapApi = {
    get: (key) => map.get(key),
    put: (key, value) => void map.set(key, value),
  }
  expose(api, nodeEndpoint(port))
} else {
  port.on('message', (request: MapRequest) => {
    if (request.value === undefined) {
      port.postMessage({ id: request.id, value: map.get(request.key) } satisfies MapReply)
    } else {
      map.set(request.key, request.value)
      port.postMessage({ id: request.id } satisfies MapReply)
    }
  })
}
