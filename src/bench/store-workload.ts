/**
 * The store benchmark's workloads, as pure data and pure helpers shared by
 * every contender (shardkv client threads, the postMessage Map worker, the
 * plain Map), so all of them run the same op mix over the same keys:
 *
 * - a workload is a read share: `read` (100 % get), `write` (100 % put) or
 *   `R/W` with R + W = 100 (`95/5`: 95 % get, 5 % put);
 * - keys are `key-<n>` for n in [0, keys), chosen uniformly;
 * - every put writes the same `valueBytes`-long string.
 */
import { UsageError } from '../cli-flags.js'

export interface Workload {
  /** As given on the command line: `read`, `95/5`. */
  readonly name: string
  /** Share of gets, 0..100; the rest are puts. */
  readonly readPercent: number
}

/** Most workloads one run takes: each costs a window per contender. */
export const MAX_WORKLOADS = 16

/** Parses `read,95/5,50/50`; a UsageError names the bad entry. */
export function parseWorkloads(text: string): Workload[] {
  const names = text.split(',').map((name) => name.trim())
  if (names.length > MAX_WORKLOADS) throw new UsageError(`--workloads: at most ${MAX_WORKLOADS} workloads, got ${names.length}`)
  const seen = new Set<string>()
  return names.map((name) => {
    if (seen.has(name)) throw new UsageError(`--workloads: "${name}" is given more than once`)
    seen.add(name)
    return { name, readPercent: readPercentOf(name) }
  })
}

function readPercentOf(name: string): number {
  if (name === 'read') return 100
  if (name === 'write') return 0
  const match = /^(\d{1,3})\/(\d{1,3})$/.exec(name)
  if (match !== null && Number(match[1]) + Number(match[2]) === 100) return Number(match[1])
  throw new UsageError(`--workloads: bad workload "${name}" (expected read, write or R/W with R + W = 100, e.g. 95/5)`)
}

export function keyName(index: number): string {
  return `key-${index}`
}

/** All key names, built once per thread so the hot loop does no string work. */
export function keyNames(keys: number): string[] {
  return Array.from({ length: keys }, (_, index) => keyName(index))
}

export function valueOfBytes(valueBytes: number): string {
  return 'x'.repeat(valueBytes)
}

/** True when the next op is a get. */
export function nextIsRead(readPercent: number, random: () => number): boolean {
  return random() * 100 < readPercent
}

/** The postMessage baseline's messages (store-map-worker.ts). */
export interface MapWorkerData {
  readonly keys: number
  readonly valueBytes: number
}

/** Main thread -> worker: a get (no value) or a put. */
export interface MapRequest {
  readonly id: number
  readonly key: string
  readonly value?: string
}

/** Worker -> main thread: the answer to request `id` (a get's value); id -1 once loaded. */
export interface MapReply {
  readonly id: number
  readonly value?: string | undefined
}

export const READY_ID = -1
