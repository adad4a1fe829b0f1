/**
 * Supervisors as in Erlang/OTP. A supervisor starts its children in order and,
 * when one fails (its worker exited unexpectedly, threw, or hung), restarts
 * according to its strategy:
 *
 * - one_for_one: only the failed child;
 * - one_for_all: every child (stopped in reverse order, started in order);
 * - rest_for_one: the failed child and every child started after it.
 *
 * Restart intensity: more than `maxRestarts` restarts within `periodMs` and
 * the supervisor gives up: it stops all its children and fails itself, so its
 * parent applies its own strategy to it (a supervisor is a child like any
 * other). The root has no parent: it stays down and reports the escalation.
 */
import { ShardKVError } from '../errors.js'

export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one'

export interface SupervisorOptions {
  /** Default 'one_for_one'. */
  readonly strategy?: Strategy
  /** Restarts allowed within `periodMs` before escalating; default 5, 0..1000. */
  readonly maxRestarts?: number
  /** Window of the restart intensity, default 10000 ms. */
  readonly periodMs?: number
}

/** Something a supervisor can start and stop: an actor's worker, or another supervisor. */
export interface Child {
  readonly id: string
  /** Starts the child (again); resolves once it runs, rejects if it could not start. */
  start(): Promise<void>
  /** Stops the child without that counting as a failure; a no-op when it is down. */
  terminate(): Promise<void>
  /** Set by the supervisor that adds the child. */
  supervisor?: Supervisor | undefined
}

export interface RestartEvent {
  readonly supervisor: string
  readonly id: string
  readonly reason: string
  /** Restarts of this child so far, this one included. */
  readonly restarts: number
}

export interface EscalateEvent {
  readonly supervisor: string
  readonly reason: string
  readonly restarts: number
  readonly periodMs: number
}

export interface SupervisorEvents {
  restart(event: RestartEvent): void
  escalate(event: EscalateEvent): void
}

export class Supervisor implements Child {
  readonly strategy: Strategy
  readonly maxRestarts: number
  readonly periodMs: number
  supervisor: Supervisor | undefined
  private readonly children: Child[] = []
  private readonly restartCounts = new Map<string, number>()
  private recentRestartsMs: number[] = []
  /** Failures are handled one at a time, in order, so restarts never interleave. */
  private queue: Promise<void> = Promise.resolve()
  private down = false

  constructor(
    readonly id: string,
    options: SupervisorOptions,
    private readonly events: SupervisorEvents,
  ) {
    this.strategy = options.strategy ?? 'one_for_one'
    this.maxRestarts = options.maxRestarts ?? 5
    this.periodMs = options.periodMs ?? 10_000
    if (!Number.isInteger(this.maxRestarts) || this.maxRestarts < 0 || this.maxRestarts > 1000) {
      throw new ShardKVError('ERR_INVALID_OPTION', `supervisor ${id}: maxRestarts must be an integer within 0..1000, got ${this.maxRestarts}`)
    }
    if (!(this.periodMs > 0 && this.periodMs <= 3_600_000)) {
      throw new ShardKVError('ERR_INVALID_OPTION', `supervisor ${id}: periodMs must be within 1..3600000, got ${this.periodMs}`)
    }
  }

  get isDown(): boolean {
    return this.down
  }

  childIds(): string[] {
    return this.children.map((child) => child.id)
  }

  restartsOf(id: string): number {
    return this.restartCounts.get(id) ?? 0
  }

  /** Adds a child at the end and starts it (unless this supervisor is down). */
  add(child: Child): Promise<void> {
    return this.serialize(async () => {
      if (this.children.some((existing) => existing.id === child.id)) {
        throw new ShardKVError('ERR_INVALID_OPTION', `supervisor ${this.id} already has a child "${child.id}"; ids are unique`)
      }
      child.supervisor = this
      this.children.push(child)
      if (!this.down) await this.startOrReport(child)
    })
  }

  /** Stops a child for good and forgets it. */
  remove(id: string): Promise<void> {
    return this.serialize(async () => {
      const index = this.children.findIndex((child) => child.id === id)
      if (index < 0) return
      const [child] = this.children.splice(index, 1)
      await child!.terminate()
      child!.supervisor = undefined
    })
  }

  /** Called by a child's owner when the child died or hung. */
  failed(id: string, reason: string): void {
    void this.serialize(() => this.handleFailure(id, reason))
  }

  async start(): Promise<void> {
    this.down = false
    this.recentRestartsMs = []
    for (const child of this.children) await child.start()
  }

  async terminate(): Promise<void> {
    for (const child of [...this.children].reverse()) await child.terminate()
  }

  /** Resolves when every failure reported so far has been handled. */
  settled(): Promise<void> {
    return this.serialize(async () => {})
  }

  private async handleFailure(id: string, reason: string): Promise<void> {
    const index = this.children.findIndex((child) => child.id === id)
    if (this.down || index < 0) return
    if (this.intensityExceeded()) {
      await this.escalate(reason)
      return
    }
    const affected = this.affectedBy(index)
    for (const child of [...affected].reverse()) await child.terminate()
    for (const child of affected) {
      const restarts = this.restartsOf(child.id) + 1
      this.restartCounts.set(child.id, restarts)
      this.events.restart({ supervisor: this.id, id: child.id, reason: child.id === id ? reason : `sibling ${id} failed (${this.strategy})`, restarts })
      await this.startOrReport(child)
    }
  }

  private intensityExceeded(): boolean {
    const now = Date.now()
    this.recentRestartsMs = this.recentRestartsMs.filter((at) => now - at < this.periodMs)
    this.recentRestartsMs.push(now)
    return this.recentRestartsMs.length > this.maxRestarts
  }

  private affectedBy(index: number): Child[] {
    switch (this.strategy) {
      case 'one_for_one':
        return [this.children[index]!]
      case 'one_for_all':
        return [...this.children]
      case 'rest_for_one':
        return this.children.slice(index)
      default: {
        const never: never = this.strategy
        throw new Error(`unknown strategy ${String(never)}`)
      }
    }
  }

  private async escalate(reason: string): Promise<void> {
    this.down = true
    await this.terminate()
    const restarts = this.recentRestartsMs.length - 1
    this.events.escalate({ supervisor: this.id, reason, restarts, periodMs: this.periodMs })
    this.supervisor?.failed(this.id, `supervisor ${this.id} exceeded ${this.maxRestarts} restarts in ${this.periodMs} ms (last: ${reason})`)
  }

  /** A child that cannot start counts as a failure of that child. */
  private async startOrReport(child: Child): Promise<void> {
    try {
      await child.start()
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      queueMicrotask(() => this.failed(child.id, `start failed: ${message}`))
    }
  }

  private serialize(task: () => Promise<void>): Promise<void> {
    const next = this.queue.then(task)
    this.queue = next.catch(() => {})
    return next
  }
}
