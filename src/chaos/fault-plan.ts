/**
 * The chaos fault schedule: a pure function of a seeded Prng and the
 * cluster's shape, planned up front, so a seed names the same faults at the
 * same offsets on every run (the interleaving of client operations around
 * them is up to the threads, and is not reproducible).
 *
 * Failure domains are the replica groups and the set of shard masters. Each
 * domain may lose at most a minority of its members at once (killed, paused
 * or cut off by a partition): floor((n - 1) / 2). That is what a majority
 * quorum tolerates while staying available; more would only measure
 * unavailability. A domain of one member (replicas = 1, masters = 1) has a
 * budget of 0: it is never faulted, since a kill would wipe its only copy.
 *
 * A kill's downtime is not known in advance (the supervisor restarts the
 * actor, which then catches up), so the plan assumes `killDownMs`; the runner
 * re-checks live roles before each fault and skips one that would exceed a
 * budget (fault-runner.ts).
 */
import { assert } from '../errors.js'
import type { Prng } from '../runtime/prng.js'

export interface FailureDomain {
  /** 'masters' or 'group <gid>'. */
  readonly name: string
  readonly members: readonly string[]
}

export interface UnreliableSettings {
  readonly drop: number
  readonly duplicate: number
  readonly delayMs: number
}

export type FaultAction =
  | { readonly type: 'kill'; readonly id: string; readonly downForMs: number }
  | { readonly type: 'pause'; readonly id: string; readonly ms: number }
  | { readonly type: 'partition'; readonly isolated: readonly string[] }
  | { readonly type: 'heal' }
  | { readonly type: 'unreliable'; readonly settings: UnreliableSettings }
  | { readonly type: 'reliable' }

export interface FaultStep {
  /** Offset from the start of the run. */
  readonly atMs: number
  readonly action: FaultAction
}

export type FaultKind = 'kill' | 'pause' | 'partition' | 'unreliable'

export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'pause', 'partition', 'unreliable']

export interface FaultPlanOptions {
  readonly durationMs: number
  /** One fault is drawn every interval (some draws find no budget and plan nothing). */
  readonly faultIntervalMs: number
  readonly domains: readonly FailureDomain[]
}

/** Most steps a plan holds (two per interval at most): bounds the plan's memory for any duration. */
export const MAX_FAULT_STEPS = 100_000

/** Relative odds of each kind per draw. */
const KIND_WEIGHTS: readonly (readonly [FaultKind, number])[] = [
  ['kill', 3],
  ['pause', 3],
  ['partition', 2],
  ['unreliable', 2],
]

/** Most members a domain may have down at once: a minority. */
export function minorityBudget(members: number): number {
  return Math.floor((members - 1) / 2)
}

/** The schedule, sorted by time; at equal times a fault ends before the next begins. */
export function planFaults(random: Prng, options: FaultPlanOptions): FaultStep[] {
  const { durationMs, faultIntervalMs, domains } = options
  assert(faultIntervalMs > 0 && durationMs >= 0, 'planFaults needs a positive interval and a non-negative duration')
  assert(durationMs / faultIntervalMs <= MAX_FAULT_STEPS / 2, `a plan holds at most ${MAX_FAULT_STEPS} steps; lengthen the interval`)
  const state = new PlanState(domains)
  const steps: FaultStep[] = []
  for (let atMs = faultIntervalMs; atMs < durationMs; atMs += faultIntervalMs) {
    state.expire(atMs)
    const kind = drawKind(random)
    steps.push(...planOne(kind, atMs, random, state, faultIntervalMs))
  }
  const order = (step: FaultStep): number => (step.action.type === 'heal' || step.action.type === 'reliable' ? 0 : 1)
  return steps.filter((step) => step.atMs < durationMs).sort((a, b) => a.atMs - b.atMs || order(a) - order(b))
}

