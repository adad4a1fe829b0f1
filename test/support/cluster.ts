/**
 * Shared helpers for tests that run a real cluster: start one (closed at
 * teardown), keys that cover every shard, a model of what every key must
 * hold, and background load that keeps writing while the test reconfigures.
 */
import type { Test } from 'tap'
import { createCluster, type Cluster, type ClusterOptions } from '../../src/cluster.js'
import type { KvClient, Value } from '../../src/client/kv-client.js'
import { ShardKVError } from '../../src/errors.js'

/**
 * A cluster closed when the test ends. Unreplicated (one node per group, one
 * master) unless the test asks for replicas: the tests of sharding and the
 * API do not need Paxos, and on busy CI cores nine nodes would only slow them.
 */
export async function startCluster(t: Test, options: ClusterOptions = {}): Promise<Cluster> {
  const cluster = await createCluster({ replicas: 1, masters: 1, ...options })
  t.teardown(() => cluster.close())
  return cluster
}

/** `perShard` keys for every shard, named `${prefix}-<n>`. */
export function keysForEveryShard(cluster: Cluster, shards: number, perShard = 1, prefix = 'key'): string[] {
  const counts = new Array<number>(shards).fill(0)
  const keys: string[] = []
  for (let n = 0; keys.length < shards * perShard; n++) {
    const key = `${prefix}-${n}`
    const shard = cluster.shardOf(key)
    if (counts[shard]! < perShard) {
      counts[shard]!++
      keys.push(key)
    }
  }
  return keys
}

/**
 * What every key must hold. Writers record each operation once it has
 * succeeded; one writer per key, so the order of a key's operations is the
 * order they were recorded.
 */
export class Model {
  readonly values = new Map<string, string | undefined>()

  put(key: string, value: string): void {
    this.values.set(key, value)
  }

  append(key: string, value: string): void {
    this.values.set(key, (this.values.get(key) ?? '') + value)
  }

  delete(key: string): void {
    this.values.set(key, undefined)
  }
}

