/**
 * The Wing-Gong search with Lowe's memoization, as Porcupine runs it, over
 * the history of one key.
 *
 * Calls and returns of the operations with a known outcome sit in one list
 * sorted by time (calls of unknown-outcome ones in a second, see `run`). The
 * search walks it from the front: at a call it tries to linearize that operation now (the model
 * accepts its result from the current state, and the pair (linearized set,
 * new state) was never reached before); if so the operation and its return
 * leave the list and the walk restarts at the front. Reaching a return means
 * that operation was not linearized before it returned: the last choice is
 * undone and the walk goes on after it. The memo makes the search visit each
 * (set, state) once, which is what keeps it from going exponential on the
 * histories real systems produce.
 *
 * Ties: a call at the same time as a return sorts first, so the two
 * operations count as concurrent. A coarse clock thus only ever makes the
 * check more permissive, never reports a violation that did not happen.
 *
 * Unknown outcomes never return: such an operation may be linearized
 * anywhere after its call, or never (last). Once every operation with a known
 * outcome is linearized the rest can always go last (an unknown put, append
 * or delete is accepted from any state), so the search stops there instead
 * of ordering them; the memo uses the same fact to skip configurations that
 * differ from a visited one only by holding more of them (search-memo.ts).
 */
import { assert } from '../errors.js'
import { EventList, HEAD, NONE } from './event-list.js'
import { outcomeUnknown, type HistoryEntry, type KvValue } from './history.js'
import { ILLEGAL_STEP, KvStates, MISSING_STATE, type ModelStep } from './kv-model.js'
import { WriteObservability } from './observability.js'
import { DominanceMemo, LinearizedSet } from './search-memo.js'

export type SearchOutcome =
  | { readonly result: 'ok'; readonly steps: number }
  | { readonly result: 'unknown'; readonly steps: number }
  | {
      readonly result: 'illegal'
      readonly steps: number
      /** Entry indices of the longest linearizable prefix found, in linearization order. */
      readonly prefix: readonly number[]
      /** The entry that could not be linearized after that prefix. */
      readonly stuck: number
      readonly valueAfterPrefix: KvValue | undefined
    }

export interface SearchLimits {
  readonly maxSteps: number
  /** Asked every CLOCK_CHECK_STEPS steps; true stops the search with 'unknown'. */
  readonly outOfTime: () => boolean
}

/** Reading a clock every step would cost more than the step itself. */
export const CLOCK_CHECK_STEPS = 4096

/**
 * `entries` are one key's operations, sorted by call time; `steps[i]` is the
 * model step of `entries[i]`.
 */
export function searchKey(entries: readonly HistoryEntry[], steps: readonly ModelStep[], limits: SearchLimits): SearchOutcome {
  assert(entries.length === steps.length, 'one model step per entry')
  return new Search(entries, steps, limits).run()
}

class Search {
  /** Calls and returns of the operations whose outcome is known. */
  private readonly known: EventList
  /** Calls of the operations whose outcome is unknown: they never return. */
  private readonly pending: EventList
  /** Per entry, its number among the known (or, negated minus one, among the pending) operations, in call order. */
  private readonly rank: Int32Array
  private readonly knownLinearized: LinearizedSet
  private readonly pendingLinearized: Int32Array
  private pendingDepth = 0
  private readonly states: KvStates
  private readonly memo = new DominanceMemo()
  private readonly observability: WriteObservability
  private readonly stackEntry: Int32Array
  private readonly stackState: Int32Array
  /** For a pending operation on the stack, the return it was tried at; NONE for a known one. */
  private readonly stackFront: Int32Array
  private depth = 0
  private state = MISSING_STATE
  private remainingKnown: number
  private stepCount = 0
  /** Where the walk is: a node of `known`, and a node of `pending` while trying those (else NONE). */
  private node: number
  private candidate = NONE
  private best = { depth: -1, prefix: [] as number[], stuck: -1, state: MISSING_STATE }

  constructor(
    entries: readonly HistoryEntry[],
    private readonly steps: readonly ModelStep[],
    private readonly limits: SearchLimits,
  ) {
    const isPending = entries.map(outcomeUnknown)
    this.known = new EventList(entries, (index) => !isPending[index], true)
    this.pending = new EventList(entries, (index) => isPending[index] === true, false)
    this.rank = ranks(isPending)
    this.remainingKnown = isPending.filter((pending) => !pending).length
    this.knownLinearized = new LinearizedSet(this.remainingKnown)
    this.pendingLinearized = new Int32Array(entries.length - this.remainingKnown)
    this.states = new KvStates(entries.length)
    this.observability = new WriteObservability(entries, steps)
    this.stackEntry = new Int32Array(entries.length)
    this.stackState = new Int32Array(entries.length)
    this.stackFront = new Int32Array(entries.length)
    this.node = this.known.first()
  }

