/**
 * A few words of shared memory per actor, owned by the ActorSystem and
 * handed to every incarnation of the actor's worker:
 *
 * - a heartbeat counter the worker bumps on every turn of its loop (its idle
 *   sleep is capped so the counter moves at least every heartbeat interval);
 *   the supervisor's watchdog restarts an actor whose counter stops moving;
 * - a "paused until" wall-clock time set by the fault layer's `pause`: until
 *   then the worker reads no message and fires no timer.
 */
const HEARTBEAT = 0
const INT_SLOTS = 2
const PAUSED_UNTIL = 1

export function createControlBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(INT_SLOTS * 4 + 2 * 8)
}

export class ControlBlock {
  private readonly ints: Int32Array
  private readonly floats: Float64Array

  constructor(buffer: SharedArrayBuffer) {
    this.ints = new Int32Array(buffer, 0, INT_SLOTS)
    this.floats = new Float64Array(buffer, INT_SLOTS * 4, 2)
  }

  beat(): void {
    Atomics.add(this.ints, HEARTBEAT, 1)
  }

  heartbeat(): number {
    return Atomics.load(this.ints, HEARTBEAT)
  }

  pauseUntil(epochMs: number): void {
    this.floats[PAUSED_UNTIL] = epochMs
  }

  /** Milliseconds of pause left at wall-clock `epochMs` (0 when not paused). */
  pausedForMs(epochMs: number): number {
    return Math.max(0, this.floats[PAUSED_UNTIL]! - epochMs)
  }
}
