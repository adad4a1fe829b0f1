/**
 * The replicated log as one replica holds it: the value accepted (or learned
 * as committed) for each slot above the snapshot. Slots up to
 * `snapshotIndex` live only in the application's snapshot.
 *
 * Bound: every slot held is within (snapshotIndex, snapshotIndex +
 * maxLogSlots]. Whoever adds a slot checks `hasRoom` first (refusing to
 * accept is always safe in Paxos); `set` asserts it, so memory stays bounded
 * by maxLogSlots slots of at most maxBatch commands each.
 */
import { assert } from '../errors.js'
import type { AcceptedEntry } from './messages.js'

export class PaxosLog<C> {
  private readonly entries = new Map<number, AcceptedEntry<C>>()
  private snapshotIndexValue = 0
  private lastSlotValue = 0

  constructor(private readonly maxLogSlots: number) {}

  get snapshotIndex(): number {
    return this.snapshotIndexValue
  }

  /** The highest slot held, or snapshotIndex when none is. */
  get lastSlot(): number {
    return this.lastSlotValue
  }

  get size(): number {
    return this.entries.size
  }

  get(slot: number): AcceptedEntry<C> | undefined {
    return this.entries.get(slot)
  }

  hasRoom(slot: number): boolean {
    return slot <= this.snapshotIndexValue + this.maxLogSlots
  }

  set(slot: number, entry: AcceptedEntry<C>): void {
    assert(Number.isSafeInteger(slot) && slot > this.snapshotIndexValue, `log slot ${slot} is above the snapshot ${this.snapshotIndexValue}`)
    assert(this.hasRoom(slot), `log slot ${slot} within maxLogSlots (${this.maxLogSlots}) of the snapshot ${this.snapshotIndexValue}`)
    this.entries.set(slot, entry)
    if (slot > this.lastSlotValue) this.lastSlotValue = slot
  }

  /** Forgets every slot up to `index`: the application's snapshot now holds their effect. */
  truncateThrough(index: number): void {
    assert(index >= this.snapshotIndexValue, `snapshot index only grows: ${this.snapshotIndexValue} -> ${index}`)
    for (const slot of this.entries.keys()) {
      if (slot <= index) this.entries.delete(slot)
    }
    this.snapshotIndexValue = index
    if (this.lastSlotValue < index) this.lastSlotValue = index
  }

  /** Held slots above `slot`, ascending. At most maxLogSlots of them. */
  slotsAbove(slot: number): number[] {
    const slots: number[] = []
    for (const held of this.entries.keys()) {
      if (held > slot) slots.push(held)
    }
    return slots.sort((a, b) => a - b)
  }
}