function planOne(kind: FaultKind, atMs: number, random: Prng, state: PlanState, intervalMs: number): FaultStep[] {
  switch (kind) {
    case 'kill': {
      const id = state.pickVictim(random)
      if (id === undefined) return []
      const downForMs = 2 * intervalMs
      state.markDown(id, atMs + downForMs)
      return [{ atMs, action: { type: 'kill', id, downForMs } }]
    }
    case 'pause': {
      const id = state.pickVictim(random)
      if (id === undefined) return []
      const ms = random.intBetween(Math.ceil(intervalMs / 2), 2 * intervalMs)
      state.markDown(id, atMs + ms)
      return [{ atMs, action: { type: 'pause', id, ms } }]
    }
    case 'partition': {
      if (state.partitionUntilMs > atMs) return []
      const isolated = state.pickIsolated(random)
      if (isolated.length === 0) return []
      const healAtMs = atMs + random.intBetween(intervalMs, 3 * intervalMs)
      for (const id of isolated) state.markDown(id, healAtMs)
      state.partitionUntilMs = healAtMs
      return [
        { atMs, action: { type: 'partition', isolated } },
        { atMs: healAtMs, action: { type: 'heal' } },
      ]
    }
    case 'unreliable': {
      if (state.unreliableUntilMs > atMs) return []
      const endAtMs = atMs + random.intBetween(intervalMs, 3 * intervalMs)
      state.unreliableUntilMs = endAtMs
      const settings = { drop: random.intBetween(1, 10) / 100, duplicate: random.intBetween(0, 10) / 100, delayMs: random.intBetween(0, 20) }
      return [
        { atMs, action: { type: 'unreliable', settings } },
        { atMs: endAtMs, action: { type: 'reliable' } },
      ]
    }
    default: {
      const never: never = kind
      throw new Error(`unknown fault kind ${String(never)}`)
    }
  }
}

function drawKind(random: Prng): FaultKind {
  const total = KIND_WEIGHTS.reduce((sum, [, weight]) => sum + weight, 0)
  let draw = random.int(total)
  for (const [kind, weight] of KIND_WEIGHTS) {
    if (draw < weight) return kind
    draw -= weight
  }
  throw new Error('unreachable: the draw is below the total weight')
}

/** Who the plan has down, and until when, as it walks forward in time. */
class PlanState {
  /** Actor id -> the time it is planned back up. */
  private readonly downUntilMs = new Map<string, number>()
  partitionUntilMs = 0
  unreliableUntilMs = 0

  constructor(private readonly domains: readonly FailureDomain[]) {}

  expire(nowMs: number): void {
    for (const [id, untilMs] of this.downUntilMs) if (untilMs <= nowMs) this.downUntilMs.delete(id)
  }

  markDown(id: string, untilMs: number): void {
    assert(!this.downUntilMs.has(id), `${id} is planned down twice at once`)
    this.downUntilMs.set(id, untilMs)
  }

  /** An up member of a domain with budget to spare, or undefined when none has. */
  pickVictim(random: Prng): string | undefined {
    const open = this.domains.filter((domain) => this.spare(domain) > 0)
    if (open.length === 0) return undefined
    return random.pick(this.upMembers(random.pick(open)))
  }

  /** Up to each open domain's spare budget of its up members, from at least one domain. */
  pickIsolated(random: Prng): string[] {
    const open = this.domains.filter((domain) => this.spare(domain) > 0)
    if (open.length === 0) return []
    const chosen = open.filter((_domain, index) => index === open.length - 1 || random.chance(0.5))
    return chosen.flatMap((domain) => shuffle(random, this.upMembers(domain)).slice(0, random.intBetween(1, this.spare(domain))))
  }

  private spare(domain: FailureDomain): number {
    return minorityBudget(domain.members.length) - domain.members.filter((id) => this.downUntilMs.has(id)).length
  }

  private upMembers(domain: FailureDomain): string[] {
    return domain.members.filter((id) => !this.downUntilMs.has(id))
  }
}

function shuffle<T>(random: Prng, items: readonly T[]): T[] {
  const result = [...items]
  for (let index = result.length - 1; index > 0; index--) {
    const other = random.int(index + 1)
    ;[result[index], result[other]] = [result[other] as T, result[index] as T]
  }
  return result
}
