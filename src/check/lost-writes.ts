/**
 * Acknowledged writes must survive: after a run, every acknowledged put or
 * append has to be visible in a final read of its key, unless a later write
 * may legitimately have replaced it.
 *
 * - An acknowledged append is checked when no put or delete of its key could
 *   be ordered after it (each returned before the append was called). Its
 *   piece must then appear in the final value exactly once (twice means it
 *   was applied twice), and acknowledged appends must appear in real-time
 *   order: one that returned before another was called comes first, which
 *   includes each client's own order.
 * - An acknowledged put is checked under the same condition. The final value
 *   must then be its value, or start with it when appends could follow.
 *
 * Everything else is counted as unchecked, not passed: keys with no final
 * read, writes a later put or delete may hide, empty appended pieces.
 *
 * Appended pieces are found by substring search, so the check is exact when
 * each piece is unique and cannot be formed across a boundary of others (as
 * with `shardkv chaos`'s delimited "client:seq;" pieces). Cost per key is
 * O(appends x final value length), one native indexOf per piece.
 */
import { outcomeUnknown, type HistoryEntry, type KvValue } from './history.js'
import { encodeValue, type EncodedValue } from './kv-model.js'

export type LostWriteReason = 'missing' | 'duplicated' | 'out-of-order' | 'overwritten'

export interface LostWrite {
  readonly key: string
  readonly entry: HistoryEntry
  readonly reason: LostWriteReason
  readonly finalValue: KvValue | undefined
}

export interface LostWritesReport {
  /** Acknowledged writes not visible as they must be. Must be 0. */
  readonly lost: number
  /** The first MAX_LOST_EXAMPLES of them. */
  readonly examples: readonly LostWrite[]
  readonly checked: number
  readonly unchecked: number
}

export const MAX_LOST_EXAMPLES = 10

export function lostWrites(history: readonly HistoryEntry[], finalReads: ReadonlyMap<string, KvValue | undefined>): LostWritesReport {
  const examples: LostWrite[] = []
  let lost = 0
  let checked = 0
  let unchecked = 0
  for (const [key, entries] of mutationsByKey(history)) {
    const acknowledged = entries.filter((entry) => entry.op !== 'delete' && !outcomeUnknown(entry))
    if (!finalReads.has(key)) {
      unchecked += acknowledged.length
      continue
    }
    const finalValue = finalReads.get(key)
    const resetsReturn = new LatestReturn(entries.filter((entry) => entry.op !== 'append'))
    const mustSurvive = acknowledged.filter((entry) => !(entry.op === 'append' && isEmpty(entry.input)) && !resetsReturn.mayFollow(entry))
    unchecked += acknowledged.length - mustSurvive.length
    checked += mustSurvive.length
    const final = finalValue === undefined ? undefined : encodeValue(finalValue)
    const appendsReturn = new LatestReturn(entries.filter((entry) => entry.op === 'append'))
    const found = [...checkPuts(mustSurvive, appendsReturn, final), ...checkAppends(mustSurvive, entries, final)]
    lost += found.length
    for (const { entry, reason } of found) {
      if (examples.length < MAX_LOST_EXAMPLES) examples.push({ key, entry, reason, finalValue })
    }
  }
  return { lost, examples, checked, unchecked }
}

interface Finding {
  readonly entry: HistoryEntry
  readonly reason: LostWriteReason
}

/** An empty appended piece leaves no trace to look for. */
function isEmpty(value: KvValue | undefined): boolean {
  return value === undefined || (typeof value === 'string' ? value.length : value.byteLength) === 0
}

/** Puts, appends and deletes that may have taken effect (definite failures had none), by key. */
function mutationsByKey(history: readonly HistoryEntry[]): Map<string, HistoryEntry[]> {
  const byKey = new Map<string, HistoryEntry[]>()
  for (const entry of history) {
    if (entry.op === 'get' || entry.error !== undefined) continue
    const entries = byKey.get(entry.key)
    if (entries === undefined) byKey.set(entry.key, [entry])
    else entries.push(entry)
  }
  return byKey
}

/**
 * The latest return time (Infinity when unknown) among some writes of a key,
 * kept with the runner-up so "any write but this one" costs O(1): a write may
 * be ordered after `entry` unless it returned strictly before `entry` was called.
 */
