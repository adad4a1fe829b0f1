/**
 * Replicated shard masters on the simulator, for tests: N ShardMasterActor
 * replicas, scripted admin clients that behave like MasterClient (follow the
 * leader hint, move to the next replica on silence, a new seq per attempt,
 * the same requestId across the retries of one mutation), and the checks
 * every replicated-master test makes on what the replicas hold.
 */
import type { MasterReply, MasterRequest } from '../../src/actors/messages.js'
import type { Config } from '../../src/actors/shard-config.js'
import { ShardMasterActor, type MasterPaxosOptions } from '../../src/actors/shard-master.js'
import type { MasterOp, MasterResult, ShardMasterSnapshot } from '../../src/actors/shard-master-state.js'
import type { Message } from '../../src/runtime/actor.js'
import { Simulator, type SimulatedEndpoint, type SimulatorOptions } from '../../src/runtime/simulator.js'

/** One attempt waits this long for its reply: above an election timeout at the default 10 ms tick, as a real client would. */
const ATTEMPT_MS = 150

type Mutation = Exclude<MasterOp, { type: 'Query' }>
type MutationWithoutId = Mutation extends infer M ? (M extends Mutation ? Omit<M, 'requestId'> : never) : never

export interface MasterSimOptions {
  readonly seed: number
  readonly replicas: number
  readonly shards?: number
  readonly tickMs?: number
  readonly paxos?: MasterPaxosOptions
  /** Passed to every replica: the endpoint (create it first) that gets their role reports. */
  readonly roleObserver?: string
  readonly simulator?: Partial<SimulatorOptions>
}

/** A mutation the admin saw acknowledged, with the result the master gave. */
export interface Acknowledged {
  readonly op: MutationWithoutId
  readonly result: MasterResult
}

export class MasterSim {
  readonly sim: Simulator
  readonly ids: readonly string[]
  /** The running incarnation of each replica. */
  readonly actors = new Map<string, ShardMasterActor>()

  constructor(options: MasterSimOptions) {
    this.sim = new Simulator({ seed: options.seed, ...options.simulator })
    this.ids = Array.from({ length: options.replicas }, (_, index) => `master-${index}`)
    for (const id of this.ids) {
      this.sim.spawn(id, () => {
        const actor = new ShardMasterActor({ shards: options.shards ?? 10, replicas: this.ids, tickMs: options.tickMs, paxos: options.paxos, roleObserver: options.roleObserver })
        this.actors.set(id, actor)
        return actor
      })
    }
  }

  admin(id: string): AdminClient {
    return new AdminClient(this, id)
  }

  /** Running replicas that think they lead. */
  leaders(): string[] {
    return this.ids.filter((id) => this.sim.isRunning(id) && this.actors.get(id)?.role === 'leader')
  }

  /** Runs until exactly one running replica leads; its id, or undefined after `maxMs`. */
  awaitLeader(maxMs = 5000): string | undefined {
    return this.sim.runUntil(() => this.leaders().length === 1, maxMs) ? this.leaders()[0] : undefined
  }

  /** The applied state of each running replica. */
  states(ids: readonly string[] = this.ids): Map<string, ShardMasterSnapshot> {
    return new Map(ids.filter((id) => this.sim.isRunning(id)).map((id) => [id, this.actors.get(id)!.inspect()]))
  }

  /** Every replica runs and holds the same state. */
  converged(): boolean {
    const states = [...this.states().values()].map((state) => JSON.stringify(state))
    return states.length === this.ids.length && states.every((state) => state === states[0])
  }

  latest(id: string): Config {
    const { configs } = this.actors.get(id)!.inspect()
    return configs[configs.length - 1]!
  }
}

/** An admin client on a simulator endpoint; it drives the simulation while it waits. */
export class AdminClient {
  readonly acknowledged: Acknowledged[] = []
  private readonly endpoint: SimulatedEndpoint
  private readonly replies = new Map<number, MasterReply>()
  private leaderIndex = 0
  private nextSeq = 1
  private nextMutationSeq = 1

  constructor(
    private readonly cluster: MasterSim,
    readonly id: string,
  ) {
    this.endpoint = cluster.sim.endpoint(id, (message: Message) => {
      const reply = message as MasterReply
      if (reply.type === 'masterr') this.replies.set(reply.seq, reply)
    })
  }

