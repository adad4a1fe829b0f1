/**
 * The baselines' worker threads: the same echo and driver roles as the ring
 * benchmark's actors, over raw `postMessage` and over comlink. One module,
 * the role picked by `workerData`:
 *
 * - `postmessage-echo` answers every ping with a pong on the port it came
 *   from: its parent port (main <-> worker) and a port whose other end a
 *   driver worker holds (worker <-> worker);
 * - `comlink-echo` exposes `echo(ping) -> pong` on its ports: one to the
 *   main thread, one to a driver worker;
 * - `postmessage-driver` / `comlink-driver` run LoadRuns against the echo
 *   worker at the other end of their peer port when the main thread posts a
 *   `run` command, and post back the result.
 *
 * This module is a worker entry: the main thread imports only its types.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { expose, wrap } from 'comlink'
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs'
import { nextSeq, ping, pong, type PingMessage, type PongMessage } from './bench-messages.js'
import { CallbackDriver } from './drive.js'
import type { LoadPlan, LoadResult } from './load.js'

export type BaselineRole = 'postmessage-echo' | 'comlink-echo' | 'postmessage-driver' | 'comlink-driver'

export interface BaselineWorkerData {
  readonly role: BaselineRole
  /** Echo: ports to answer on (besides the parent port for postMessage). Driver: [the port to its echo worker]. */
  readonly ports: readonly MessagePort[]
}

/** What comlink echo workers expose. */
export interface EchoApi {
  echo(message: PingMessage): PongMessage
}

/** Main thread -> driver worker. */
export interface DriverCommand {
  readonly type: 'run'
  readonly plan: LoadPlan
}

/** Driver worker -> main thread. */
export type DriverReport =
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly result: LoadResult }
  | { readonly type: 'failed'; readonly message: string }

const echoApi: EchoApi = {
  echo: (message) => pong(message.seq),
}

function answerPings(port: MessagePort): void {
  port.on('message', (message: PingMessage) => port.postMessage(pong(message.seq)))
}

/** A driver's link to its echo worker: `send` issues one ping and arranges for its pong to call `onReply`. */
type PingSender = (onReply: () => void) => void

function postMessageSender(peer: MessagePort): PingSender {
  let seq = 0
  // One run at a time: every pong on the port answers the current run.
  let replyTo = (): void => {}
  peer.on('message', () => replyTo())
  return (onReply) => {
    replyTo = onReply
    seq = nextSeq(seq)
    peer.postMessage(ping(seq))
  }
}

function comlinkSender(peer: MessagePort): PingSender {
  const remote = wrap<EchoApi>(nodeEndpoint(peer))
  let seq = 0
  return (onReply) => {
    seq = nextSeq(seq)
    void remote.echo(ping(seq)).then(onReply)
  }
}

function serveDriver(control: MessagePort, send: PingSender, role: BaselineRole): void {
  control.on('message', (command: DriverCommand) => {
    const driver = new CallbackDriver(command.plan, send, `${role} run`)
    driver.result.then(
      (result) => control.postMessage({ type: 'result', result } satisfies DriverReport),
      (error: unknown) => control.postMessage({ type: 'failed', message: String(error) } satisfies DriverReport),
    )
    driver.start()
  })
  control.postMessage({ type: 'ready' } satisfies DriverReport)
}

function main(data: BaselineWorkerData, control: MessagePort): void {
  switch (data.role) {
    case 'postmessage-echo':
      for (const port of [control, ...data.ports]) answerPings(port)
      return
    case 'comlink-echo':
      for (const port of data.ports) expose(echoApi, nodeEndpoint(port))
      return
    case 'postmessage-driver':
      serveDriver(control, postMessageSender(data.ports[0]!), data.role)
      return
    case 'comlink-driver':
      serveDriver(control, comlinkSender(data.ports[0]!), data.role)
      return
    default: {
      const never: never = data.role
      throw new Error(`unknown baseline role ${String(never)}`)
    }
  }
}

if (parentPort !== null) main(workerData as BaselineWorkerData, parentPort)
