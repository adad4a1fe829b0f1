/**
 * The history of one key as the search walks it: call and return events in
 * time order, in a doubly linked list over typed arrays that the search
 * unlinks operations from as it linearizes them.
 */
import type { HistoryEntry } from './history.js'

export const HEAD = 0
export const NONE = -1

/**
 * Events of some entries in time order, as a doubly linked list over typed
 * arrays. Node 0 is the head, then the events, then the tail. Lifting an
 * operation unlinks its events; unlifting relinks them, which is exact
 * because the search undoes lifts in reverse order (dancing links).
 */
export class EventList {
  readonly tail: number
  private readonly nextNode: Int32Array
  private readonly prevNode: Int32Array
  private readonly entryOfNode: Int32Array
  private readonly timeOfNode: Float64Array
  private readonly callOfNode: Uint8Array
  private readonly callNode: Int32Array
  private readonly returnNode: Int32Array

  constructor(entries: readonly HistoryEntry[], includes: (index: number) => boolean, withReturns: boolean) {
    const events = sortedEvents(entries, includes, withReturns)
    this.tail = events.length + 1
    this.nextNode = new Int32Array(events.length + 2)
    this.prevNode = new Int32Array(events.length + 2)
    this.entryOfNode = new Int32Array(events.length + 2).fill(NONE)
    this.timeOfNode = new Float64Array(events.length + 2)
    this.callOfNode = new Uint8Array(events.length + 2)
    this.callNode = new Int32Array(entries.length).fill(NONE)
    this.returnNode = new Int32Array(entries.length).fill(NONE)
    events.forEach((event, position) => this.place(position + 1, event))
    for (let node = 0; node <= this.tail; node++) {
      this.nextNode[node] = node + 1
      this.prevNode[node] = node - 1
    }
  }

  first(): number {
    return this.nextNode[HEAD]
  }

  next(node: number): number {
    return this.nextNode[node]
  }

  previous(node: number): number {
    return this.prevNode[node]
  }

  /** The last linked call at or before `time` (HEAD if none): nodes are numbered in time order, so a binary search, then past lifted ones. */
  lastCalledBy(time: number): number {
    let low = HEAD
    let high = this.tail - 1
    while (low < high) {
      const middle = (low + high + 1) >>> 1
      if (this.timeOfNode[middle] <= time) low = middle
      else high = middle - 1
    }
    while (low !== HEAD && this.nextNode[this.prevNode[low]] !== low) low--
    return low
  }

  isCall(node: number): boolean {
    return this.callOfNode[node] === 1
  }

  entryOf(node: number): number {
    return this.entryOfNode[node]
  }

  timeOf(node: number): number {
    return this.timeOfNode[node]
  }

  callNodeOf(entry: number): number {
    return this.callNode[entry]
  }

  lift(entry: number): void {
    this.unlink(this.callNode[entry])
    if (this.returnNode[entry] !== NONE) this.unlink(this.returnNode[entry])
  }

  unlift(entry: number): void {
    if (this.returnNode[entry] !== NONE) this.relink(this.returnNode[entry])
    this.relink(this.callNode[entry])
  }

  private place(node: number, event: TimedEvent): void {
    this.entryOfNode[node] = event.entry
    this.timeOfNode[node] = event.time
    this.callOfNode[node] = event.isCall ? 1 : 0
    if (event.isCall) this.callNode[event.entry] = node
    else this.returnNode[event.entry] = node
  }

  private unlink(node: number): void {
    const prev = this.prevNode[node]
    const next = this.nextNode[node]
    this.nextNode[prev] = next
    this.prevNode[next] = prev
  }

  private relink(node: number): void {
    this.nextNode[this.prevNode[node]] = node
    this.prevNode[this.nextNode[node]] = node
  }
}

interface TimedEvent {
  readonly time: number
  readonly isCall: boolean
  readonly entry: number
}

function sortedEvents(entries: readonly HistoryEntry[], includes: (index: number) => boolean, withReturns: boolean): TimedEvent[] {
  const events: TimedEvent[] = []
  entries.forEach((entry, index) => {
    if (!includes(index)) return
    events.push({ time: entry.callTime, isCall: true, entry: index })
    if (withReturns) events.push({ time: entry.returnTime ?? Infinity, isCall: false, entry: index })
  })
  // Calls before returns at equal times: see the tie rule at the top.
  return events.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall) || a.entry - b.entry)
}

