/**
 * The main thread's side of the store benchmark's client threads: a piscina
 * pool of exactly one worker per thread, each running one long-lived task
 * (store-client-thread.ts) and commanded over its own MessagePort. Every
 * command waits for every thread's answer, so workloads start together.
 *
 * Bounded: each command has a deadline, and a thread that dies (its task
 * rejects) fails the command instead of leaving it waiting.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { withTimeout } from './drive.js'
import type { ClientThreadCommand, ClientThreadReply, ClientThreadTask } from './store-client-thread.js'
import type { ConnectorSpec } from './store-connectors.js'
import type { LoadShare, RunPlan, RunResult } from './store-drive.js'

/** Longest a client thread may take to start and connect, or to close. */
export const THREAD_STARTUP_LIMIT_MS = 30_000

interface ClientThread {
  readonly port: MessagePort
  /** Rejects if the thread's task fails; never resolves before close. */
  readonly failure: Promise<never>
}

export class ClientThreadPool {
  static async start(connectors: readonly ConnectorSpec[]): Promise<ClientThreadPool> {
    const size = connectors.length
    const piscina = new Piscina({ filename: new URL('./store-client-thread.js', import.meta.url).href, minThreads: size, maxThreads: size, concurrentTasksPerWorker: 1 })
    const threads = connectors.map((connector) => startThread(piscina, connector))
    const pool = new ClientThreadPool(piscina, threads)
    try {
      await Promise.all(threads.map((thread) => pool.awaitReply(thread, 'ready', THREAD_STARTUP_LIMIT_MS, 'client thread start')))
    } catch (error) {
      await pool.destroy()
      throw error
    }
    return pool
  }

  private constructor(
    private readonly piscina: Piscina,
    private readonly threads: readonly ClientThread[],
  ) {}

  get size(): number {
    return this.threads.length
  }

  /** The load phase: thread t writes the records n with n % size === t. */
  async load(share: Omit<LoadShare, 'thread' | 'threads'>, limitMs: number): Promise<number> {
    const replies = await Promise.all(
      this.threads.map((thread, index) => this.command(thread, { type: 'load', share: { ...share, thread: index, threads: this.size } }, 'loaded', limitMs)),
    )
    return replies.reduce((sum, answer) => sum + answer.records, 0)
  }

  /** One run on the first `threads` client threads together; `planOf(t)` is thread t's plan. */
  async run(threads: number, planOf: (thread: number) => RunPlan, limitMs: number): Promise<RunResult[]> {
    const replies = await Promise.all(this.threads.slice(0, threads).map((thread, index) => this.command(thread, { type: 'run', plan: planOf(index) }, 'ran', limitMs)))
    return replies.map((answer) => answer.result)
  }

  async close(): Promise<void> {
    try {
      await Promise.all(this.threads.map((thread) => this.command(thread, { type: 'close' }, 'closed', THREAD_STARTUP_LIMIT_MS)))
    } finally {
      await this.destroy()
    }
  }

  private async destroy(): Promise<void> {
    for (const thread of this.threads) thread.port.close()
    await this.piscina.destroy()
  }

  private command<T extends ClientThreadReply['type']>(
    thread: ClientThread,
    command: ClientThreadCommand,
    expected: T,
    limitMs: number,
  ): Promise<Extract<ClientThreadReply, { type: T }>> {
    const answer = this.awaitReply(thread, expected, limitMs, `client thread ${command.type}`)
    thread.port.postMessage(command)
    return answer
  }

  private awaitReply<T extends ClientThreadReply['type']>(thread: ClientThread, expected: T, limitMs: number, what: string): Promise<Extract<ClientThreadReply, { type: T }>> {
    const answer = new Promise<Extract<ClientThreadReply, { type: T }>>((resolve, reject) => {
      thread.port.once('message', (message: ClientThreadReply) => {
        if (message.type === expected) resolve(message as Extract<ClientThreadReply, { type: T }>)
        else reject(new Error(`${what}: ${message.type === 'failed' ? message.message : `unexpected reply ${message.type}`}`))
      })
    })
    return withTimeout(Promise.race([answer, thread.failure]), limitMs, what)
  }
}

function startThread(piscina: Piscina, connector: ConnectorSpec): ClientThread {
  const channel = new MessageChannel()
  const task: ClientThreadTask = { connector, port: channel.port2 }
  const running = piscina.run(task, { transferList: [channel.port2] }) as Promise<unknown>
  const failure = running.then(
    () => new Promise<never>(() => {}),
    (error: unknown) => Promise.reject(error instanceof Error ? error : new Error(String(error))),
  )
  // The failure is observed through the commands; this keeps an unawaited rejection from crashing the process.
  failure.catch(() => {})
  return { port: channel.port1, failure }
}
