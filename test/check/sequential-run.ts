/**
 * Linearizable histories by construction, for the checker's property and
 * scale tests: a real sequential KV model runs the planned operations one at
 * a time, operation i taking effect at time 10 * i, and each operation's
 * recorded interval is widened around that point by its planned lead and lag.
 * The linearization points prove the history linearizable whatever the
 * windows, so any 'illegal' verdict on it is a checker bug.
 */
import type { HistoryEntry, KvOperationName, KvValue } from '../../src/check/history.js'

export type PlannedOutcome = 'returned' | 'unknownTaken' | 'unknownNotTaken'

export interface PlannedOp {
  readonly key: number
  readonly op: KvOperationName
  readonly value: KvValue
  readonly client: number
  /** How long before its linearization point the operation was called. */
  readonly lead: number
  /** How long after its linearization point the operation returned. */
  readonly lag: number
  readonly outcome: PlannedOutcome
}

export const POINT_SPACING = 10

export function runSequentially(plan: readonly PlannedOp[]): HistoryEntry[] {
  const store = new Map<string, KvValue>()
  return plan.map((planned, index) => {
    const point = index * POINT_SPACING
    const key = `k${planned.key}`
    const base = { clientId: `c${planned.client}`, op: planned.op, key, callTime: point - planned.lead }
    const entry: HistoryEntry = planned.op === 'put' || planned.op === 'append' ? { ...base, input: planned.value } : base
    const taken = planned.outcome !== 'unknownNotTaken'
    const result = taken ? applyToStore(store, key, planned.op, planned.value) : { output: undefined }
    if (planned.outcome !== 'returned') return entry
    const returned = { ...entry, returnTime: point + planned.lag }
    if (result.error !== undefined) return { ...returned, error: result.error }
    return result.output === undefined ? returned : { ...returned, output: result.output }
  })
}

interface StoreResult {
  readonly output?: KvValue | boolean
  readonly error?: string
}

function applyToStore(store: Map<string, KvValue>, key: string, op: KvOperationName, value: KvValue): StoreResult {
  const current = store.get(key)
  switch (op) {
    case 'get':
      return { output: current }
    case 'put':
      store.set(key, value)
      return {}
    case 'delete':
      return { output: store.delete(key) }
    case 'append': {
      if (current === undefined) store.set(key, value)
      else if (typeof current === 'string' && typeof value === 'string') store.set(key, current + value)
      else if (current instanceof Uint8Array && value instanceof Uint8Array) store.set(key, concatBytes(current, value))
      else return { error: 'ERR_TYPE_MISMATCH' }
      return {}
    }
  }
}

function concatBytes(head: Uint8Array, tail: Uint8Array): Uint8Array {
  const joined = new Uint8Array(head.byteLength + tail.byteLength)
  joined.set(head)
  joined.set(tail, head.byteLength)
  return joined
}

/** A small deterministic PRNG (mulberry32), for plans too large to draw with fast-check. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state)
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296
  }
}

export interface LargePlanShape {
  readonly operations: number
  readonly keys: number
  readonly clients: number
  /** Largest lead and lag, in units of POINT_SPACING. */
  readonly maxWindowPoints: number
  /** Fraction of operations whose outcome is unknown. */
  readonly unknownRate: number
}

/**
 * A workload like `shardkv chaos` runs: mostly gets and appends of unique
 * delimited pieces, some puts and deletes, a few unknown outcomes.
 */
export function largePlan(seed: number, shape: LargePlanShape): PlannedOp[] {
  const random = seededRandom(seed)
  const pick = (count: number): number => Math.floor(random() * count)
  const plan: PlannedOp[] = []
  for (let index = 0; index < shape.operations; index++) {
    const roll = random()
    const op: KvOperationName = roll < 0.45 ? 'get' : roll < 0.85 ? 'append' : roll < 0.95 ? 'put' : 'delete'
    const client = pick(shape.clients)
    const unknown = random() < shape.unknownRate
    plan.push({
      key: pick(shape.keys),
      op,
      value: `${client}:${index};`,
      client,
      lead: pick(shape.maxWindowPoints * POINT_SPACING),
      lag: pick(shape.maxWindowPoints * POINT_SPACING),
      outcome: unknown ? (random() < 0.5 ? 'unknownTaken' : 'unknownNotTaken') : 'returned',
    })
  }
  return plan
}
