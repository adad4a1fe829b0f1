/**
 * Terse history entries for hand-written cases: `put('c1', 'k', 'a', 0, 1)`
 * is client c1 putting "a" on k, called at 0 and returned at 1. A return time
 * of `undefined` records an outcome that is not known.
 */
import type { HistoryEntry, KvValue } from '../../src/check/history.js'

export function put(clientId: string, key: string, input: KvValue, callTime: number, returnTime: number | undefined): HistoryEntry {
  return settle({ clientId, op: 'put', key, input, callTime }, returnTime)
}

export function append(clientId: string, key: string, input: KvValue, callTime: number, returnTime: number | undefined): HistoryEntry {
  return settle({ clientId, op: 'append', key, input, callTime }, returnTime)
}

export function get(clientId: string, key: string, output: KvValue | undefined, callTime: number, returnTime: number | undefined): HistoryEntry {
  return settle({ clientId, op: 'get', key, callTime }, returnTime, output)
}

export function del(clientId: string, key: string, existed: boolean | undefined, callTime: number, returnTime: number | undefined): HistoryEntry {
  return settle({ clientId, op: 'delete', key, callTime }, returnTime, existed)
}

/** An operation that failed definitely with `error` (no effect). */
export function failed(entry: HistoryEntry, error: string, returnTime: number): HistoryEntry {
  return { clientId: entry.clientId, op: entry.op, key: entry.key, input: entry.input, callTime: entry.callTime, returnTime, error }
}

export function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values)
}

function settle(entry: HistoryEntry, returnTime: number | undefined, output?: KvValue | boolean): HistoryEntry {
  if (returnTime === undefined) return entry
  return output === undefined ? { ...entry, returnTime } : { ...entry, returnTime, output }
}
