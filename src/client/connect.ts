/**
 * A client in another thread. `cluster.endpoint()` hands out a
 * `ClusterEndpoint`: plain data and SharedArrayBuffers (structured-cloneable,
 * no transfer list), which a worker passes to `connect` to get a KvClient of
 * its own, talking to the storage nodes over the rings directly. One
 * descriptor serves one thread: ask the cluster for one per thread.
 */
import { ShardKVError } from '../errors.js'
import { Endpoint, type EndpointDescriptor } from '../runtime/endpoint.js'
import { KvClient, type ClientSettings } from './kv-client.js'

export const CLUSTER_ENDPOINT_KIND = 'shardkv.cluster-endpoint'

export interface ClusterEndpoint extends ClientSettings {
  readonly kind: typeof CLUSTER_ENDPOINT_KIND
  readonly endpoint: EndpointDescriptor
}

/**
 * Connects to the cluster `descriptor` came from and resolves once the client
 * has the shard configuration. ERR_INVALID_OPTION for something that is not
 * a descriptor or one already connected; ERR_TIMEOUT when the master does not
 * answer within the cluster's opTimeoutMs; ERR_CLOSED if the cluster closes.
 */
export async function connect(descriptor: ClusterEndpoint): Promise<KvClient> {
  if (!isClusterEndpoint(descriptor)) {
    throw new ShardKVError('ERR_INVALID_OPTION', 'connect() takes the object cluster.endpoint() returned')
  }
  const { endpoint, kind: _kind, ...settings } = descriptor
  const client = new KvClient(Endpoint.connect(endpoint), settings)
  try {
    await client.ready()
  } catch (error) {
    client.close()
    throw error
  }
  return client
}

function isClusterEndpoint(value: unknown): value is ClusterEndpoint {
  if (typeof value !== 'object' || value === null) return false
  const candidate = value as Partial<ClusterEndpoint>
  return (
    candidate.kind === CLUSTER_ENDPOINT_KIND &&
    typeof candidate.endpoint === 'object' &&
    Array.isArray(candidate.masters) &&
    [candidate.shards, candidate.maxKeyBytes, candidate.maxValueBytes, candidate.opTimeoutMs].every(Number.isSafeInteger)
  )
}
