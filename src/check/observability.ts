/**
 * Which unknown-outcome writes some read could have seen. A timed-out put or
 * append whose value no read ever shows usually never happened; knowing that
 * lets the search skip placing it where it would change only what nobody
 * read (KvStates.isUnseenWrite), instead of trying it at every dead end of
 * the rest of the history.
 *
 * Computed on first question per write, since most are never asked about:
 * one substring search per read that overlaps or follows the write, stopping
 * at the first read that shows it.
 */
import type { HistoryEntry } from './history.js'
import type { EncodedValue, ModelStep } from './kv-model.js'

const NOT_ASKED = -1

export class WriteObservability {
  private readonly answers: Int8Array
  private readonly reads: { readonly returnTime: number; readonly value: EncodedValue }[] = []

  constructor(
    private readonly entries: readonly HistoryEntry[],
    private readonly steps: readonly ModelStep[],
  ) {
    this.answers = new Int8Array(entries.length).fill(NOT_ASKED)
    steps.forEach((step, index) => {
      const returnTime = entries[index]?.returnTime
      if (step.type === 'read' && step.expected !== undefined && returnTime !== undefined) {
        this.reads.push({ returnTime, value: step.expected })
      }
    })
  }

  /** Whether some read of the key shows the value written by entry `index` (a put or append). */
  seen(index: number): boolean {
    if (this.answers[index] === NOT_ASKED) this.answers[index] = this.search(index) ? 1 : 0
    return this.answers[index] === 1
  }

  private search(index: number): boolean {
    const step = this.steps[index]
    const callTime = this.entries[index]?.callTime ?? -Infinity
    if (step === undefined || (step.type !== 'put' && step.type !== 'append')) return true
    const { kind, text } = step.value
    // A read that returned before the write was called cannot have seen it.
    return this.reads.some(
      (read) => read.returnTime >= callTime && read.value.kind === kind && (step.type === 'put' ? read.value.text.startsWith(text) : read.value.text.includes(text)),
    )
  }
}
