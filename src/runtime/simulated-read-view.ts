/**
 * A read view (ActorContext.readView) for an actor in the simulator: the
 * same table the worker host gives (read-view.ts, writer and reader over one
 * SharedArrayBuffer), kept in the actor's simulator slot, with lease ends in
 * virtual time and reads made at the simulator's now.
 *
 * The real table rather than a model of it, so that a seeded run also drives
 * its resets, shard clears, rebuilds and overflows; the buffer is small by
 * default so that rebuilds come often.
 *
 * Crashes: the worker host's buffer outlives the worker, so a killed
 * leader's view stays as it was, lease included, and answers until that
 * lease ends. Here the view belongs to the slot, not to the incarnation: a
 * crash leaves it untouched, and only the restarted actor (its start()) may
 * reset it.
 *
 * Clocks: the actor's now() is the virtual clock, and readers compare the
 * lease end with that same clock, so no conversion is needed (the worker
 * host converts performance.now() to the clock all threads share); the
 * writer's margin for that conversion only ends each lease 0.05 ms early.
 */
import { ShardKVError } from '../errors.js'
import type { ReadView } from './actor.js'
import { createReadViewBuffer, ReadViewReader, ReadViewWriter, type ViewRead } from './read-view.js'

/** Default buffer of a simulated view: room for a test's data, small enough that the table rebuilds often. */
export const DEFAULT_SIMULATED_READ_VIEW_BYTES = 256 * 1024

export interface SimulatedReadViewOptions {
  /** Shards of the table (as ActorSpec.readView.shards). */
  readonly shards: number
  /** Size of the buffer (both halves); default DEFAULT_SIMULATED_READ_VIEW_BYTES, at least what createReadViewBuffer needs. */
  readonly bytes?: number
}

/** What a test (standing for a client thread) can do with an actor's view: read it at the simulator's now. */
export interface SimulatedViewReader {
  /** Whether the view answers for `shard` now: served, and the lease not ended. */
  serves(shard: number): boolean
  /** What a client reading now gets: the value, undefined when absent, NOT_IN_VIEW when the view does not answer. */
  get(shard: number, key: string): ViewRead
}

export class SimulatedReadView implements SimulatedViewReader {
  /** The writer's side, handed to every incarnation of the actor. */
  readonly table: ReadView
  private readonly reader: ReadViewReader

  constructor(
    options: SimulatedReadViewOptions,
    private readonly nowMs: () => number,
  ) {
    let buffer: SharedArrayBuffer
    try {
      buffer = createReadViewBuffer(options.shards, options.bytes ?? DEFAULT_SIMULATED_READ_VIEW_BYTES)
    } catch (error) {
      throw new ShardKVError('ERR_INVALID_OPTION', `simulator: readView: ${error instanceof Error ? error.message : String(error)}`)
    }
    this.table = new ReadViewWriter(buffer, options.shards)
    this.reader = new ReadViewReader(buffer, options.shards)
  }

  serves(shard: number): boolean {
    return this.reader.serves(shard, this.nowMs())
  }

  get(shard: number, key: string): ViewRead {
    return this.reader.get(shard, key, this.nowMs())
  }
}
