/**
 * Shared helpers for tests that run a real ActorSystem: spawn test actors by
 * class name and talk to them from a main-thread endpoint.
 */
import { ActorSystem, type ActorSystemOptions } from '../../src/runtime/system.js'
import type { Endpoint } from '../../src/runtime/endpoint.js'
import type { Message } from '../../src/runtime/actor.js'
import { ACTORS_MODULE } from './actors.js'

export type Reply = Message & { readonly [field: string]: unknown }

export interface TestSystem {
  readonly system: ActorSystem
  readonly endpoint: Endpoint
  spawn(id: string, exportName: string, supervisor?: string): Promise<void>
  /** Sends `message` (with a fresh `seq`) and resolves with the reply carrying that seq, or rejects after `timeoutMs`. */
  request(to: string, message: Message & Record<string, unknown>, timeoutMs?: number): Promise<Reply>
  /** Resolves with the next `event` the system emits. */
  next<T>(event: string, timeoutMs?: number): Promise<T>
  close(): Promise<void>
}

export async function startTestSystem(options: ActorSystemOptions = {}): Promise<TestSystem> {
  const system = new ActorSystem(options)
  const endpoint = system.localEndpoint('test-client')
  const waiting = new Map<number, (reply: Reply) => void>()
  let seq = 0
  endpoint.onMessage((message) => {
    const reply = message as Reply
    const resolve = waiting.get(Number(reply['seq']))
    if (resolve !== undefined) {
      waiting.delete(Number(reply['seq']))
      resolve(reply)
    }
  })
  return {
    system,
    endpoint,
    spawn: (id, exportName, supervisor) =>
      system.spawn({ id, kind: exportName, module: ACTORS_MODULE, exportName, ...(supervisor === undefined ? {} : { supervisor }) }),
    request: (to, message, timeoutMs = 5000) =>
      new Promise<Reply>((resolve, reject) => {
        const id = ++seq
        const timer = setTimeout(() => {
          waiting.delete(id)
          reject(new Error(`no reply from ${to} to ${message.type} #${id} within ${timeoutMs} ms`))
        }, timeoutMs)
        waiting.set(id, (reply) => {
          clearTimeout(timer)
          resolve(reply)
        })
        endpoint.send(to, { ...message, seq: id })
      }),
    next: <T>(event: string, timeoutMs = 10_000) =>
      new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${event} event within ${timeoutMs} ms`)), timeoutMs)
        system.once(event, (value: T) => {
          clearTimeout(timer)
          resolve(value)
        })
      }),
    close: async () => {
      endpoint.close()
      await system.close()
    },
  }
}

/** Retries `request` until it answers, for actors that are restarting. */
export async function eventually<T>(attempt: () => Promise<T>, tries = 50): Promise<T> {
  let lastError: unknown
  for (let i = 0; i < tries; i++) {
    try {
      return await attempt()
    } catch (error) {
      lastError = error
    }
  }
  throw lastError
}
