/**
 * The sequential specification of one key of the store, as the
 * linearizability search runs it: put replaces, append concatenates (creating
 * the key if missing; a string onto bytes or bytes onto a string is refused
 * with ERR_TYPE_MISMATCH and changes nothing), delete removes and says whether
 * the key existed, get reads. Values keep their type: the string "a" and the
 * bytes [97] are different values.
 *
 * States are small integers naming nodes of a tree: a put (or an append onto
 * a missing key) makes a root holding its value, an append makes a child of
 * the current state holding the appended piece. The search memoizes on
 * (linearized set, state id) and never copies a value, so an append-heavy key
 * costs one node per distinct (state, append) pair instead of one ever longer
 * string per step. Two paths can reach equal contents under different ids
 * (put "ab" versus append "a" then "b"); that only costs the memo a hit, never
 * soundness, because reads compare contents, not ids.
 */
import { Buffer } from 'node:buffer'

import { AssertionError, assert } from '../errors.js'
import { outcomeUnknown, type HistoryEntry, type KvValue } from './history.js'

export type ValueKind = 'string' | 'bytes'

/** A value as the model holds it: bytes become one Latin-1 character per byte, so both kinds compare as strings. */
export interface EncodedValue {
  readonly kind: ValueKind
  readonly text: string
}

/** What one history entry asks of the model, compiled once so the search loop does no parsing. */
export type ModelStep =
  | { readonly type: 'read'; readonly expected: EncodedValue | undefined }
  | { readonly type: 'put'; readonly value: EncodedValue }
  | { readonly type: 'append'; readonly value: EncodedValue; readonly acknowledged: boolean }
  | { readonly type: 'delete'; readonly existed: boolean | undefined }
  /** An append refused with ERR_TYPE_MISMATCH: a read that the key held the other kind of value. */
  | { readonly type: 'appendRefused'; readonly kind: ValueKind }

export const MISSING_STATE = 0
export const ILLEGAL_STEP = -1

