/**
 * Keeps a storage node's read view (ActorContext.readView) equal to what the
 * node would answer a get with from its applied state, and its lease end
 * equal to how long it may do so (Replica.localReadsUntil), so that clients
 * read in their own thread what the leader would have answered.
 *
 * Why a client's read from the view is linearizable: it is the leader's
 * local read (MultiPaxos.canReadLocally has the argument) made from another
 * thread. The view holds the applied state: every applied command is mirrored
 * before the node answers it, and a leader answers a write only once applied,
 * so every acknowledged write is in the view. The view answers a shard only
 * while the node serves it (owned in its applied configuration and arrived),
 * and only until the lease end, the instant up to which no other leader can
 * have committed anything: the same bound the node's own local reads obey,
 * on the same clock (sharedClockMs). A node that dies keeps its view as it
 * was, lease included; that is the frozen state of a leader that stopped,
 * valid exactly as long as the lease it held; its restart resets the view.
 *
 * Cost: only a leader with a lease mirrors (followers leave the view alone);
 * it rebuilds the view from its state when it starts to publish, and after
 * that writes one record per applied mutation.
 */
import type { ReadView } from '../runtime/actor.js'
import type { KvRequest } from './messages.js'
import { shardOf } from './shard-hash.js'
import type { StorageOp, StorageState } from './storage-state.js'

export class ViewPublisher {
  /** True while the view mirrors the state: from a rebuild until invalidate(). */
  private synced = false

  constructor(private readonly view: ReadView | undefined) {}

  /** A restarted node's view holds its previous incarnation's table: forget it. */
  start(): void {
    this.view?.reset()
    this.synced = false
  }

  /** Readers stop at once, and the view is rebuilt before it is published again: leadership lost, or the state replaced (a snapshot restored). */
  invalidate(): void {
    if (this.view === undefined) return
    this.view.setLeaseEnd(Number.NEGATIVE_INFINITY)
    this.synced = false
  }

  /** Once per batch: until when readers may answer (Replica.localReadsUntil), rebuilding the view first if it is stale. */
  publish(state: StorageState, readsUntilMs: number): void {
    const view = this.view
    if (view === undefined) return
    if (readsUntilMs !== Number.NEGATIVE_INFINITY && !this.synced) this.rebuild(state, view)
    view.setLeaseEnd(readsUntilMs)
  }

  /** Mirrors one applied command; call it before the command is answered. */
  applied(state: StorageState, op: StorageOp): void {
    const view = this.view
    if (view === undefined || !this.synced) return
    if (op.type === 'Kv') this.mirrorKey(state, view, op.request)
    else this.mirrorShards(state, view)
  }

  private mirrorKey(state: StorageState, view: ReadView, request: KvRequest): void {
    const { key } = request
    if (request.op === 'get' || typeof key !== 'string') return
    const shard = shardOf(key, state.shardCount)
    if (!view.isServing(shard)) return
    const value = state.servingData(shard)?.get(key)
    if (value === undefined) view.delete(shard, key)
    else view.set(shard, key, value)
  }

  /** After a configuration step or a shard transfer: serve exactly the shards the state serves. */
  private mirrorShards(state: StorageState, view: ReadView): void {
    for (let shard = 0; shard < state.shardCount; shard++) {
      const data = state.servingData(shard)
      if (data === undefined) {
        // Dropped, not just unserved: its records would otherwise ride along in every rebuild until the next reset.
        if (view.isServing(shard)) view.clearShard(shard)
      } else if (!view.isServing(shard)) {
        // A shard served before (handed off and back, or overflowed) may have records left: drop them first.
        view.clearShard(shard)
        load(view, shard, data)
      }
    }
  }

  private rebuild(state: StorageState, view: ReadView): void {
    view.reset()
    for (let shard = 0; shard < state.shardCount; shard++) {
      const data = state.servingData(shard)
      if (data !== undefined) load(view, shard, data)
    }
    this.synced = true
  }
}

/** Records every key of `shard` (which has no records), then serves it; a shard that does not fit stays unserved. */
function load(view: ReadView, shard: number, data: ReadonlyMap<string, string | Uint8Array>): void {
  for (const [key, value] of data) if (!view.set(shard, key, value)) return
  view.setServing(shard, true)
}
