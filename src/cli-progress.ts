/**
 * One status line on stderr, redrawn in place; nothing at all when stderr is
 * not a terminal (so scripts and --json readers never see it).
 */
import type { CliIo } from './cli.js'

export interface ProgressLine {
  show(text: string): void
  clear(): void
}

export function progressLine(io: CliIo): ProgressLine {
  if (!io.errIsTTY) return { show: () => {}, clear: () => {} }
  let drawn = false
  return {
    show: (text) => {
      io.err(`\r\x1b[2K${text}`)
      drawn = true
    },
    clear: () => {
      if (drawn) io.err('\r\x1b[2K')
      drawn = false
    },
  }
}
