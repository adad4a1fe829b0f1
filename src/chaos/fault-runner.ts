/**
 * Plays a fault plan (fault-plan.ts) against a running cluster, on the wall
 * clock, until the plan ends or `stop()`; then heals every partition and makes
 * the transport reliable again.
 *
 * Before each kill, pause or partition it re-checks the minority rule
 * against what is live: actors the cluster reports down (a killed actor
 * stays down until its supervisor restarts it, which the plan could only
 * guess), actors it paused that are still paused, and the side of the
 * current partition. A fault that would take a domain past its budget is
 * skipped and counted, never injected.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Cluster } from '../cluster.js'
import { FAULT_KINDS, minorityBudget, type FailureDomain, type FaultKind, type FaultStep } from './fault-plan.js'

/** What the runner needs of a cluster; a Cluster has it. */
export type FaultTarget = Pick<Cluster, 'faults' | 'actors'>

export type FaultCounts = Record<FaultKind, number>

export interface FaultRunnerResult {
  readonly injected: FaultCounts
  /** Planned faults not injected because live state had the domain at its budget already. */
  readonly skipped: FaultCounts
}

export function zeroCounts(): FaultCounts {
  return Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as FaultCounts
}

export class FaultRunner {
  readonly injected = zeroCounts()
  readonly skipped = zeroCounts()
  private readonly stopper = new AbortController()
  private readonly pausedUntilMs = new Map<string, number>()
  private isolated: readonly string[] = []

  constructor(
    private readonly target: FaultTarget,
    private readonly domains: readonly FailureDomain[],
    private readonly plan: readonly FaultStep[],
  ) {}

  /** Resolves when the plan has played out or stop() was called, with every fault but running pauses and restarts undone. */
  async run(): Promise<FaultRunnerResult> {
    const startMs = Date.now()
    try {
      for (const step of this.plan) {
        const waitMs = startMs + step.atMs - Date.now()
        if (waitMs > 0) await sleep(waitMs, undefined, { signal: this.stopper.signal }).catch(() => {})
        if (this.stopper.signal.aborted) break
        await this.apply(step)
      }
    } finally {
      this.target.faults.heal()
      this.target.faults.reliable()
      this.isolated = []
    }
    return { injected: { ...this.injected }, skipped: { ...this.skipped } }
  }

  stop(): void {
    this.stopper.abort()
  }

  get total(): number {
    return FAULT_KINDS.reduce((sum, kind) => sum + this.injected[kind], 0)
  }

  private async apply(step: FaultStep): Promise<void> {
    const { action } = step
    switch (action.type) {
      case 'kill':
        if (!this.mayTakeDown([action.id])) return void this.skipped.kill++
        this.injected.kill++
        await this.target.faults.kill(action.id)
        return
      case 'pause':
        if (!this.mayTakeDown([action.id])) return void this.skipped.pause++
        this.injected.pause++
        this.target.faults.pause(action.id, action.ms)
        this.pausedUntilMs.set(action.id, Date.now() + action.ms)
        return
      case 'partition': {
        if (!this.mayTakeDown(action.isolated)) return void this.skipped.partition++
        this.injected.partition++
        const rest = this.target.actors().map((actor) => actor.id).filter((id) => !action.isolated.includes(id))
        this.target.faults.partition([action.isolated, rest])
        this.isolated = action.isolated
        return
      }
      case 'heal':
        this.target.faults.heal()
        this.isolated = []
        return
      case 'unreliable':
        this.injected.unreliable++
        this.target.faults.unreliable(action.settings)
        return
      case 'reliable':
        this.target.faults.reliable()
        return
      default: {
        const never: never = action
        throw new Error(`unknown fault action ${JSON.stringify(never)}`)
      }
    }
  }

  /** True when taking `ids` down keeps every domain within its minority budget, live. */
  private mayTakeDown(ids: readonly string[]): boolean {
    const down = this.liveDown()
    if (ids.some((id) => down.has(id))) return false
    return this.domains.every((domain) => {
      const after = domain.members.filter((id) => down.has(id) || ids.includes(id)).length
      return after <= minorityBudget(domain.members.length)
    })
  }

  private liveDown(): Set<string> {
    const nowMs = Date.now()
    const down = new Set(this.target.actors().filter((actor) => actor.role === 'down').map((actor) => actor.id))
    for (const [id, untilMs] of this.pausedUntilMs) {
      if (untilMs > nowMs) down.add(id)
      else this.pausedUntilMs.delete(id)
    }
    for (const id of this.isolated) down.add(id)
    return down
  }
}