class LatestReturn {
  private latest: HistoryEntry | undefined
  private latestTime = -Infinity
  private runnerUpTime = -Infinity

  constructor(entries: readonly HistoryEntry[]) {
    for (const entry of entries) {
      const time = entry.returnTime ?? Infinity
      if (time >= this.latestTime) {
        this.runnerUpTime = this.latestTime
        this.latestTime = time
        this.latest = entry
      } else if (time > this.runnerUpTime) {
        this.runnerUpTime = time
      }
    }
  }

  mayFollow(entry: HistoryEntry): boolean {
    return (this.latest === entry ? this.runnerUpTime : this.latestTime) >= entry.callTime
  }
}

function checkPuts(mustSurvive: readonly HistoryEntry[], appendsReturn: LatestReturn, final: EncodedValue | undefined): Finding[] {
  const findings: Finding[] = []
  for (const put of mustSurvive) {
    if (put.op !== 'put' || put.input === undefined) continue
    const written = encodeValue(put.input)
    const visible =
      final !== undefined &&
      final.kind === written.kind &&
      (appendsReturn.mayFollow(put) ? final.text.startsWith(written.text) : final.text === written.text)
    if (!visible) findings.push({ entry: put, reason: final === undefined ? 'missing' : 'overwritten' })
  }
  return findings
}

function checkAppends(mustSurvive: readonly HistoryEntry[], mutations: readonly HistoryEntry[], final: EncodedValue | undefined): Finding[] {
  const appends = mustSurvive.filter((entry) => entry.op === 'append')
  const appendsOfPiece = countPieces(mutations.filter((entry) => entry.op === 'append'))
  const findings: Finding[] = []
  const positions = new Map<HistoryEntry, number>()
  for (const append of appends) {
    const piece = encodeValue(append.input as KvValue)
    const mayAdd = appendsOfPiece.get(pieceKey(piece)) ?? 0
    const occurrences = final === undefined || final.kind !== piece.kind ? [] : occurrencesOf(final.text, piece.text, mayAdd + 1)
    if (occurrences.length === 0) findings.push({ entry: append, reason: 'missing' })
    else if (occurrences.length > mayAdd) findings.push({ entry: append, reason: 'duplicated' })
    else if (occurrences.length === 1) positions.set(append, occurrences[0] as number)
  }
  return [...findings, ...outOfOrder(appends, positions)]
}

/**
 * Appends placed before one that returned before they were called. Walks the
 * appends by call time while a second cursor admits, by return time, those
 * that must precede the current one, keeping the furthest position among them.
 */
function outOfOrder(appends: readonly HistoryEntry[], positions: ReadonlyMap<HistoryEntry, number>): Finding[] {
  const placed = appends.filter((entry) => positions.has(entry))
  const byCall = [...placed].sort((a, b) => a.callTime - b.callTime)
  const byReturn = [...placed].sort((a, b) => (a.returnTime as number) - (b.returnTime as number))
  const findings: Finding[] = []
  let admitted = 0
  let furthest = -1
  for (const entry of byCall) {
    while (admitted < byReturn.length && (byReturn[admitted]?.returnTime as number) < entry.callTime) {
      furthest = Math.max(furthest, positions.get(byReturn[admitted] as HistoryEntry) as number)
      admitted++
    }
    if ((positions.get(entry) as number) < furthest) findings.push({ entry, reason: 'out-of-order' })
  }
  return findings
}

/** Non-overlapping occurrences, at most `limit`: past what may be there, more only says "duplicated" again. */
function occurrencesOf(text: string, piece: string, limit: number): number[] {
  const found: number[] = []
  for (let at = text.indexOf(piece); at !== -1 && found.length < limit; at = text.indexOf(piece, at + piece.length)) found.push(at)
  return found
}

/** How many appends (acknowledged or unknown) carry each piece: the most occurrences a piece may have. */
function countPieces(appends: readonly HistoryEntry[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const append of appends) {
    const key = pieceKey(encodeValue(append.input as KvValue))
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return counts
}

function pieceKey(piece: EncodedValue): string {
  return `${piece.kind}:${piece.text}`
}
