/**
 * A shardkv client thread of the store benchmark: a piscina worker that
 * gets ONE long-lived task, connects to the cluster with the endpoint in the
 * task, and runs every workload in turn through a closed loop (store-drive.ts).
 *
 * The client threads start each workload together: before workload w each
 * one adds 1 to a shared counter and waits until it reaches threads * (w + 1).
 * The main thread reads the same counter to draw its progress line.
 *
 * This module is a worker entry: the main thread imports only its types.
 */
import { connect, type ClusterEndpoint } from '../client/connect.js'
import { driveStore, type StoreLoadPlan, type StoreLoadResult } from './store-drive.js'
import { keyNames, valueOfBytes } from './store-workload.js'

export interface ClientThreadTask {
  readonly endpoint: ClusterEndpoint
  /** One plan per workload, in order. */
  readonly plans: readonly StoreLoadPlan[]
  readonly valueBytes: number
  readonly threads: number
  /** Int32Array over this: [0] counts arrivals at the workload barriers. */
  readonly barrier: SharedArrayBuffer
  /** Longest a thread waits at a barrier for the others. */
  readonly barrierTimeoutMs: number
}

const BARRIER_POLL_MS = 1

export default async function runClientThread(task: ClientThreadTask): Promise<StoreLoadResult[]> {
  const client = await connect(task.endpoint)
  try {
    const keys = keyNames(Math.max(...task.plans.map((plan) => plan.keys)))
    const value = valueOfBytes(task.valueBytes)
    const ops = {
      get: (keyIndex: number) => client.get(keys[keyIndex]!),
      put: (keyIndex: number) => client.put(keys[keyIndex]!, value),
    }
    const results: StoreLoadResult[] = []
    for (const [index, plan] of task.plans.entries()) {
      await arriveAndWait(new Int32Array(task.barrier), task.threads * (index + 1), task.barrierTimeoutMs)
      results.push(await driveStore(plan, ops, `shardkv client thread, workload ${index + 1}`))
    }
    return results
  } finally {
    client.close()
  }
}

async function arriveAndWait(counter: Int32Array, target: number, timeoutMs: number): Promise<void> {
  Atomics.add(counter, 0, 1)
  const deadlineMs = Date.now() + timeoutMs
  for (let seen = Atomics.load(counter, 0); seen < target; seen = Atomics.load(counter, 0)) {
    const leftMs = deadlineMs - Date.now()
    if (leftMs <= 0) throw new Error(`client thread barrier: ${seen} of ${target} arrivals after ${timeoutMs} ms`)
    // Polled: the wait happens once per workload, and Atomics.waitAsync is not in our ES2022 lib.
    await new Promise((resolve) => setTimeout(resolve, BARRIER_POLL_MS))
  }
}
