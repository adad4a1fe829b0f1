/**
 * How a client thread of the store benchmark reaches the store it drives.
 * A `ConnectorSpec` is plain data (structured-cloneable): the main thread
 * makes one per client thread, the thread opens it into a KvStoreClient.
 *
 * This is the place to plug in another way to reach a store: a new variant
 * of the union and its case in `openStore`, and a target (store-targets.ts)
 * that hands out such specs.
 */
import type { ClusterEndpoint } from '../client/connect.js'
import type { KvStoreClient } from './store-drive.js'

export type ConnectorSpec =
  /** The embedded cluster, over the rings: `cluster.endpoint()`, one per thread. */
  | { readonly type: 'shardkv'; readonly endpoint: ClusterEndpoint }
  /** A Redis server, over TCP with ioredis (auto-pipelining: commands issued in one tick go out as one write). */
  | { readonly type: 'redis'; readonly host: string; readonly port: number }
  /** A running `shardkv serve`, over gRPC: one Pipeline stream per thread (src/grpc/bench-target.ts). */
  | { readonly type: 'grpc'; readonly address: string; readonly authToken: string | undefined }

export async function openStore(spec: ConnectorSpec): Promise<KvStoreClient> {
  switch (spec.type) {
    case 'shardkv':
      return openShardkv(spec.endpoint)
    case 'redis':
      return openRedis(spec.host, spec.port)
    case 'grpc':
      return (await import('../grpc/bench-target.js')).openGrpcStore(spec.address, spec.authToken)
    default: {
      const never: never = spec
      throw new Error(`unknown connector ${JSON.stringify(never)}`)
    }
  }
}

async function openShardkv(endpoint: ClusterEndpoint): Promise<KvStoreClient> {
  const { connect } = await import('../client/connect.js')
  const client = await connect(endpoint)
  return {
    read: (key) => client.get(key),
    write: (key, value) => client.put(key, value),
    close: async () => client.close(),
  }
}

/** How long a client thread waits for Redis to accept its connection. */
const REDIS_CONNECT_TIMEOUT_MS = 10_000

async function openRedis(host: string, port: number): Promise<KvStoreClient> {
  const { Redis } = await import('ioredis')
  const redis = new Redis({ host, port, enableAutoPipelining: true, lazyConnect: true, connectTimeout: REDIS_CONNECT_TIMEOUT_MS, maxRetriesPerRequest: 0 })
  await redis.connect()
  return {
    read: (key) => redis.get(key),
    write: (key, value) => redis.set(key, value),
    close: async () => {
      redis.disconnect()
    },
  }
}
