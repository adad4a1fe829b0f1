/**
 * What the runtime benchmark compares: a transport ("contender") that owns
 * `workers` echo workers (answering pings) and as many driver workers (each
 * loading its own echo worker), and runs a LoadPlan either from the main
 * thread against every echo worker at once or in every driver worker at once.
 */
import type { LoadPlan, LoadResult } from './load.js'
import type { TransportName } from './report.js'

export interface Contender {
  readonly transport: TransportName
  /** Runs `plan` from the main thread against every echo worker at once; one result per echo worker. */
  fromMain(plan: LoadPlan): Promise<LoadResult[]>
  /** Runs `plan` in every driver worker at once, each against its own echo worker. */
  betweenWorkers(plan: LoadPlan): Promise<LoadResult[]>
  close(): Promise<void>
}

export interface ContenderOptions {
  readonly workers: number
  /** The ring's spin before sleeping; undefined: the runtime's default. */
  readonly spinMicros: number | undefined
}

/** Bound on a worker's start-up (module load, first answer). */
export const READY_TIMEOUT_MS = 10_000

/** One round trip: proves an echo worker is up before anything is measured. */
export const READINESS_PLAN: LoadPlan = { mode: 'ping-pong', inflight: 1, warmupMs: 0, durationMs: 1, sampleCapacity: 1 }
