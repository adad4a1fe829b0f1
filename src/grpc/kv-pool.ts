/**
 * The in-process clients a server runs its key-value calls through. One
 * KvClient keeps at most MAX_OUTSTANDING_OPS operations in flight (more is
 * ERR_OVERLOADED), so the server spreads calls over a few: the server's
 * capacity is POOL_SIZE times that, and every remote call still gets the
 * in-process client's retries and at-most-once request ids.
 *
 * Calls without a remote request id go round-robin. Every mutation of one
 * remote client id goes to the same KvClient (pickFor): when the request
 * ledger re-runs a mutation whose first run timed out inside the cluster,
 * only that KvClient's RetryMemory knows the seq the first run was sent
 * under, and resends the re-run under it.
 */
import type { Cluster } from '../cluster.js'
import type { KvClient } from '../client/kv-client.js'

export const POOL_SIZE = 4

export class KvPool {
  private readonly clients: readonly KvClient[]
  private next = 0

  constructor(cluster: Cluster, size = POOL_SIZE) {
    this.clients = Array.from({ length: size }, () => cluster.client())
  }

  /** The next client, round-robin. */
  pick(): KvClient {
    const client = this.clients[this.next]!
    this.next = (this.next + 1) % this.clients.length
    return client
  }

  /** The client of a remote client id: always the same one for the same id. */
  pickFor(remoteClientId: string): KvClient {
    return this.clients[poolIndexOf(remoteClientId, this.clients.length)]!
  }

  close(): void {
    for (const client of this.clients) client.close()
  }
}

/** FNV-1a 32 over the id's UTF-16 code units: cheap, and spreads random ids evenly. */
function poolIndexOf(remoteClientId: string, size: number): number {
  let hash = 0x811c9dc5
  for (let index = 0; index < remoteClientId.length; index++) {
    hash ^= remoteClientId.charCodeAt(index)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0) % size
}