  /**
   * Runs a Join, Leave or Move under a fresh requestId, retrying with the same
   * requestId until a result comes back or `budgetMs` of virtual time pass
   * (then undefined: outcome unknown). `afterFirstSend` runs once, right after
   * the first attempt is sent (to inject a fault mid-operation).
   */
  mutate(op: MutationWithoutId, budgetMs: number, afterFirstSend?: () => void): MasterResult | undefined {
    const requestId = { clientId: this.id, seq: this.nextMutationSeq++ }
    const result = this.request({ ...op, requestId } as Mutation, budgetMs, afterFirstSend)
    if (result !== undefined) this.acknowledged.push({ op, result })
    return result
  }

  /** Resumes a mutation whose earlier call ran out of budget: the same requestId as the last mutate. */
  retryLast(op: MutationWithoutId, budgetMs: number): MasterResult | undefined {
    const requestId = { clientId: this.id, seq: this.nextMutationSeq - 1 }
    const result = this.request({ ...op, requestId } as Mutation, budgetMs)
    if (result !== undefined) this.acknowledged.push({ op, result })
    return result
  }

  query(budgetMs: number, num?: number): Config | undefined {
    const result = this.request(num === undefined ? { type: 'Query' } : { type: 'Query', num }, budgetMs)
    if (result === undefined) return undefined
    if (result.type !== 'Config') throw new Error(`${this.id}: Query answered ${JSON.stringify(result)}`)
    return result.config
  }

  private request(op: MasterOp, budgetMs: number, afterFirstSend?: () => void): MasterResult | undefined {
    const { sim, ids } = this.cluster
    const deadlineMs = sim.now() + budgetMs
    for (let attempt = 0; sim.now() < deadlineMs; attempt++) {
      const seq = this.nextSeq++
      const request: MasterRequest = { type: 'master', seq, op }
      this.endpoint.send(ids[this.leaderIndex]!, request)
      if (attempt === 0) afterFirstSend?.()
      const waitMs = Math.max(1, Math.min(ATTEMPT_MS, deadlineMs - sim.now()))
      const answered = sim.runUntil(() => this.replies.has(seq), waitMs)
      const reply = this.replies.get(seq)
      this.replies.clear()
      if (reply?.result !== undefined) return reply.result
      const hinted = reply?.leaderHint === undefined ? -1 : ids.indexOf(reply.leaderHint)
      this.leaderIndex = hinted >= 0 ? hinted : (this.leaderIndex + 1) % ids.length
      // A reply without a result comes back at once: pause as MasterClient does, so a hint loop does not spin.
      if (answered) sim.runFor(20)
    }
    return undefined
  }
}

/**
 * What the acknowledged mutations say about the final history, for a script
 * whose mutations all succeed when applied once: configurations are numbered
 * 0..latest with no gap; every acknowledged mutation has its own number, at
 * which its effect appears; and there are exactly as many configurations
 * after 0 as acknowledged mutations, so none was applied twice and nothing
 * unacknowledged was applied.
 */
export function historyProblems(state: ShardMasterSnapshot, acknowledged: readonly Acknowledged[]): string[] {
  const problems: string[] = []
  const { configs } = state
  configs.forEach((config, index) => {
    if (config.num !== index) problems.push(`history index ${index} holds configuration ${config.num}`)
  })
  const seen = new Set<number>()
  for (const { op, result } of acknowledged) {
    if (result.type !== 'Joined' && result.type !== 'Left' && result.type !== 'Moved') {
      problems.push(`${JSON.stringify(op)} answered ${JSON.stringify(result)}`)
      continue
    }
    if (seen.has(result.num)) problems.push(`two mutations acknowledged with configuration ${result.num}`)
    seen.add(result.num)
    const effect = effectProblem(op, configs[result.num - 1], configs[result.num])
    if (effect !== undefined) problems.push(`${JSON.stringify(op)} -> ${result.num}: ${effect}`)
  }
  const latest = configs[configs.length - 1]!.num
  if (latest !== seen.size) problems.push(`${latest} configurations after 0 for ${seen.size} acknowledged mutations`)
  return problems
}

function effectProblem(op: MutationWithoutId, before: Config | undefined, after: Config | undefined): string | undefined {
  if (before === undefined || after === undefined) return 'configuration missing from the history'
  switch (op.type) {
    case 'Join':
      return op.gid !== undefined && !(op.gid in after.groups && !(op.gid in before.groups)) ? 'the group did not join there' : undefined
    case 'Leave':
      return op.gid in before.groups && !(op.gid in after.groups) ? undefined : 'the group did not leave there'
    case 'Move':
      return after.shards[op.shard] === op.gid ? undefined : 'the shard did not move there'
    default: {
      const never: never = op
      return `unknown op ${JSON.stringify(never)}`
    }
  }
}