/** Reads every key of the model (with a few reads in flight at once) and returns the keys that differ. */
export async function mismatches(kv: KvClient, model: Model, parallel = 64): Promise<string[]> {
  const entries = [...model.values]
  const wrong: string[] = []
  for (let start = 0; start < entries.length; start += parallel) {
    await Promise.all(
      entries.slice(start, start + parallel).map(async ([key, expected]) => {
        const actual = await kv.get(key)
        if (actual !== expected) wrong.push(`${key}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
      }),
    )
  }
  return wrong
}

/** How many times a load writer retries one call that timed out (the same call: safe by contract). */
const TIMEOUT_RETRIES = 5

/** Calls `operation` again after ERR_TIMEOUT (bounded): the contract says the same call is safe to retry. */
export async function untilDone<T>(operation: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation()
    } catch (error) {
      if (!(error instanceof ShardKVError && error.code === 'ERR_TIMEOUT') || attempt >= TIMEOUT_RETRIES) throw error
    }
  }
}

export interface Load {
  /** Operations that succeeded so far. */
  readonly done: () => number
  /** Resolves once every writer has finished its current operation and holds: the model is then exact. */
  pause(): Promise<void>
  resume(): void
  /** Stops the writers and resolves when the last operation returned; rejects with a writer's error. */
  stop(): Promise<void>
}

/**
 * One writer per client, each owning its own keys (`${prefix}-w<i>-<n>`),
 * putting a fresh token to each (so that puts run too), then appending fresh
 * tokens to them in turn, recording every success in `model`.
 */
export function startLoad(clients: readonly KvClient[], model: Model, keysPerWriter = 8, prefix = 'load'): Load {
  let running = true
  let done = 0
  let gate: Promise<void> | undefined
  let openGate = (): void => {}
  const idle = new Set<number>()
  let idleChanged = (): void => {}
  const writers = clients.map(async (kv, writer) => {
    const keys = Array.from({ length: keysPerWriter }, (_, n) => `${prefix}-w${writer}-${n}`)
    for (let round = 0; running; round++) {
      if (gate !== undefined) {
        idle.add(writer)
        idleChanged()
        await gate
        idle.delete(writer)
        if (!running) return
      }
      const key = keys[round % keys.length]!
      const token = `${writer}.${round};`
      if (round < keys.length) {
        await untilDone(() => kv.put(key, token))
        model.put(key, token)
      } else {
        await untilDone(() => kv.append(key, token))
        model.append(key, token)
      }
      done++
    }
  })
  const allWriters = Promise.all(writers)
  return {
    done: () => done,
    pause: async () => {
      gate ??= new Promise<void>((resolve) => (openGate = resolve))
      await new Promise<void>((resolve, reject) => {
        idleChanged = () => idle.size === clients.length && resolve()
        idleChanged()
        allWriters.catch(reject)
      })
    },
    resume: () => {
      gate = undefined
      openGate()
    },
    stop: async () => {
      running = false
      gate = undefined
      openGate()
      await allWriters
    },
  }
}

/** Waits until `load` has made `more` further operations, so a step runs under real traffic. */
export async function whileLoadRuns(load: Load, more = 20, timeoutMs = 60_000): Promise<void> {
  const target = load.done() + more
  const startMs = Date.now()
  while (load.done() < target) {
    if (Date.now() - startMs > timeoutMs) throw new Error(`load made no progress for ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export function text(value: Value | undefined): string | undefined {
  return value === undefined || typeof value === 'string' ? value : new TextDecoder().decode(value)
}

/** Byte-for-byte equality of a read value and bytes (tap's deep equality is too slow for megabytes). */
export function sameBytes(actual: Value | undefined, expected: Uint8Array): boolean {
  return actual instanceof Uint8Array && Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected)
}

/** The member of group `gid` (or of the master, 'master') that reports it leads; undefined while none does. */
export function leaderOf(cluster: Cluster, group: number | 'master'): string | undefined {
  const inGroup = cluster.actors().filter((actor) => (group === 'master' ? actor.kind === 'master' : actor.gid === group))
  return inGroup.find((actor) => actor.role === 'leader')?.id
}

/** Waits (bounded) until `group` has a leader other than `not`; returns it. */
export async function awaitLeader(cluster: Cluster, group: number | 'master', not?: string, timeoutMs = 20_000): Promise<string> {
  const startMs = Date.now()
  for (;;) {
    const leader = leaderOf(cluster, group)
    if (leader !== undefined && leader !== not) return leader
    if (Date.now() - startMs > timeoutMs) throw new Error(`group ${group} elected no leader (other than ${String(not)}) within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/**
 * Kills the leader of `group` and waits (bounded) until a leader elected
 * after the kill leads: another member, or the killed one itself once the
 * supervisor has restarted it (it keeps its log, so it may win the election).
 */
export async function killLeader(cluster: Cluster, group: number | 'master', timeoutMs = 20_000): Promise<{ readonly killed: string; readonly next: string }> {
  const killed = await awaitLeader(cluster, group)
  const restartsOf = (id: string): number => cluster.actors().find((actor) => actor.id === id)?.restarts ?? 0
  const restartsBefore = restartsOf(killed)
  await cluster.faults.kill(killed)
  const startMs = Date.now()
  for (;;) {
    const leader = leaderOf(cluster, group)
    if (leader !== undefined && (leader !== killed || restartsOf(killed) > restartsBefore)) return { killed, next: leader }
    if (Date.now() - startMs > timeoutMs) throw new Error(`group ${group} elected no leader after ${killed} was killed, within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** The ids of group `gid`'s nodes. */
export function membersOf(cluster: Cluster, gid: number): string[] {
  return cluster.actors().filter((actor) => actor.gid === gid).map((actor) => actor.id)
}

/** A key of each shard group `gid` owns in `config`, and of each shard it does not. */
export function keysByOwner(cluster: Cluster, config: { readonly shards: readonly number[] }, gid: number, prefix: string): { owned: string[]; others: string[] } {
  const keys = keysForEveryShard(cluster, config.shards.length, 1, prefix)
  const owned = keys.filter((key) => config.shards[cluster.shardOf(key)] === gid)
  const others = keys.filter((key) => config.shards[cluster.shardOf(key)] !== gid)
  return { owned, others }
}

/** Waits (bounded) until `condition` holds; throws naming the bound when it never does. */
export async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const startMs = Date.now()
  while (!condition()) {
    if (Date.now() - startMs > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
