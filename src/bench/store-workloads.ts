/**
 * The store benchmark's workloads, as YCSB's core workloads define them
 * (E, short range scans, is out of scope: the store has no scan):
 *
 *   A  update heavy       50 % read, 50 % update, zipfian
 *   B  read mostly        95 % read,  5 % update, zipfian
 *   C  read only         100 % read,              zipfian
 *   D  read latest        95 % read,  5 % insert, latest
 *   F  read-modify-write  50 % read, 50 % read-modify-write, zipfian
 *
 * An `OperationStream` is the op generator of one driver (a client thread,
 * or the main thread for the in-process baselines): pure and seeded, so all
 * targets run the same mix over the same keys, and a seed replays a run.
 *
 * Keys are `user<n>`. The load phase writes records 0..records-1. Inserts
 * (workload D) extend the key space per stream: stream `thread` of `threads`
 * inserts records + thread, records + thread + threads, ..., so concurrent
 * client threads never insert the same key; a stream reads the loaded
 * records and its own inserts, the latest of them the most popular. An
 * insert is visible to the stream's reads from the moment it is issued.
 */
import { UsageError } from '../cli-flags.js'
import { keyChooser, seededRandom, type Distribution, type KeyChooser, type Random } from './store-key-choosers.js'

export const WORKLOAD_NAMES = ['A', 'B', 'C', 'D', 'F'] as const
export type WorkloadName = (typeof WORKLOAD_NAMES)[number]

export type OperationKind = 'read' | 'update' | 'insert' | 'readModifyWrite'

export interface WorkloadSpec {
  readonly name: WorkloadName
  readonly description: string
  /** Shares of each operation, summing to 1. */
  readonly readProportion: number
  readonly updateProportion: number
  readonly insertProportion: number
  readonly readModifyWriteProportion: number
  /** The request distribution: the workload's own unless --distribution overrides it. */
  readonly distribution: Distribution
}

function workload(name: WorkloadName, description: string, shares: Partial<Record<OperationKind, number>>, distribution: Distribution): WorkloadSpec {
  return {
    name,
    description,
    readProportion: shares.read ?? 0,
    updateProportion: shares.update ?? 0,
    insertProportion: shares.insert ?? 0,
    readModifyWriteProportion: shares.readModifyWrite ?? 0,
    distribution,
  }
}

export const WORKLOADS: Readonly<Record<WorkloadName, WorkloadSpec>> = {
  A: workload('A', 'update heavy: 50 % read, 50 % update', { read: 0.5, update: 0.5 }, 'zipfian'),
  B: workload('B', 'read mostly: 95 % read, 5 % update', { read: 0.95, update: 0.05 }, 'zipfian'),
  C: workload('C', 'read only', { read: 1 }, 'zipfian'),
  D: workload('D', 'read latest: 95 % read, 5 % insert', { read: 0.95, insert: 0.05 }, 'latest'),
  F: workload('F', 'read-modify-write: 50 % read, 50 % read-modify-write', { read: 0.5, readModifyWrite: 0.5 }, 'zipfian'),
}

/** Parses `A,B,C` (case-insensitive); a UsageError names the bad entry. */
export function parseWorkloads(text: string, distribution?: Distribution): WorkloadSpec[] {
  const names = text.split(',').map((name) => name.trim().toUpperCase())
  const seen = new Set<string>()
  return names.map((name) => {
    if (!isWorkloadName(name)) throw new UsageError(`--workload: unknown workload "${name}" (expected a list of ${WORKLOAD_NAMES.join(', ')}; E is out of scope)`)
    if (seen.has(name)) throw new UsageError(`--workload: ${name} is given more than once`)
    seen.add(name)
    return distribution === undefined ? WORKLOADS[name] : { ...WORKLOADS[name], distribution }
  })
}

function isWorkloadName(name: string): name is WorkloadName {
  return (WORKLOAD_NAMES as readonly string[]).includes(name)
}

export function keyName(recordNumber: number): string {
  return `user${recordNumber}`
}

/** The loaded records' names, built once per thread and size, so the hot loop does no string work for them. */
let recordNamesMemo: string[] = []

export function recordNames(records: number): readonly string[] {
  if (recordNamesMemo.length !== records) recordNamesMemo = Array.from({ length: records }, (_, index) => keyName(index))
  return recordNamesMemo
}

export function valueOfBytes(valueBytes: number): string {
  return 'x'.repeat(valueBytes)
}

export interface Operation {
  readonly kind: OperationKind
  readonly key: string
}

export interface StreamOptions {
  readonly workload: WorkloadSpec
  readonly records: number
  readonly seed: number
  /** This stream's driver among `threads`: it decides the keys the stream inserts. */
  readonly thread: number
  readonly threads: number
}

/** The seed of one stream: distinct per thread and workload, fixed by the run's seed. */
export function streamSeed(seed: number, thread: number, workload: WorkloadName): number {
  return (Math.imul(seed, 0x9e3779b1) ^ Math.imul(thread + 1, 0x85ebca6b) ^ Math.imul(workload.charCodeAt(0), 0xc2b2ae35)) >>> 0
}

export class OperationStream {
  private readonly random: Random
  private readonly chooser: KeyChooser
  private readonly names: readonly string[]
  private readonly readBelow: number
  private readonly updateBelow: number
  private readonly insertBelow: number
  private insertedCount = 0

  constructor(private readonly options: StreamOptions) {
    const { workload } = options
    this.random = seededRandom(streamSeed(options.seed, options.thread, workload.name))
    this.chooser = keyChooser(workload.distribution, this.random)
    this.names = recordNames(options.records)
    this.readBelow = workload.readProportion
    this.updateBelow = this.readBelow + workload.updateProportion
    this.insertBelow = this.updateBelow + workload.insertProportion
  }

  /** Records this stream inserted so far. */
  get inserted(): number {
    return this.insertedCount
  }

  next(): Operation {
    const share = this.random()
    if (share < this.insertBelow && share >= this.updateBelow) return { kind: 'insert', key: this.insertKey() }
    const kind: OperationKind = share < this.readBelow ? 'read' : share < this.updateBelow ? 'update' : 'readModifyWrite'
    return { kind, key: this.keyAt(this.chooser.next(this.options.records + this.insertedCount)) }
  }

  private insertKey(): string {
    const { records, thread, threads } = this.options
    return keyName(records + this.insertedCount++ * threads + thread)
  }

  /** Index `index` of this stream's view: the loaded records, then its own inserts in order. */
  private keyAt(index: number): string {
    const { records, thread, threads } = this.options
    return index < records ? this.names[index]! : keyName(records + (index - records) * threads + thread)
  }
}
