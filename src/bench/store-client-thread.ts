/**
 * A client thread of the store benchmark: a piscina worker given ONE
 * long-lived task (piscina's task-per-operation would cost ~150 µs an op
 * here). The task opens its store through the connector it is handed, then
 * serves the main thread's commands on its own MessagePort, one at a time:
 * the load phase's share, one run per workload, close. The task settles when
 * the thread is told to close.
 *
 * This module is a worker entry: the main thread imports only its types.
 */
import type { MessagePort } from 'node:worker_threads'
import { openStore, type ConnectorSpec } from './store-connectors.js'
import { driveRun, loadRecords, type KvStoreClient, type LoadShare, type RunPlan, type RunResult } from './store-drive.js'

export interface ClientThreadTask {
  readonly connector: ConnectorSpec
  /** The thread's command port; transferred with the task. */
  readonly port: MessagePort
}

/** Main thread -> client thread. */
export type ClientThreadCommand =
  | { readonly type: 'load'; readonly share: LoadShare }
  | { readonly type: 'run'; readonly plan: RunPlan }
  | { readonly type: 'close' }

/** Client thread -> main thread: one reply per command, `ready` once connected. */
export type ClientThreadReply =
  | { readonly type: 'ready' }
  | { readonly type: 'loaded'; readonly records: number }
  | { readonly type: 'ran'; readonly result: RunResult }
  | { readonly type: 'closed' }
  /** `message` is for the person reading the report, never parsed. */
  | { readonly type: 'failed'; readonly message: string }

export default async function runClientThread(task: ClientThreadTask): Promise<void> {
  const { port } = task
  let store: KvStoreClient
  try {
    store = await openStore(task.connector)
  } catch (error) {
    reply(port, { type: 'failed', message: describe(error) })
    port.close()
    return
  }
  reply(port, { type: 'ready' })
  await new Promise<void>((resolve) => {
    port.on('message', (command: ClientThreadCommand) => {
      void serve(command, store).then((answer) => {
        reply(port, answer)
        if (answer.type === 'closed') resolve()
      })
    })
  })
  port.close()
}

async function serve(command: ClientThreadCommand, store: KvStoreClient): Promise<ClientThreadReply> {
  try {
    switch (command.type) {
      case 'load':
        return { type: 'loaded', records: await loadRecords(command.share, store) }
      case 'run':
        return { type: 'ran', result: await driveRun(command.plan, store) }
      case 'close':
        await store.close()
        return { type: 'closed' }
      default: {
        const never: never = command
        throw new Error(`unknown command ${JSON.stringify(never)}`)
      }
    }
  } catch (error) {
    return { type: 'failed', message: describe(error) }
  }
}

function reply(port: MessagePort, message: ClientThreadReply): void {
  port.postMessage(message)
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}