  /**
   * The walk tries the known calls before the front return first, and only
   * when none fits, the pending (unknown-outcome) calls made before it, the
   * latest first. So a pending operation is placed as late as possible, just
   * where a known result needs it, instead of being tried at every position
   * of the history; and an operation that timed out long ago without a trace
   * (most likely never applied) is tried last, after the recent ones that
   * most likely explain the result. The order of tries changes no verdict,
   * since every candidate is still tried before backtracking; it decides how
   * soon a linearizable history is found so.
   */
  run(): SearchOutcome {
    while (this.remainingKnown > 0) {
      if (this.exhausted()) return { result: 'unknown', steps: this.stepCount }
      assert(this.node !== this.known.tail, 'an operation with a known outcome leaves its return in the list')
      if (this.candidate === NONE) this.stepKnown()
      else if (this.candidate !== HEAD) this.stepPending()
      else {
        this.recordIfLongest(this.known.entryOf(this.node))
        if (this.depth === 0) return this.illegal()
        this.undoLast()
      }
    }
    return { result: 'ok', steps: this.stepCount }
  }

  private stepKnown(): void {
    if (!this.known.isCall(this.node)) this.candidate = this.pending.lastCalledBy(this.known.timeOf(this.node))
    else if (this.tryLinearize(this.known, this.node, NONE)) this.node = this.known.first()
    else this.node = this.known.next(this.node)
  }

  private stepPending(): void {
    const entry = this.pending.entryOf(this.candidate)
    const unseen = this.states.isUnseenWrite(this.state, this.steps[entry] as ModelStep, this.observability.seen(entry))
    if (!unseen && this.tryLinearize(this.pending, this.candidate, this.node)) {
      this.node = this.known.first()
      this.candidate = NONE
    } else {
      this.candidate = this.pending.previous(this.candidate)
    }
  }

  private exhausted(): boolean {
    this.stepCount++
    if (this.stepCount > this.limits.maxSteps) return true
    return this.stepCount % CLOCK_CHECK_STEPS === 0 && this.limits.outOfTime()
  }

  /** Linearizes the operation called at `node` of `list` now, if the model allows it and no visited configuration dominates the result. */
  private tryLinearize(list: EventList, node: number, front: number): boolean {
    const entry = list.entryOf(node)
    const next = this.states.apply(this.state, this.steps[entry] as ModelStep, entry)
    if (next === ILLEGAL_STEP) return false
    this.mark(entry)
    if (!this.memo.admit(this.knownLinearized.memoKey(next), this.sortedPendingLinearized())) {
      this.unmark(entry)
      return false
    }
    this.stackEntry[this.depth] = entry
    this.stackState[this.depth] = this.state
    this.stackFront[this.depth] = front
    this.depth++
    this.state = next
    list.lift(entry)
    if (front === NONE) this.remainingKnown--
    return true
  }

  /** Undoes the latest linearization and moves the walk to the candidate after it. */
  private undoLast(): void {
    this.depth--
    const entry = this.stackEntry[this.depth]
    const front = this.stackFront[this.depth]
    this.state = this.stackState[this.depth]
    this.unmark(entry)
    if (front === NONE) {
      this.known.unlift(entry)
      this.remainingKnown++
      this.node = this.known.next(this.known.callNodeOf(entry))
      this.candidate = NONE
    } else {
      this.pending.unlift(entry)
      this.node = front
      this.candidate = this.pending.previous(this.pending.callNodeOf(entry))
    }
  }

  /** Adds to the linearized sets; removals (unmark) always undo the latest mark. */
  private mark(entry: number): void {
    const rank = this.rank[entry]
    if (rank >= 0) this.knownLinearized.add(rank)
    else this.pendingLinearized[this.pendingDepth++] = -rank - 1
  }

  private unmark(entry: number): void {
    const rank = this.rank[entry]
    if (rank >= 0) this.knownLinearized.removeLast(rank)
    else this.pendingDepth--
  }

  private sortedPendingLinearized(): Int32Array {
    return this.pendingLinearized.slice(0, this.pendingDepth).sort()
  }

  private recordIfLongest(stuck: number): void {
    if (this.depth <= this.best.depth) return
    const prefix = Array.from(this.stackEntry.subarray(0, this.depth))
    this.best = { depth: this.depth, prefix, stuck, state: this.state }
  }

  private illegal(): SearchOutcome {
    const { prefix, stuck, state } = this.best
    return { result: 'illegal', steps: this.stepCount, prefix, stuck, valueAfterPrefix: this.states.valueOf(state) }
  }
}

/** Known operations numbered 0, 1, ... and pending ones -1, -2, ..., each in call order. */
function ranks(isPending: readonly boolean[]): Int32Array {
  const rank = new Int32Array(isPending.length)
  let known = 0
  let pending = 0
  isPending.forEach((unknown, index) => {
    rank[index] = unknown ? -++pending : known++
  })
  return rank
}
