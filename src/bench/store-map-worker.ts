/**
 * The postMessage baseline of the store benchmark: one worker thread holding
 * a plain Map, answering raw `postMessage` requests on its parent port. It
 * fills itself with every key at start (the load phase) and then says ready.
 *
 * This module is a worker entry: its messages are declared in store-workload.ts.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { keyNames, READY_ID, valueOfBytes, type MapReply, type MapRequest, type MapWorkerData } from './store-workload.js'

const port = parentPort
if (port === null) throw new Error('store-map-worker.js is a worker entry')
const { keys, valueBytes } = workerData as MapWorkerData
const map = new Map<string, string>()
const loadValue = valueOfBytes(valueBytes)
for (const key of keyNames(keys)) map.set(key, loadValue)
port.on('message', (request: MapRequest) => {
  if (request.value === undefined) {
    port.postMessage({ id: request.id, value: map.get(request.key) } satisfies MapReply)
  } else {
    map.set(request.key, request.value)
    port.postMessage({ id: request.id } satisfies MapReply)
  }
})
port.postMessage({ id: READY_ID } satisfies MapReply)
