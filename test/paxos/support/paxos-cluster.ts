/**
 * A replicated counter on the simulator for Multi-Paxos tests: N PaxosActor
 * replicas, a client endpoint that proposes unique commands to whoever it
 * believes leads, and a checker that sees every apply and snapshot install.
 *
 * Safety checked: at every index all replicas applied the same commands and
 * reached the same state (so every replica's history is a prefix of one
 * agreed sequence, snapshots included); the agreed sequence has no holes; no
 * command appears twice; every command acknowledged as committed appears.
 */
import { Prng } from '../../../src/runtime/prng.js'
import { Simulator, type SimulatedEndpoint, type SimulatorOptions } from '../../../src/runtime/simulator.js'
import type { Message } from '../../../src/runtime/actor.js'
import { PaxosActor, type ClientMessage, type CounterCommand, type CounterState, type PaxosActorArgs, type ReplicationObserver } from './paxos-actor.js'

const CLIENT_ID = 'client'
/** Violations kept: the first few say what went wrong; more only bloat the failure. */
const MAX_VIOLATIONS = 20

export class ReplicationChecker implements ReplicationObserver {
  readonly agreed = new Map<number, { readonly ids: string; readonly state: CounterState }>()
  readonly appliedIndex = new Map<string, number>()
  readonly violations: string[] = []

  onStart(replica: string, appliedIndex: number): void {
    this.appliedIndex.set(replica, appliedIndex)
  }

  onApply(replica: string, index: number, commands: readonly CounterCommand[], state: CounterState): void {
    const ids = commands.map((command) => command.id).join(',')
    const agreed = this.agreed.get(index)
    if (agreed === undefined) this.agreed.set(index, { ids, state })
    else if (agreed.ids !== ids || !sameState(agreed.state, state)) {
      this.violate(`${replica} applied [${ids}] at ${index} (state ${JSON.stringify(state)}); agreed [${agreed.ids}] (${JSON.stringify(agreed.state)})`)
    }
    this.appliedIndex.set(replica, index)
  }

  onInstall(replica: string, index: number, state: CounterState): void {
    const agreed = this.agreed.get(index)
    if (agreed !== undefined && !sameState(agreed.state, state)) {
      this.violate(`${replica} installed a snapshot at ${index} with ${JSON.stringify(state)}; agreed ${JSON.stringify(agreed.state)}`)
    }
    this.appliedIndex.set(replica, index)
  }

  get highestIndex(): number {
    return Math.max(0, ...this.agreed.keys())
  }

  /** Every agreed command id with how many times it appears; holes reported as violations. */
  commandCounts(): Map<string, number> {
    const counts = new Map<string, number>()
    for (let index = 1; index <= this.highestIndex; index++) {
      const agreed = this.agreed.get(index)
      if (agreed === undefined) {
        this.violate(`no replica applied index ${index} (below ${this.highestIndex})`)
        continue
      }
      for (const id of agreed.ids.split(',')) if (id !== '') counts.set(id, (counts.get(id) ?? 0) + 1)
    }
    return counts
  }

  private violate(text: string): void {
    if (this.violations.length < MAX_VIOLATIONS) this.violations.push(text)
  }
}

function sameState(a: CounterState, b: CounterState): boolean {
  return a.count === b.count && a.digest === b.digest
}

export interface PaxosClusterOptions {
  readonly seed: number
  readonly replicas: number
  readonly tickMs?: number
  readonly simulator?: Partial<SimulatorOptions>
  readonly paxos?: PaxosActorArgs['paxos']
}

export class PaxosCluster {
  readonly sim: Simulator
  readonly ids: readonly string[]
  readonly checker = new ReplicationChecker()
  readonly acknowledged = new Set<string>()
  /** The running incarnation of each replica, for inspecting its core. */
  readonly actors = new Map<string, PaxosActor>()
  private readonly client: SimulatedEndpoint
  private readonly prng: Prng
  private leaderGuess: string | undefined
  private nextCommand = 0

  constructor(options: PaxosClusterOptions) {
    this.sim = new Simulator({ seed: options.seed, ...options.simulator })
    this.prng = new Prng(options.seed ^ 0x5eed)
    this.ids = Array.from({ length: options.replicas }, (_, index) => `r${index}`)
    const args: PaxosActorArgs = { peers: this.ids, tickMs: options.tickMs ?? 10, paxos: options.paxos ?? {}, observer: this.checker }
    this.client = this.sim.endpoint(CLIENT_ID, (message, from) => this.onReply(message, from))
    for (const id of this.ids) {
      this.sim.spawn(id, () => {
        const actor = new PaxosActor(args)
        this.actors.set(id, actor)
        return actor
      })
    }
  }

  /** Proposes `count` new commands, each once, to the replica the client believes leads (a random one if none). */
  submit(count: number): void {
    for (let index = 0; index < count; index++) {
      // Now and then a random replica: a guess that crashed or was cut off never answers to correct itself.
      const to = this.leaderGuess !== undefined && this.prng.chance(0.9) ? this.leaderGuess : this.prng.pick(this.ids)
      const message: ClientMessage = { type: 'client.propose', id: `cmd${this.nextCommand++}` }
      this.client.send(to, message)
    }
  }

  /** Runs `durationMs` of virtual time, submitting `perStep` commands every `stepMs`. */
  runWithLoad(durationMs: number, stepMs: number, perStep: number, between: () => void = () => {}): void {
    for (let elapsedMs = 0; elapsedMs < durationMs; elapsedMs += stepMs) {
      between()
      this.submit(perStep)
      this.sim.runFor(stepMs)
    }
  }

  /** The replicas that are running and think they lead. */
  leaders(): string[] {
    return this.ids.filter((id) => this.sim.isRunning(id) && this.actors.get(id)?.paxos?.isLeader === true)
  }

  converged(): boolean {
    const highest = this.checker.highestIndex
    return this.ids.every((id) => this.sim.isRunning(id) && this.checker.appliedIndex.get(id) === highest)
  }

  private onReply(message: Message, from: string): void {
    const reply = message as ClientMessage
    if (reply.type === 'client.committed') {
      this.acknowledged.add(reply.id)
      this.leaderGuess = from
    }
    if (reply.type === 'client.rejected') this.leaderGuess = reply.leaderHint
  }
}
