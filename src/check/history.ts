/**
 * What a concurrent client saw, as the linearizability checker and the
 * lost-write check read it: one entry per operation, with the interval in
 * which it could have taken effect and what it returned.
 *
 * Times are in whatever unit the recorder's clock counts (milliseconds from
 * `performance.now()` in `shardkv chaos`, ticks of a fake clock in tests); the
 * checks only compare them, so the unit never matters and the names carry none.
 *
 * The three outcomes of an operation:
 * - returned: `returnTime` is finite, `output` is what it returned;
 * - failed definitely (`error` is set, e.g. ERR_TYPE_MISMATCH): the store says
 *   nothing changed, so it had no effect;
 * - unknown (`returnTime` undefined or Infinity, e.g. ERR_TIMEOUT or the
 *   client closed): it may or may not have taken effect, at any time after its
 *   call, and its output is not known.
 */
import { assert } from '../errors.js'

export type KvValue = string | Uint8Array

export type KvOperationName = 'get' | 'put' | 'append' | 'delete'

export const KV_OPERATION_NAMES: readonly KvOperationName[] = ['get', 'put', 'append', 'delete']

export interface HistoryEntry {
  readonly clientId: string
  readonly op: KvOperationName
  readonly key: string
  /** The value given to put or append; undefined for get and delete. */
  readonly input?: KvValue
  readonly callTime: number
  /** Undefined or Infinity when the outcome is unknown. */
  readonly returnTime?: number
  /** get: the value read (undefined = no such key); delete: whether the key existed; put/append: undefined. */
  readonly output?: KvValue | boolean
  /** The error code of an operation that definitely failed without effect. */
  readonly error?: string
}

export function outcomeUnknown(entry: HistoryEntry): boolean {
  return entry.returnTime === undefined || entry.returnTime === Infinity
}

/**
 * Bounds the recorder's memory: a chaos run of 60 s at ~10^4 operations per
 * second stays well under it, and a runaway workload stops with a clear error
 * instead of exhausting the heap.
 */
export const DEFAULT_MAX_HISTORY_ENTRIES = 2_000_000

export interface HistoryRecorderOptions {
  /** A monotonic clock (never goes back). Tests inject a fake one. */
  readonly clock: () => number
  /** Most operations recorded; `begin` past it throws. Default DEFAULT_MAX_HISTORY_ENTRIES. */
  readonly maxEntries?: number
}

interface MutableEntry {
  clientId: string
  op: KvOperationName
  key: string
  input?: KvValue
  callTime: number
  returnTime?: number
  output?: KvValue | boolean
  error?: string
  settled: boolean
}

/**
 * Records operations as clients run them: `begin` before sending, then exactly
 * one of `end` (returned), `fail` (definite error, no effect) or `unknown`
 * (timed out or otherwise undecided). An operation never settled is reported
 * as unknown, which is what it is: a run can stop with calls in flight.
 *
 * Values are copied at begin and end, so a caller reusing a buffer cannot
 * rewrite the history after the fact.
 */
export class HistoryRecorder {
  private readonly clock: () => number
  private readonly maxEntries: number
  private readonly recorded: MutableEntry[] = []
  private lastTime = -Infinity

  constructor(options: HistoryRecorderOptions) {
    if (typeof options.clock !== 'function') throw new TypeError('clock must be a function returning a monotonic time')
    const maxEntries = options.maxEntries ?? DEFAULT_MAX_HISTORY_ENTRIES
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries must be a positive integer, got ${String(maxEntries)}`)
    }
    this.clock = options.clock
    this.maxEntries = maxEntries
  }

  get size(): number {
    return this.recorded.length
  }

  /** Returns the id to settle the operation with. */
  begin(clientId: string, op: KvOperationName, key: string, input?: KvValue): number {
    if (this.recorded.length >= this.maxEntries) {
      throw new RangeError(`history recorder is full: maxEntries is ${this.maxEntries}`)
    }
    assert((op === 'put' || op === 'append') === (input !== undefined), `${op} ${input === undefined ? 'needs' : 'takes no'} input value`)
    const entry: MutableEntry = { clientId, op, key, callTime: this.now(), settled: false }
    if (input !== undefined) entry.input = copyValue(input)
    this.recorded.push(entry)
    return this.recorded.length - 1
  }

  /** The operation returned `output` (get's value or undefined, delete's existed). */
  end(id: number, output?: KvValue | boolean): void {
    const entry = this.pending(id)
    entry.returnTime = this.now()
    if (output !== undefined) entry.output = typeof output === 'boolean' ? output : copyValue(output)
    entry.settled = true
  }

  /** The operation failed with `errorCode` and certainly changed nothing. */
  fail(id: number, errorCode: string): void {
    const entry = this.pending(id)
    entry.returnTime = this.now()
    entry.error = errorCode
    entry.settled = true
  }

  /** The outcome is unknown: it may take effect at any time after its call, or never. */
  unknown(id: number): void {
    this.pending(id).settled = true
  }

  /** A snapshot of the history so far, in begin order. */
  entries(): HistoryEntry[] {
    return this.recorded.map(({ settled: _settled, ...entry }) => entry)
  }

  private pending(id: number): MutableEntry {
    const entry = this.recorded[id]
    assert(entry !== undefined, `no operation with id ${id}`)
    assert(!entry.settled, `operation ${id} was already settled`)
    return entry
  }

  private now(): number {
    const time = this.clock()
    assert(time >= this.lastTime, `clock went back from ${this.lastTime} to ${time}; it must be monotonic`)
    this.lastTime = time
    return time
  }
}

function copyValue(value: KvValue): KvValue {
  return typeof value === 'string' ? value : new Uint8Array(value)
}
