/**
 * The in-process clients a server runs its key-value calls through. One
 * KvClient keeps at most MAX_OUTSTANDING_OPS operations in flight (more is
 * ERR_OVERLOADED), so the server spreads calls over a few, round-robin: the
 * server's capacity is POOL_SIZE times that, and every remote call still
 * gets the in-process client's retries and at-most-once request ids.
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

  pick(): KvClient {
    const client = this.clients[this.next]!
    this.next = (this.next + 1) % this.clients.length
    return client
  }

  close(): void {
    for (const client of this.clients) client.close()
  }
}
