/**
 * A synchronous in-memory network of MultiPaxos cores for unit tests: no
 * actors, no simulator, no time. Messages wait in a queue until the test
 * delivers them (and go through the codec, as between workers); a test cuts
 * replicas off, drops or crafts messages to arrange exact situations.
 */
import { codec } from '../../../src/runtime/codec.js'
import { Prng } from '../../../src/runtime/prng.js'
import type { PaxosMessage } from '../../../src/paxos/messages.js'
import { MultiPaxos, type CommittedSlot } from '../../../src/paxos/multi-paxos.js'
import type { AcceptorState, MultiPaxosOptions, Snapshot } from '../../../src/paxos/options.js'

export type Command = string
export type AppSnapshot = { readonly applied: readonly Command[] }
export type Core = MultiPaxos<Command, AppSnapshot>
export type CoreOptions = Partial<MultiPaxosOptions<Command, AppSnapshot>>

export interface InFlight {
  readonly from: string
  readonly to: string
  readonly message: PaxosMessage<Command, AppSnapshot>
}

/** Small bounds so that a few dozen commands exercise windows, chunks and truncation. */
export const SMALL_CORE_OPTIONS: CoreOptions = {
  electionTimeoutMinTicks: 10,
  electionTimeoutMaxTicks: 20,
  heartbeatTicks: 2,
  maxBatch: 4,
  maxInflightSlots: 4,
  maxLogSlots: 16,
  snapshotEvery: 8,
  maxSlotsPerMessage: 4,
}

/** Longest a test lets messages ping-pong before it calls the network livelocked. */
const MAX_DELIVERY_ROUNDS = 1000

export class CoreNet {
  readonly cores = new Map<string, Core>()
  readonly queue: InFlight[] = []
  /** The last persisted acceptor state and stored snapshot of each replica: its stable storage. */
  readonly persisted = new Map<string, AcceptorState<Command>>()
  readonly snapshots = new Map<string, Snapshot<AppSnapshot>>()
  /** What each replica's application applied, in order (a snapshot install replaces it). */
  readonly applied = new Map<string, Command[]>()
  readonly lastIndex = new Map<string, number>()
  /** Replicas cut off: messages from or to them are dropped. */
  readonly isolated = new Set<string>()
  /** When set, the app snapshots whenever the core says one is due. */
  autoSnapshot = false

  constructor(
    readonly ids: readonly string[],
    private readonly overrides: CoreOptions = SMALL_CORE_OPTIONS,
    private readonly seed = 1,
  ) {
    for (const id of ids) this.start(id)
  }

  core(id: string): Core {
    return this.cores.get(id)!
  }

  /** Starts (or restarts, losing volatile state) a replica from its stable storage. */
  start(id: string): Core {
    const acceptor = this.persisted.get(id)
    const snapshot = this.snapshots.get(id)
    const random = new Prng(this.seed * 31 + this.ids.indexOf(id))
    const core: Core = new MultiPaxos<Command, AppSnapshot>({
      ...this.overrides,
      self: id,
      peers: this.ids,
      random: () => random.next(),
      ...(acceptor === undefined ? {} : { restored: { acceptor, ...(snapshot === undefined ? {} : { snapshot }) } }),
    })
    this.cores.set(id, core)
    this.applied.set(id, snapshot === undefined ? [] : [...snapshot.snapshot.applied])
    this.lastIndex.set(id, snapshot?.index ?? 0)
    return core
  }

  /** Does what a host does with ready(), in the documented order, until nothing is left. */
  collect(id: string): void {
    const core = this.core(id)
    for (let round = 0; round < MAX_DELIVERY_ROUNDS && core.hasReady(); round++) {
      const ready = core.ready()
      if (ready.snapshotToInstall !== undefined) {
        this.snapshots.set(id, ready.snapshotToInstall)
        this.applied.set(id, [...ready.snapshotToInstall.snapshot.applied])
        this.lastIndex.set(id, ready.snapshotToInstall.index)
      }
      if (ready.persist !== undefined) this.persisted.set(id, codec.decodeValue(codec.encodeValue(ready.persist)) as AcceptorState<Command>)
      for (const { to, message } of ready.messages) {
        this.queue.push({ from: id, to, message: codec.decode(codec.encode(message)) as PaxosMessage<Command, AppSnapshot> })
      }
      this.apply(id, ready.committed)
    }
  }

  private apply(id: string, committed: readonly CommittedSlot<Command>[]): void {
    const applied = this.applied.get(id)!
    for (const slot of committed) {
      if (slot.index !== this.lastIndex.get(id)! + 1) throw new Error(`${id} applied ${slot.index} after ${this.lastIndex.get(id)}`)
      applied.push(...slot.commands)
      this.lastIndex.set(id, slot.index)
    }
    const core = this.core(id)
    if (this.autoSnapshot && core.snapshotDue) {
      const snapshot: Snapshot<AppSnapshot> = { index: this.lastIndex.get(id)!, snapshot: { applied: [...applied] } }
      this.snapshots.set(id, snapshot)
      core.advanceSnapshot(snapshot.index, snapshot.snapshot)
    }
  }

  /** Delivers queued messages (and the messages they cause) until none are left; `keep` filters. */
  deliverAll(keep: (message: InFlight) => boolean = () => true): void {
    for (let round = 0; this.queue.length > 0; round++) {
      if (round >= MAX_DELIVERY_ROUNDS) throw new Error('messages still flowing after MAX_DELIVERY_ROUNDS rounds')
      const batch = this.queue.splice(0)
      for (const inFlight of batch) {
        if (this.isolated.has(inFlight.from) || this.isolated.has(inFlight.to) || !keep(inFlight)) continue
        this.core(inFlight.to).step(inFlight.from, inFlight.message)
        this.collect(inFlight.to)
      }
    }
  }

  /** Takes queued messages out without delivering them. */
  takeQueued(): InFlight[] {
    return this.queue.splice(0)
  }

  tick(id: string, ticks = 1): void {
    for (let tick = 0; tick < ticks; tick++) {
      this.core(id).tick()
      this.collect(id)
    }
  }

  /** Ticks every running replica `ticks` times, delivering after each round. */
  tickAll(ticks: number): void {
    for (let tick = 0; tick < ticks; tick++) {
      for (const id of this.ids) this.tick(id)
      this.deliverAll()
    }
  }

  /** Lets `id` time out and run its election to the end (only it is ticked). */
  elect(id: string): void {
    const maxTicks = (this.overrides.electionTimeoutMaxTicks ?? 20) + 1
    for (let tick = 0; tick < maxTicks && this.core(id).role === 'follower'; tick++) this.tick(id)
    this.deliverAll()
  }

  propose(id: string, ...commands: Command[]): void {
    for (const command of commands) {
      const result = this.core(id).propose(command)
      if (result !== 'queued') throw new Error(`propose ${command} at ${id}: ${result}`)
    }
    this.collect(id)
  }
}