export function encodeValue(value: KvValue): EncodedValue {
  if (typeof value === 'string') return { kind: 'string', text: value }
  return { kind: 'bytes', text: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1') }
}

export function decodeValue(value: EncodedValue): KvValue {
  return value.kind === 'string' ? value.text : new Uint8Array(Buffer.from(value.text, 'latin1'))
}

/**
 * The model step of a history entry, or undefined when the entry constrains
 * nothing: a get whose outcome is unknown, or an operation that failed
 * definitely with an error the model does not describe (it had no effect).
 */
export function compileStep(entry: HistoryEntry): ModelStep | undefined {
  if (entry.error !== undefined) {
    const refused = entry.op === 'append' && entry.error === 'ERR_TYPE_MISMATCH' && entry.input !== undefined
    return refused ? { type: 'appendRefused', kind: encodeValue(entry.input).kind } : undefined
  }
  const unknown = outcomeUnknown(entry)
  switch (entry.op) {
    case 'get':
      if (unknown) return undefined
      assert(typeof entry.output !== 'boolean', 'a get returns a value or undefined')
      return { type: 'read', expected: entry.output === undefined ? undefined : encodeValue(entry.output) }
    case 'put':
      assert(entry.input !== undefined, 'a put has an input value')
      return { type: 'put', value: encodeValue(entry.input) }
    case 'append':
      assert(entry.input !== undefined, 'an append has an input value')
      return { type: 'append', value: encodeValue(entry.input), acknowledged: !unknown }
    case 'delete':
      assert(unknown || typeof entry.output === 'boolean', 'a delete that returned says whether the key existed')
      return { type: 'delete', existed: unknown ? undefined : (entry.output as boolean) }
    default:
      return unreachable(entry.op)
  }
}

/**
 * The states one key passes through in one search. Entries are numbered
 * 0..entryCount-1 by the caller; a state's children are keyed by the entry
 * that made them, so re-applying the same append to the same state (after
 * backtracking) returns the same id.
 */
export class KvStates {
  private readonly parent: number[] = [ILLEGAL_STEP]
  private readonly kind: ValueKind[] = ['string']
  private readonly piece: string[] = ['']
  private readonly length: number[] = [0]
  private readonly children = new Map<number, number>()

  constructor(private readonly entryCount: number) {}

  /** The state after `step` (made by entry `entryIndex`) from `state`, or ILLEGAL_STEP if its result cannot happen there. */
  apply(state: number, step: ModelStep, entryIndex: number): number {
    switch (step.type) {
      case 'read':
        return this.holds(state, step.expected) ? state : ILLEGAL_STEP
      case 'put':
        return this.node(MISSING_STATE, entryIndex, step.value)
      case 'append':
        if (state === MISSING_STATE) return this.node(MISSING_STATE, entryIndex, step.value)
        if (this.kind[state] === step.value.kind) return this.node(state, entryIndex, step.value)
        // Refused by the store; only an acknowledged append says it was not.
        return step.acknowledged ? ILLEGAL_STEP : state
      case 'delete':
        if (step.existed !== undefined && step.existed !== (state !== MISSING_STATE)) return ILLEGAL_STEP
        return MISSING_STATE
      case 'appendRefused':
        return state !== MISSING_STATE && this.kind[state] !== step.kind ? state : ILLEGAL_STEP
      default:
        return unreachable(step)
    }
  }

  /**
   * Whether an unknown-outcome put or append may skip being placed at
   * `state`, given that no read of the key could show its value (`seen`
   * false: no read returns a value with its appended piece, or starting with
   * its put value). From a present value of the same kind it changes neither
   * existence nor kind, so until the next put or delete only a read could
   * tell it happened, and none can: placed here or last, every other result
   * is the same, and last is always tried.
   */
  isUnseenWrite(state: number, step: ModelStep, seen: boolean): boolean {
    if (seen || state === MISSING_STATE) return false
    return (step.type === 'put' || step.type === 'append') && this.kindOf(state) === step.value.kind
  }

  /** The contents of `state`, for explanations. */
  valueOf(state: number): KvValue | undefined {
    if (state === MISSING_STATE) return undefined
    const pieces: string[] = []
    for (let node = state; node !== MISSING_STATE; node = this.parentOf(node)) pieces.push(this.pieceOf(node))
    return decodeValue({ kind: this.kindOf(state), text: pieces.reverse().join('') })
  }

  /** Whether `state` holds exactly `expected`: kind and length first, then each piece against its place, newest first. */
  private holds(state: number, expected: EncodedValue | undefined): boolean {
    if (expected === undefined || state === MISSING_STATE) return expected === undefined && state === MISSING_STATE
    if (this.kindOf(state) !== expected.kind || this.length[state] !== expected.text.length) return false
    let end = expected.text.length
    for (let node = state; node !== MISSING_STATE; node = this.parentOf(node)) {
      const piece = this.pieceOf(node)
      end -= piece.length
      if (!expected.text.startsWith(piece, end)) return false
    }
    return end === 0
  }

  private node(parent: number, entryIndex: number, value: EncodedValue): number {
    const key = parent * this.entryCount + entryIndex
    const known = this.children.get(key)
    if (known !== undefined) return known
    const id = this.parent.length
    this.parent.push(parent)
    this.kind.push(value.kind)
    this.piece.push(value.text)
    this.length.push((this.length[parent] ?? 0) + value.text.length)
    this.children.set(key, id)
    return id
  }

  private parentOf(state: number): number {
    const parent = this.parent[state]
    assert(parent !== undefined, `no state ${state}`)
    return parent
  }

  private pieceOf(state: number): string {
    const piece = this.piece[state]
    assert(piece !== undefined, `no state ${state}`)
    return piece
  }

  private kindOf(state: number): ValueKind {
    const kind = this.kind[state]
    assert(kind !== undefined, `no state ${state}`)
    return kind
  }
}

function unreachable(value: never): never {
  throw new AssertionError(`unexpected variant ${JSON.stringify(value)}`)
}
