/**
 * The actor contract. An actor reaches the world only through its context:
 * no timers, clocks, randomness, Atomics or postMessage of its own. Two hosts
 * implement the context: the worker host (one actor per worker_thread, ring
 * queues, real timers) and the simulator (all actors in one thread, a seeded
 * PRNG, a virtual clock). The same actor class runs on both.
 */

/** Every message is a plain object tagged by `type`; the codec encodes its fields. */
export interface Message {
  readonly type: string
}

export type TimerId = number

/**
 * Per-actor storage that outlives the actor's worker: the supervisor owns it,
 * so an actor restarted after a crash gets back what it stored. Writes are
 * synchronous and atomic per key: after `set` returns, a crash at any point
 * leaves either the old or the new value, never a torn one.
 */
export interface StableStorage {
  /** The most live bytes (keys, values, record headers) it can hold; a set past it throws ERR_STORAGE_FULL. */
  readonly capacityBytes: number
  /** Live bytes now, counted as capacityBytes is. */
  readonly liveBytes: number
  get(key: string): Uint8Array | undefined
  set(key: string, value: Uint8Array): void
  delete(key: string): void
  keys(): string[]
}

/**
 * A table the actor publishes for other threads of the process to read
 * without messaging it (read-view.ts has the layout and its guarantees):
 * values by shard and key, which shards it answers for, and until when. A
 * reader answers a key only for a served shard while the lease runs. The
 * buffer outlives the worker, so a restarted actor must reset() it.
 */
export interface ReadView {
  /** Nothing served, nothing recorded, no lease. */
  reset(): void
  /** Readers may answer until `endMs`, in this context's now() time; -Infinity: not at all. */
  setLeaseEnd(endMs: number): void
  /** Turns a shard's answers on (once all its keys are recorded) or off; false for a shard that overflowed the view (see set). */
  setServing(shard: number, serving: boolean): boolean
  isServing(shard: number): boolean
  /** Records a key's value; false when the shard no longer fits: its keys are dropped and it is not served until reloaded (clearShard) or reset. */
  set(shard: number, key: string, value: string | Uint8Array): boolean
  delete(shard: number, key: string): void
  /** Stops serving `shard` and drops its keys. */
  clearShard(shard: number): void
}

export interface ActorContext<M extends Message = Message> {
  /** This actor's id. */
  readonly self: string
  /** Id of the sender of the message being received; `self` for timer messages. */
  readonly sender: string
  /**
   * Sends `message` to actor or endpoint `to`; delivery is not guaranteed
   * (faults, crashes). A message must not change once sent: the same object
   * sent again at once may go out with the encoding of its first send.
   */
  send<T extends Message>(to: string, message: T): void
  /** Delivers `message` to this actor after `delayMs` (virtual time in the simulator). */
  setTimer(delayMs: number, message: M): TimerId
  cancelTimer(id: TimerId): void
  /** Milliseconds, monotonic within one host; virtual in the simulator. */
  now(): number
  /** Uniform in [0, 1); seeded in the simulator. */
  random(): number
  readonly storage: StableStorage
  /** This actor's read view, when its spawn asked for one (ActorSpec.readView; in the simulator, SpawnOptions.readView). */
  readonly readView?: ReadView
}

export interface Actor<M extends Message = Message> {
  start?(ctx: ActorContext<M>): void
  receive(message: M, ctx: ActorContext<M>): void
  /**
   * Called after a batch of receives (messages and timers handled in one
   * turn of the host's loop), before what they sent goes out: the place for
   * work done once per batch rather than per message, such as group commit.
   * A batch may be a single message (the simulator delivers one at a time).
   */
  afterBatch?(ctx: ActorContext<M>): void
  stop?(): void
}

/**
 * Where a worker finds an actor's code: a compiled ES module (file URL or
 * absolute path) and the name of an exported class whose constructor takes
 * `args` (structured-cloneable).
 */
export interface ActorModule {
  readonly module: string
  readonly exportName: string
}

export type ActorConstructor = new (args: unknown) => Actor
