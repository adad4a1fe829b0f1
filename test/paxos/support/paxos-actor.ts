/**
 * A test actor hosting MultiPaxos on the actor contract, the way the shard
 * master and storage nodes will: a timer drives tick(); after every event it
 * does what ready() says in the documented order (store the snapshot, store
 * the acceptor state, send, apply); it applies committed commands to a
 * replicated counter and snapshots it when the core says one is due.
 *
 * It reports every apply and snapshot install to a ReplicationObserver (a
 * test object shared by all replicas), which is how simulator tests check
 * agreement across crashes and restarts.
 */
import type { Actor, ActorContext, Message } from '../../../src/runtime/actor.js'
import { codec } from '../../../src/runtime/codec.js'
import { ZERO_BALLOT } from '../../../src/paxos/ballot.js'
import { isPaxosMessage, type PaxosMessage } from '../../../src/paxos/messages.js'
import { MultiPaxos, type Ready } from '../../../src/paxos/multi-paxos.js'
import type { AcceptorState, MultiPaxosOptions, Snapshot } from '../../../src/paxos/options.js'

/** One client command: ids are unique per proposal, so a duplicate in the log is a Paxos bug. */
export interface CounterCommand {
  readonly id: string
}

/** The replicated state: how many commands were applied, and a hash chain over their ids in order. */
export interface CounterState {
  readonly count: number
  readonly digest: number
}

export type ClientMessage =
  | { readonly type: 'client.propose'; readonly id: string }
  | { readonly type: 'client.committed'; readonly id: string; readonly index: number }
  | { readonly type: 'client.rejected'; readonly id: string; readonly reason: 'not_leader' | 'overloaded'; readonly leaderHint?: string }

export interface ReplicationObserver {
  onStart(replica: string, appliedIndex: number): void
  onApply(replica: string, index: number, commands: readonly CounterCommand[], state: CounterState): void
  onInstall(replica: string, index: number, state: CounterState): void
}

export interface PaxosActorArgs {
  readonly peers: readonly string[]
  readonly tickMs: number
  readonly paxos: Partial<MultiPaxosOptions<CounterCommand, CounterState>>
  readonly observer: ReplicationObserver
}

const ACCEPTOR_KEY = 'paxos/acceptor'
const SNAPSHOT_KEY = 'app/snapshot'
/** ready() rounds per event: each round can only unlock a bounded amount of new work. */
const MAX_READY_ROUNDS = 16
const INITIAL_STATE: CounterState = { count: 0, digest: 0 }

export class PaxosActor implements Actor {
  paxos: MultiPaxos<CounterCommand, CounterState> | undefined
  private state: CounterState = INITIAL_STATE
  private appliedIndex = 0
  /** Commands this incarnation proposed, by id, with who to tell once they commit. */
  private readonly waiting = new Map<string, string>()
  /**
   * Every id this incarnation proposed: the network duplicates requests, and
   * a copy arriving after the first committed must not be proposed again.
   * (Real actors deduplicate in the state machine by client sequence number.)
   */
  private readonly proposed = new Set<string>()

  constructor(private readonly args: PaxosActorArgs) {}

  start(ctx: ActorContext): void {
    const acceptorBytes = ctx.storage.get(ACCEPTOR_KEY)
    const snapshotBytes = ctx.storage.get(SNAPSHOT_KEY)
    const acceptor: AcceptorState<CounterCommand> =
      acceptorBytes === undefined ? { promised: ZERO_BALLOT, snapshotIndex: 0, accepted: [] } : (codec.decodeValue(acceptorBytes) as AcceptorState<CounterCommand>)
    const snapshot = snapshotBytes === undefined ? undefined : (codec.decodeValue(snapshotBytes) as Snapshot<CounterState>)
    this.state = snapshot?.snapshot ?? INITIAL_STATE
    this.appliedIndex = snapshot?.index ?? 0
    this.paxos = new MultiPaxos<CounterCommand, CounterState>({
      ...this.args.paxos,
      self: ctx.self,
      peers: this.args.peers,
      random: () => ctx.random(),
      restored: { acceptor, ...(snapshot === undefined ? {} : { snapshot }) },
    })
    this.args.observer.onStart(ctx.self, this.appliedIndex)
    ctx.setTimer(this.args.tickMs, { type: 'tick' })
  }

  receive(message: Message, ctx: ActorContext): void {
    const paxos = this.paxos!
    if (message.type === 'tick') {
      paxos.tick()
      ctx.setTimer(this.args.tickMs, { type: 'tick' })
    } else if (message.type === 'client.propose') {
      this.propose(message as Extract<ClientMessage, { type: 'client.propose' }>, ctx)
    } else if (isPaxosMessage(message)) {
      paxos.step(ctx.sender, message as PaxosMessage<CounterCommand, CounterState>)
    }
    for (let round = 0; round < MAX_READY_ROUNDS && paxos.hasReady(); round++) this.handle(paxos.ready(), ctx)
  }

  private propose(request: { readonly id: string }, ctx: ActorContext): void {
    if (this.proposed.has(request.id)) return
    const result = this.paxos!.propose({ id: request.id })
    if (result === 'queued') {
      this.proposed.add(request.id)
      this.waiting.set(request.id, ctx.sender)
      return
    }
    const hint = this.paxos!.leaderHint
    ctx.send(ctx.sender, { type: 'client.rejected', id: request.id, reason: result, ...(hint === undefined ? {} : { leaderHint: hint }) })
  }

  private handle(ready: Ready<CounterCommand, CounterState>, ctx: ActorContext): void {
    if (ready.snapshotToInstall !== undefined) {
      const { index, snapshot } = ready.snapshotToInstall
      ctx.storage.set(SNAPSHOT_KEY, codec.encodeValue(ready.snapshotToInstall))
      this.state = snapshot
      this.appliedIndex = index
      this.args.observer.onInstall(ctx.self, index, snapshot)
    }
    if (ready.persist !== undefined) ctx.storage.set(ACCEPTOR_KEY, codec.encodeValue(ready.persist))
    for (const { to, message } of ready.messages) ctx.send(to, message)
    for (const slot of ready.committed) {
      if (slot.index !== this.appliedIndex + 1) throw new Error(`${ctx.self} got slot ${slot.index} after ${this.appliedIndex}`)
      this.state = slot.commands.reduce(applyCommand, this.state)
      this.appliedIndex = slot.index
      this.args.observer.onApply(ctx.self, slot.index, slot.commands, this.state)
      for (const command of slot.commands) this.acknowledge(command, slot.index, ctx)
    }
    const paxos = this.paxos!
    if (paxos.snapshotDue) {
      const snapshot: Snapshot<CounterState> = { index: this.appliedIndex, snapshot: this.state }
      // Stored before the core drops the slots it covers (and before the next acceptor state says so).
      ctx.storage.set(SNAPSHOT_KEY, codec.encodeValue(snapshot))
      paxos.advanceSnapshot(snapshot.index, snapshot.snapshot)
    }
  }

  private acknowledge(command: CounterCommand, index: number, ctx: ActorContext): void {
    const client = this.waiting.get(command.id)
    if (client === undefined) return
    this.waiting.delete(command.id)
    ctx.send(client, { type: 'client.committed', id: command.id, index })
  }
}

export function applyCommand(state: CounterState, command: CounterCommand): CounterState {
  let digest = state.digest ^ 0x9e37_79b9
  for (let index = 0; index < command.id.length; index++) digest = Math.imul(digest ^ command.id.charCodeAt(index), 0x0100_0193)
  return { count: state.count + 1, digest: digest >>> 0 }
}
