/**
 * A binary min-heap of timers keyed by due time. Cancelling is lazy: the id
 * is forgotten and the entry skipped when it reaches the top, so cancel is
 * O(1) and the heap never needs a search.
 */
export interface DueTimer<T> {
  readonly id: number
  readonly dueMs: number
  readonly payload: T
}

export class TimerQueue<T> {
  private readonly heap: DueTimer<T>[] = []
  private readonly live = new Set<number>()
  private nextId = 1

  get size(): number {
    return this.live.size
  }

  add(dueMs: number, payload: T): number {
    const id = this.nextId++
    this.live.add(id)
    this.heap.push({ id, dueMs, payload })
    this.siftUp(this.heap.length - 1)
    return id
  }

  cancel(id: number): void {
    this.live.delete(id)
  }

  /** Due time of the earliest live timer, or undefined when none. */
  nextDueMs(): number | undefined {
    this.dropCancelled()
    return this.heap[0]?.dueMs
  }

  /** Removes and returns the earliest live timer if it is due at `nowMs`. */
  popDue(nowMs: number): DueTimer<T> | undefined {
    this.dropCancelled()
    const top = this.heap[0]
    if (top === undefined || top.dueMs > nowMs) return undefined
    this.removeTop()
    this.live.delete(top.id)
    return top
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && !this.live.has(this.heap[0]!.id)) this.removeTop()
  }

  private removeTop(): void {
    const last = this.heap.pop()!
    if (this.heap.length === 0) return
    this.heap[0] = last
    this.siftDown(0)
  }

  private siftUp(index: number): void {
    const heap = this.heap
    while (index > 0) {
      const parent = (index - 1) >> 1
      if (heap[parent]!.dueMs <= heap[index]!.dueMs) return
      ;[heap[parent], heap[index]] = [heap[index]!, heap[parent]!]
      index = parent
    }
  }

  private siftDown(index: number): void {
    const heap = this.heap
    for (;;) {
      const left = 2 * index + 1
      const right = left + 1
      let smallest = index
      if (left < heap.length && heap[left]!.dueMs < heap[smallest]!.dueMs) smallest = left
      if (right < heap.length && heap[right]!.dueMs < heap[smallest]!.dueMs) smallest = right
      if (smallest === index) return
      ;[heap[smallest], heap[index]] = [heap[index]!, heap[smallest]!]
      index = smallest
    }
  }
}
