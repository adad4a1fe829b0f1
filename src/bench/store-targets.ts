/**
 * The store benchmark's targets: the system under test and its baselines,
 * each behind one interface (`BenchTarget`) so the harness runs them alike:
 * start, load phase, one run per workload, close.
 *
 * - `shardkv`: the system under test, driven by `clientThreads` client
 *   threads with `inflight` operations outstanding each. Where it runs is a
 *   `SystemUnderTest`: `embeddedCluster` starts one in this process; another
 *   way to reach a cluster (a remote one, say over gRPC) is another
 *   SystemUnderTest handing out its own connectors (store-connectors.ts).
 * - `unreplicated`: the same store with one replica per group and one
 *   master, driven alike: what replication costs, measured in the same run.
 * - `redis`: a Redis server started for the run, driven by the same client
 *   threads at the same depth through ioredis (auto-pipelined).
 * - `postmessage`, `comlink`, `map`: the in-process baselines
 *   (store-baseline-targets.ts).
 */
import { mapTarget, startMainThreadTarget } from './store-baseline-targets.js'
import { ClientThreadPool } from './store-client-pool.js'
import type { ConnectorSpec } from './store-connectors.js'
import { LOAD_LIMIT_MS, planFor, runLimitMs, type RunResult, type RunWindow } from './store-drive.js'
import { measureFailover, type FailoverMeasurement } from './store-failover.js'
import { findOnPath, REDIS_HOST, startRedisServer } from './store-redis-server.js'
import type { WorkloadSpec } from './store-workloads.js'

export const TARGET_NAMES = ['shardkv', 'unreplicated', 'map', 'postmessage', 'comlink', 'redis'] as const
export type TargetName = (typeof TARGET_NAMES)[number]
export const BASELINE_NAMES = ['unreplicated', 'map', 'postmessage', 'comlink', 'redis'] as const
export type BaselineName = (typeof BASELINE_NAMES)[number]

export const TARGET_LABELS: Readonly<Record<TargetName, string>> = {
  shardkv: 'shardkv',
  unreplicated: 'shardkv, 1 replica',
  map: 'Map',
  postmessage: 'postMessage',
  comlink: 'comlink',
  redis: 'Redis',
}

export interface ClusterShape {
  readonly groups: number
  readonly replicas: number
  readonly masters: number
  readonly shards: number
}

export interface TargetSettings {
  readonly cluster: ClusterShape
  readonly records: number
  readonly valueBytes: number
  readonly clientThreads: number
  /** Per client thread; the main-thread baselines keep inflight * clientThreads. */
  readonly inflight: number
  readonly seed: number
}

export interface RunRequest {
  readonly workload: WorkloadSpec
  readonly window: RunWindow
  /** The latency probe: one driver, one operation in flight. */
  readonly single: boolean
}

export interface BenchTarget {
  readonly name: TargetName
  /** The load phase: writes every record. */
  load(): Promise<void>
  /** One run; one result per driver (client thread). */
  run(request: RunRequest): Promise<RunResult[]>
  /** CPU used outside this process so far (a server's), µs; 0 when there is no such process, null when unknown. */
  externalCpuMicros(): number | null
  /** Kills group leaders and times the next write (store-failover.ts); absent where the bench cannot kill. */
  readonly failover?: (trials: number, onTrial: (done: number) => void) => Promise<FailoverMeasurement>
  close(): Promise<void>
}

/** A target that could not start for an expected reason (Redis not installed). */
export interface SkippedTarget {
  readonly name: TargetName
  readonly skipped: string
}

/** Where the system under test runs: connectors for the client threads, and how to stop it. */
export interface SystemUnderTest {
  connectors(threads: number): ConnectorSpec[]
  /** As BenchTarget.failover: a cluster the bench holds in this process, with replicated groups. */
  readonly failover?: (trials: number, onTrial: (done: number) => void) => Promise<FailoverMeasurement>
  close(): Promise<void>
}

export async function embeddedCluster(shape: ClusterShape): Promise<SystemUnderTest> {
  const { createCluster } = await import('../cluster.js')
  const cluster = await createCluster(shape)
  return {
    connectors: (threads) => Array.from({ length: threads }, () => ({ type: 'shardkv', endpoint: cluster.endpoint() }) as const),
    ...(shape.replicas >= MIN_FAILOVER_REPLICAS ? { failover: (trials, onTrial) => measureFailover(cluster, trials, onTrial) } : {}),
    close: () => cluster.close(),
  }
}

/** A group that loses its leader keeps a majority only from three replicas up. */
export const MIN_FAILOVER_REPLICAS = 3

/** The cluster shape of the `unreplicated` baseline: the same groups and shards, one replica each, one master. */
export function unreplicatedShape(shape: ClusterShape): ClusterShape {
  return { ...shape, replicas: 1, masters: 1 }
}

export async function startTarget(name: TargetName, settings: TargetSettings, system?: () => Promise<SystemUnderTest>): Promise<BenchTarget | SkippedTarget> {
  switch (name) {
    case 'shardkv':
      return startPooled(name, await (system ?? (() => embeddedCluster(settings.cluster)))(), settings, () => 0)
    case 'unreplicated':
      if (system !== undefined) return { name, skipped: 'shardkv runs elsewhere (--target): the embedded unreplicated cluster would not be the same path' }
      if (settings.cluster.replicas === 1 && settings.cluster.masters === 1) return { name, skipped: 'the cluster under test is unreplicated already' }
      return startPooled(name, await embeddedCluster(unreplicatedShape(settings.cluster)), settings, () => 0)
    case 'redis':
      return startRedis(settings)
    case 'postmessage':
    case 'comlink':
      return startMainThreadTarget(name, settings)
    case 'map':
      return mapTarget(settings)
    default: {
      const never: never = name
      throw new Error(`unknown target ${String(never)}`)
    }
  }
}

async function startRedis(settings: TargetSettings): Promise<BenchTarget | SkippedTarget> {
  const binary = findOnPath('redis-server')
  if (binary === undefined) return { name: 'redis', skipped: 'no redis-server binary on PATH' }
  const server = await startRedisServer(binary)
  const system: SystemUnderTest = {
    connectors: (threads) => Array.from({ length: threads }, () => ({ type: 'redis', host: REDIS_HOST, port: server.port }) as const),
    close: () => server.stop(),
  }
  return startPooled('redis', system, settings, () => server.cpuMicros())
}

/** A target driven by the client threads. */
async function startPooled(name: TargetName, system: SystemUnderTest, settings: TargetSettings, externalCpuMicros: () => number | null): Promise<BenchTarget> {
  let pool: ClientThreadPool
  try {
    pool = await ClientThreadPool.start(system.connectors(settings.clientThreads))
  } catch (error) {
    await system.close()
    throw error
  }
  return {
    name,
    load: async () => {
      await pool.load({ records: settings.records, valueBytes: settings.valueBytes, inflight: settings.inflight }, LOAD_LIMIT_MS)
    },
    run: (request) => {
      const threads = request.single ? 1 : pool.size
      const inflight = request.single ? 1 : settings.inflight
      return pool.run(threads, (thread) => planFor(settings, request, inflight, thread, threads), runLimitMs(request.window))
    },
    externalCpuMicros,
    ...(system.failover === undefined ? {} : { failover: system.failover }),
    close: async () => {
      try {
        await pool.close()
      } finally {
        await system.close()
      }
    },
  }
}
