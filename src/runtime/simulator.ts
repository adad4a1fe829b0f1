/**
 * The deterministic simulator: runs the same actor classes as the worker
 * host, all in one thread, on a virtual clock, with one seed deciding every
 * choice (delays, drops, duplicates, tie order, crashes, actors' random()).
 * Same seed, same run, same trace; a failing seed is replayed exactly.
 *
 * Nothing here reads a real clock or Math.random, and nothing waits: virtual
 * time jumps straight to the next event, so a test can run hundreds of seeds
 * of a Paxos cluster through minutes of virtual time in seconds.
 *
 * The network model, sends to self included: a message is encoded when
 * sent (so unserializable messages fail at the send that made them, and
 * receivers never share objects with senders), may be dropped or
 * duplicated, and each copy arrives after its own random delay, which
 * reorders. Timer messages stay local and are not encoded, as in the worker
 * host. It crosses only if sender and
 * receiver are connected both when it is sent and when it arrives, and only
 * to the incarnation of the receiver that was current when it was sent: a
 * crash loses what was in flight to the crashed actor.
 *
 * Crashes come between turns (crash, random faults, a throw) or inside one,
 * right after a send (crashAfterSend): a worker may die between any two
 * statements, and what it sent has left. What outlives an incarnation is
 * what outlives a worker: its stable storage and its read view (spawn's
 * readView option; simulated-read-view.ts).
 */
import { ShardKVError, assert } from '../errors.js'
import type { Actor, ActorContext, Message, TimerId } from './actor.js'
import { codec } from './codec.js'
import { Prng } from './prng.js'
import { SimulatedReadView, type SimulatedReadViewOptions, type SimulatedViewReader } from './simulated-read-view.js'
import { DEFAULT_STABLE_STORAGE_BYTES, MemoryStableStorage, validateStableStorageCapacity } from './stable-storage.js'

export interface NetworkFaultOptions {
  /** Probability in [0, 1] that a sent message is lost. Default 0. */
  dropRate: number
  /** Probability in [0, 1] that a sent message is delivered twice (each copy with its own delay). Default 0. */
  duplicateRate: number
  /** Whole milliseconds; each delivery is delayed uniformly within [minDelayMs, maxDelayMs]. Default 1. */
  minDelayMs: number
  /** Whole milliseconds, at most MAX_DELAY_MS. Default 10: delays overlap, so messages reorder. */
  maxDelayMs: number
}

/** Crashes at random moments and restarts after a random downtime: "random crashes and restarts". */
export interface RandomFaultOptions {
  /** Expected crashes per virtual second across all eligible actors (a Poisson process); > 0. */
  crashesPerSecond: number
  /** Whole milliseconds a crashed actor stays down, uniform within [min, max]. Defaults 50 and 500. */
  minRestartDelayMs?: number
  maxRestartDelayMs?: number
  /** Actors that may crash. Default: every actor, including ones spawned later. */
  actorIds?: readonly string[]
  /** A crash is skipped while this many eligible actors are down (keep a Paxos majority up). Default: no limit. */
  maxDownActors?: number
}

export interface SimulatorOptions extends Partial<NetworkFaultOptions> {
  /** Safe integer; the only source of randomness in a run. */
  seed: number
  /** Default true: every message is encoded and decoded, as between workers. */
  roundTripThroughCodec?: boolean
  /** Events one runFor/runUntil may process before it throws (a livelock guard). Default 1,000,000. */
  maxEvents?: number
  /** Events (messages in flight, timers) that may be pending at once before a send throws. Default 1,000,000. */
  maxPendingEvents?: number
  /** Trace lines kept (the most recent); traceHash still covers every line. Default 10,000. */
  traceLimit?: number
  /** Capacity of each actor's MemoryStableStorage. Default DEFAULT_STABLE_STORAGE_BYTES. */
  storageCapacityBytes?: number
  /** Random crashes and restarts from time 0; see setRandomFaults. */
  randomFaults?: RandomFaultOptions
}

export interface SpawnOptions {
  /** Gives the actor a read view (ActorContext.readView) in virtual time, which outlives its crashes (simulated-read-view.ts); read it with readView(id). Default none. */
  readonly readView?: SimulatedReadViewOptions
}

export interface SimulatorStats {
  readonly delivered: number
  readonly dropped: number
  readonly duplicated: number
  readonly crashes: number
  readonly restarts: number
  /** Receives and starts that threw (each also counted in crashes). */
  readonly actorErrors: number
}

export interface ActorError {
  readonly timeMs: number
  readonly actorId: string
  readonly error: unknown
}

export interface SimulatedEndpoint {
  /** Generic like ActorContext.send, so a message literal with fields beyond `type` type-checks. */
  send<T extends Message>(to: string, message: T): void
}

/** Longest network delay: keeps a typo (seconds for ms) from parking messages past any test horizon. */
export const MAX_DELAY_MS = 60_000
/** Errors kept in `actorErrors`; later ones are only counted. */
const MAX_RECORDED_ERRORS = 100

const DEFAULT_MAX_EVENTS = 1_000_000
const DEFAULT_MAX_PENDING_EVENTS = 1_000_000
const DEFAULT_TRACE_LIMIT = 10_000
const DEFAULT_MIN_RESTART_DELAY_MS = 50
const DEFAULT_MAX_RESTART_DELAY_MS = 500
const MS_PER_SECOND = 1000

type SimEvent =
  | {
      readonly kind: 'message'
      readonly from: string
      readonly to: string
      readonly type: string
      /** Encoded bytes, or the message itself when roundTripThroughCodec is off. */
      readonly body: Uint8Array | Message
      /** The receiver's epoch at send time: a crash in between makes this message undeliverable. */
      readonly targetEpoch: number
    }
  | { readonly kind: 'timer'; readonly actorId: string; readonly epoch: number; readonly timerId: TimerId; readonly message: Message }
  | { readonly kind: 'fault'; readonly generation: number }
  | { readonly kind: 'restart'; readonly actorId: string; readonly epoch: number }

interface ScheduledEvent {
  readonly timeMs: number
  /** Drawn from the PRNG: events due at the same time run in a seeded random order. */
  readonly tiebreak: number
  readonly sequence: number
  readonly event: SimEvent
}

/** ActorContext with `sender` writable by the simulator (actors see it read-only). */
interface SimulatedContext extends ActorContext {
  sender: string
}

interface ActorSlot {
  readonly id: string
  readonly create: () => Actor
  /** Kept across crashes: this is what "stable" means. */
  readonly storage: MemoryStableStorage
  /** Kept across crashes too, as the worker host's view buffer outlives the worker; only a restarted actor resets it. */
  readonly view: SimulatedReadView | undefined
  /** The running incarnation; both undefined while the actor is down. */
  instance: Actor | undefined
  context: SimulatedContext | undefined
  /** Bumped by every crash; events stamped with an older epoch are stale. */
  epoch: number
  /** Timers of the current incarnation that are neither fired nor cancelled. */
  readonly timers: Set<TimerId>
  /** An armed crash point (crashAfterSend): the current incarnation dies right after a send this accepts. */
  crashAfterSend: SendFilter | undefined
}

/** Picks sends by destination and message. */
export type SendFilter = (to: string, message: Message) => boolean

interface ActiveRandomFaults {
  readonly crashesPerSecond: number
  readonly minRestartDelayMs: number
  readonly maxRestartDelayMs: number
  readonly actorIds: ReadonlySet<string> | undefined
  readonly maxDownActors: number
}

export class Simulator {
  private readonly queue = new EventQueue()
  private readonly slots = new Map<string, ActorSlot>()
  private readonly endpoints = new Map<string, (message: Message, from: string) => void>()
  /** Separate streams, so that e.g. an actor drawing more random numbers does not change network decisions. */
  private readonly networkPrng: Prng
  private readonly orderPrng: Prng
  private readonly faultPrng: Prng
  private readonly actorPrng: Prng
  private readonly roundTrip: boolean
  private readonly maxEvents: number
  private readonly maxPendingEvents: number
  private readonly storageCapacityBytes: number
  private readonly recorder: TraceRecorder
  private network: NetworkFaultOptions
  private partitionOf = new Map<string, number>()
  private randomFaults: ActiveRandomFaults | undefined
  private faultGeneration = 0
  private nowMs = 0
  private nextSequence = 0
  private nextTimerId = 1
  private readonly counters = { delivered: 0, dropped: 0, duplicated: 0, crashes: 0, restarts: 0, actorErrors: 0 }
  private readonly errors: ActorError[] = []
  /** A programmer error raised inside an actor's turn (unencodable message, queue bound) that must not pass as a crash. */
  private fatal: unknown = undefined

  constructor(options: SimulatorOptions) {
    requireSafeInteger('seed', options.seed)
    const root = new Prng(options.seed)
    this.networkPrng = root.fork()
    this.orderPrng = root.fork()
    this.faultPrng = root.fork()
    this.actorPrng = root.fork()
    this.roundTrip = options.roundTripThroughCodec ?? true
    this.maxEvents = positiveInteger('maxEvents', options.maxEvents ?? DEFAULT_MAX_EVENTS)
    this.maxPendingEvents = positiveInteger('maxPendingEvents', options.maxPendingEvents ?? DEFAULT_MAX_PENDING_EVENTS)
    this.storageCapacityBytes = options.storageCapacityBytes ?? DEFAULT_STABLE_STORAGE_BYTES
    validateStableStorageCapacity(this.storageCapacityBytes, 'storageCapacityBytes')
    this.recorder = new TraceRecorder(positiveInteger('traceLimit', options.traceLimit ?? DEFAULT_TRACE_LIMIT))
    this.network = validateNetwork({ dropRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 10, ...definedOnly(options) })
    if (options.randomFaults !== undefined) this.setRandomFaults(options.randomFaults)
  }

  /** Most recent trace lines (up to traceLimit), one per event: time, kind, from->to, message type. */
  get trace(): string[] {
    return this.recorder.lines()
  }

  /** Hash of every trace line since the start: compares whole runs even past traceLimit. */
  get traceHash(): string {
    return this.recorder.hash()
  }

  get stats(): SimulatorStats {
    return { ...this.counters }
  }

  /** The first errors thrown by actors (bounded); assert on it to catch assertion failures that became crashes. */
  get actorErrors(): readonly ActorError[] {
    return this.errors
  }

  now(): number {
    return this.nowMs
  }

  isRunning(id: string): boolean {
    return this.slotOf(id).instance !== undefined
  }

  spawn(id: string, create: () => Actor, options: SpawnOptions = {}): void {
    this.claimId(id)
    const view = options.readView === undefined ? undefined : new SimulatedReadView(options.readView, () => this.nowMs)
    const slot: ActorSlot = {
      id,
      create,
      storage: new MemoryStableStorage(this.storageCapacityBytes),
      view,
      instance: undefined,
      context: undefined,
      epoch: 0,
      timers: new Set(),
      crashAfterSend: undefined,
    }
    this.slots.set(id, slot)
    this.recorder.record(this.nowMs, `spawn ${id}`)
    this.startIncarnation(slot)
  }

  /** The read view of actor `id`, read at virtual now as a client thread would; undefined when its spawn asked for none. */
  readView(id: string): SimulatedViewReader | undefined {
    return this.slotOf(id).view
  }

  /** External endpoints (test clients): ids whose messages go to a handler instead of an actor. */
  endpoint(id: string, onMessage: (message: Message, from: string) => void): SimulatedEndpoint {
    this.claimId(id)
    this.endpoints.set(id, onMessage)
    return { send: (to, message) => this.transmit(id, to, message) }
  }

  /** Drops the instance, its timers and its undelivered inbound messages; its stable storage stays. No-op if down. */
  crash(id: string): void {
    const slot = this.slotOf(id)
    if (slot.instance !== undefined) this.crashSlot(slot, 'manual')
  }

  /**
   * Arms a crash of `id` right after its next send that `filter` accepts
   * (default: any): the message goes out, and the rest of the turn, its
   * afterBatch included, never happens, as when a worker is killed between
   * two statements. What the actor wrote before it (stable storage, read
   * view) stays as it was. The send throws to end the turn; an actor that
   * caught that and went on could still write its storage and view, but
   * nothing it sends or schedules goes out. One-shot; a crash or restart
   * before it fires disarms it.
   */
  crashAfterSend(id: string, filter: SendFilter = () => true): void {
    const slot = this.slotOf(id)
    if (slot.instance !== undefined) slot.crashAfterSend = filter
  }

  /** Starts a new instance from `create` with the same stable storage; a running actor is crashed first. */
  restart(id: string): void {
    const slot = this.slotOf(id)
    if (slot.instance !== undefined) this.crashSlot(slot, 'manual')
    this.counters.restarts++
    this.recorder.record(this.nowMs, `restart ${id}`)
    this.startIncarnation(slot)
  }

  /** Ids in the same set reach each other; ids in different sets do not; ids in no set reach everyone. */
  partition(sets: readonly (readonly string[])[]): void {
    const partitionOf = new Map<string, number>()
    sets.forEach((set, index) => {
      for (const id of set) {
        if (partitionOf.has(id)) throw new ShardKVError('ERR_INVALID_OPTION', `partition: "${id}" appears in two sets`)
        partitionOf.set(id, index)
      }
    })
    this.partitionOf = partitionOf
    this.recorder.record(this.nowMs, `partition ${sets.map((set) => `[${set.join(',')}]`).join(' ')}`)
  }

  heal(): void {
    this.partitionOf = new Map()
    this.recorder.record(this.nowMs, 'heal')
  }

  setFaults(options: Partial<NetworkFaultOptions>): void {
    this.network = validateNetwork({ ...this.network, ...definedOnly(options) })
  }

  /**
   * Starts (or replaces, or with undefined stops) random crashes and restarts.
   * An actor that throws is also restarted after a random downtime while
   * this is on. Stopping it stops new crashes; restarts already scheduled
   * still happen. While on, the event queue is never empty: drive the
   * simulation with runFor/runUntil, not `while (step())`.
   */
  setRandomFaults(options: RandomFaultOptions | undefined): void {
    // Validate before touching the schedule: a rejected call leaves the old faults running.
    const faults = options === undefined ? undefined : validateRandomFaults(options)
    this.faultGeneration++
    this.randomFaults = faults
    if (faults !== undefined) this.scheduleFaultTick()
  }

  /** Processes the next event in virtual-time order; false when nothing is pending. */
  step(): boolean {
    const next = this.peekLive()
    if (next === undefined) return false
    this.queue.pop()
    this.nowMs = next.timeMs
    this.process(next.event)
    return true
  }

  /** Runs every event due within the next `virtualMs`, then sets the clock to the end of that span. */
  runFor(virtualMs: number): void {
    const deadlineMs = this.deadline('runFor', virtualMs)
    this.runEvents(deadlineMs, () => false)
    this.nowMs = deadlineMs
  }

  /** Runs until `predicate` holds (true) or `maxVirtualMs` pass (false); checked before and after each event. */
  runUntil(predicate: () => boolean, maxVirtualMs: number): boolean {
    const deadlineMs = this.deadline('runUntil', maxVirtualMs)
    if (predicate()) return true
    if (this.runEvents(deadlineMs, predicate)) return true
    this.nowMs = deadlineMs
    return false
  }

  private runEvents(deadlineMs: number, done: () => boolean): boolean {
    for (let events = 0; ; events++) {
      const next = this.peekLive()
      if (next === undefined || next.timeMs > deadlineMs) return false
      if (events >= this.maxEvents) {
        throw new ShardKVError(
          'ERR_TIMEOUT',
          `simulator: ${this.maxEvents} events (maxEvents) ran without reaching virtual time ${deadlineMs} ms ` +
            `(now ${this.nowMs} ms); an actor is probably looping with zero delay. Raise maxEvents or fix the loop.`,
        )
      }
      this.step()
      if (done()) return true
    }
  }

  private deadline(method: string, virtualMs: number): number {
    if (!(Number.isFinite(virtualMs) && virtualMs >= 0)) {
      throw new ShardKVError('ERR_INVALID_OPTION', `${method}: virtual milliseconds must be finite and >= 0, got ${virtualMs}`)
    }
    return this.nowMs + virtualMs
  }

  private process(event: SimEvent): void {
    switch (event.kind) {
      case 'message':
        return this.deliver(event)
      case 'timer':
        return this.fireTimer(event.actorId, event.timerId, event.message)
      case 'fault':
        return this.onFaultTick()
      case 'restart':
        return this.restart(event.actorId)
      default:
        return assertNever(event)
    }
  }

  /** Skips (without advancing the clock) cancelled timers and superseded fault schedule entries. */
  private peekLive(): ScheduledEvent | undefined {
    for (let next = this.queue.peek(); next !== undefined; next = this.queue.peek()) {
      if (this.isLive(next.event)) return next
      this.queue.pop()
    }
    return undefined
  }

  private isLive(event: SimEvent): boolean {
    switch (event.kind) {
      case 'message':
        return true
      case 'timer': {
        const slot = this.slots.get(event.actorId)
        return slot !== undefined && slot.epoch === event.epoch && slot.timers.has(event.timerId)
      }
      case 'fault':
        return event.generation === this.faultGeneration && this.randomFaults !== undefined
      case 'restart': {
        const slot = this.slots.get(event.actorId)
        return slot !== undefined && slot.epoch === event.epoch && slot.instance === undefined
      }
      default:
        return assertNever(event)
    }
  }

  // ---- network ------------------------------------------------------------

  private transmit(from: string, to: string, message: Message): void {
    const body = this.encode(from, to, message)
    const route = `${from}->${to} ${message.type}`
    if (!this.connected(from, to)) return this.drop(route, 'partition')
    if (this.networkPrng.chance(this.network.dropRate)) return this.drop(route, 'random')
    const copies = this.networkPrng.chance(this.network.duplicateRate) ? 2 : 1
    if (copies === 2) {
      this.counters.duplicated++
      this.recorder.record(this.nowMs, `duplicate ${route}`)
    }
    const targetEpoch = this.slots.get(to)?.epoch ?? 0
    for (let copy = 0; copy < copies; copy++) {
      const delayMs = this.networkPrng.intBetween(this.network.minDelayMs, this.network.maxDelayMs)
      this.schedule(delayMs, { kind: 'message', from, to, type: message.type, body, targetEpoch })
    }
  }

  private encode(from: string, to: string, message: Message): Uint8Array | Message {
    if (!this.roundTrip) return message
    try {
      return codec.encode(message)
    } catch (error) {
      throw new ShardKVError(
        'ERR_CODEC',
        `simulator: "${from}" sent a message to "${to}" that the codec cannot encode (type ${String(message?.type)}): ${describe(error)}`,
      )
    }
  }

  private deliver(event: Extract<SimEvent, { kind: 'message' }>): void {
    const route = `${event.from}->${event.to} ${event.type}`
    const handler = this.endpoints.get(event.to)
    const slot = this.slots.get(event.to)
    if (handler === undefined && slot === undefined) return this.drop(route, 'unknown receiver')
    if (slot !== undefined && slot.epoch !== event.targetEpoch) return this.drop(route, 'receiver crashed')
    if (slot !== undefined && slot.instance === undefined) return this.drop(route, 'receiver down')
    if (!this.connected(event.from, event.to)) return this.drop(route, 'partition')
    const message = event.body instanceof Uint8Array ? codec.decode(event.body) : event.body
    this.counters.delivered++
    this.recorder.record(this.nowMs, `deliver ${route}`)
    if (slot === undefined) return handler!(message, event.from)
    this.invoke(slot, (actor, context) => {
      context.sender = event.from
      actor.receive(message, context)
    })
  }

  private drop(route: string, reason: string): void {
    this.counters.dropped++
    this.recorder.record(this.nowMs, `drop ${route} (${reason})`)
  }

  private connected(from: string, to: string): boolean {
    const fromSet = this.partitionOf.get(from)
    const toSet = this.partitionOf.get(to)
    return fromSet === undefined || toSet === undefined || fromSet === toSet
  }

  private schedule(delayMs: number, event: SimEvent): void {
    if (this.queue.size >= this.maxPendingEvents) {
      throw new ShardKVError(
        'ERR_OVERLOADED',
        `simulator: ${this.maxPendingEvents} events pending (maxPendingEvents); an actor is probably sending or setting timers without bound`,
      )
    }
    const tiebreak = this.orderPrng.nextUint32()
    this.queue.push({ timeMs: this.nowMs + delayMs, tiebreak, sequence: this.nextSequence++, event })
  }

  // ---- actors -------------------------------------------------------------

  private startIncarnation(slot: ActorSlot): void {
    const instance = slot.create()
    slot.instance = instance
    slot.context = this.createContext(slot, slot.epoch, this.actorPrng.fork())
    this.invoke(slot, (actor, context) => actor.start?.(context))
  }

  private createContext(slot: ActorSlot, epoch: number, prng: Prng): SimulatedContext {
    const current = (): boolean => slot.epoch === epoch && slot.instance !== undefined
    return {
      self: slot.id,
      sender: slot.id,
      storage: slot.storage,
      ...(slot.view === undefined ? {} : { readView: slot.view.table }),
      send: (to, message) => {
        assert(current(), `crashed incarnation of "${slot.id}" must not send`)
        this.guardFatal(() => this.transmit(slot.id, to, message))
        if (slot.crashAfterSend?.(to, message) === true) {
          this.crashSlot(slot, `right after sending ${message.type} to ${to}`)
          throw new Error(`"${slot.id}" crashed right after a send (crashAfterSend)`)
        }
      },
      setTimer: (delayMs, message) => {
        assert(current(), `crashed incarnation of "${slot.id}" must not set timers`)
        assert(Number.isFinite(delayMs) && delayMs >= 0, `timer delay must be finite and >= 0, got ${delayMs}`)
        const timerId = this.nextTimerId++
        this.guardFatal(() => this.schedule(delayMs, { kind: 'timer', actorId: slot.id, epoch, timerId, message }))
        slot.timers.add(timerId)
        return timerId
      },
      cancelTimer: (timerId) => {
        if (current()) slot.timers.delete(timerId)
      },
      now: () => this.nowMs,
      random: () => prng.next(),
    }
  }

  private fireTimer(actorId: string, timerId: TimerId, message: Message): void {
    const slot = this.slotOf(actorId)
    slot.timers.delete(timerId)
    this.recorder.record(this.nowMs, `timer ${actorId} ${message.type}`)
    this.invoke(slot, (actor, context) => {
      context.sender = slot.id
      actor.receive(message, context)
    })
  }

  /**
   * Runs one turn of an actor. A throw crashes the actor (as a thrown error
   * kills its worker) unless it is a fatal simulator error, which is a bug
   * in the test or the actor and must stop the run loudly.
   */
  private invoke(slot: ActorSlot, turn: (actor: Actor, context: SimulatedContext) => void): void {
    const { instance, context, epoch } = slot
    assert(instance !== undefined && context !== undefined, `actor "${slot.id}" is running`)
    try {
      turn(instance, context)
      // Every turn is a batch of one: messages and timers are delivered one at a time here. None for an incarnation a
      // crash point ended (crashAfterSend), even if the actor caught what the send threw.
      if (slot.epoch === epoch) instance.afterBatch?.(context)
    } catch (error) {
      // An incarnation already crashed (a crash point, crashAfterSend) threw only because its turn was cut short.
      if (this.fatal === undefined && slot.epoch === epoch) this.crashAfterError(slot, error)
    }
    const fatal = this.fatal
    this.fatal = undefined
    if (fatal !== undefined) throw fatal
  }

  private guardFatal(action: () => void): void {
    try {
      action()
    } catch (error) {
      this.fatal = error
      throw error
    }
  }

  private crashAfterError(slot: ActorSlot, error: unknown): void {
    this.counters.actorErrors++
    if (this.errors.length < MAX_RECORDED_ERRORS) this.errors.push({ timeMs: this.nowMs, actorId: slot.id, error })
    this.crashSlot(slot, `threw ${describe(error)}`)
    if (this.randomFaults !== undefined) this.scheduleRestart(slot, this.randomFaults)
  }

  private crashSlot(slot: ActorSlot, reason: string): void {
    slot.instance = undefined
    slot.context = undefined
    slot.epoch++
    slot.timers.clear()
    slot.crashAfterSend = undefined
    this.counters.crashes++
    this.recorder.record(this.nowMs, `crash ${slot.id} (${reason})`)
  }

  // ---- random faults --------------------------------------------------------

  private scheduleFaultTick(): void {
    const faults = this.randomFaults
    assert(faults !== undefined, 'random faults are on')
    // Exponential gaps make crashes a Poisson process: memoryless, so no
    // actor can learn a safe window from the last crash.
    // Whole milliseconds (at least 1) keep trace times readable and rule out a zero-gap loop.
    const gapMs = Math.max(1, Math.round((-Math.log(1 - this.faultPrng.next()) / faults.crashesPerSecond) * MS_PER_SECOND))
    this.schedule(gapMs, { kind: 'fault', generation: this.faultGeneration })
  }

  private onFaultTick(): void {
    const faults = this.randomFaults
    assert(faults !== undefined, 'a live fault tick implies random faults are on')
    const eligible = [...this.slots.values()].filter((slot) => faults.actorIds === undefined || faults.actorIds.has(slot.id))
    const running = eligible.filter((slot) => slot.instance !== undefined)
    if (running.length > 0 && eligible.length - running.length < faults.maxDownActors) {
      const victim = this.faultPrng.pick(running)
      this.crashSlot(victim, 'random fault')
      this.scheduleRestart(victim, faults)
    }
    this.scheduleFaultTick()
  }

  private scheduleRestart(slot: ActorSlot, faults: ActiveRandomFaults): void {
    const downtimeMs = this.faultPrng.intBetween(faults.minRestartDelayMs, faults.maxRestartDelayMs)
    this.schedule(downtimeMs, { kind: 'restart', actorId: slot.id, epoch: slot.epoch })
  }

  // ---- ids ------------------------------------------------------------------

  private claimId(id: string): void {
    if (typeof id !== 'string' || id.length === 0) throw new ShardKVError('ERR_INVALID_OPTION', 'simulator: ids must be non-empty strings')
    if (this.slots.has(id) || this.endpoints.has(id)) throw new ShardKVError('ERR_INVALID_OPTION', `simulator: id "${id}" is already in use`)
  }

  private slotOf(id: string): ActorSlot {
    const slot = this.slots.get(id)
    if (slot === undefined) throw new ShardKVError('ERR_UNKNOWN_ACTOR', `simulator: no actor "${id}"`)
    return slot
  }
}

/**
 * Keeps the most recent trace lines and a running hash of all of them, so a
 * long run stays bounded in memory and still compares exactly.
 */
class TraceRecorder {
  private buffer: string[] = []
  private hashHigh = 0x811c_9dc5
  private hashLow = 0x0100_0193

  constructor(private readonly limit: number) {}

  record(timeMs: number, text: string): void {
    const line = `${timeMs} ${text}`
    // Two 32-bit multiplicative lanes: 64 bits, so distinct runs do not collide by chance.
    for (let index = 0; index < line.length; index++) {
      const code = line.charCodeAt(index)
      this.hashHigh = Math.imul(this.hashHigh ^ code, 0x9e37_79b1)
      this.hashLow = Math.imul(this.hashLow ^ code, 0x85eb_ca77)
    }
    this.hashHigh = Math.imul(this.hashHigh ^ 0x0a, 0x9e37_79b1)
    this.hashLow = Math.imul(this.hashLow ^ (this.hashHigh >>> 15), 0x85eb_ca77)
    this.buffer.push(line)
    // Trim in halves so recording stays amortized O(1).
    if (this.buffer.length >= 2 * this.limit) this.buffer = this.buffer.slice(-this.limit)
  }

  lines(): string[] {
    return this.buffer.slice(-this.limit)
  }

  hash(): string {
    return (this.hashHigh >>> 0).toString(16).padStart(8, '0') + (this.hashLow >>> 0).toString(16).padStart(8, '0')
  }
}

/** Binary min-heap ordered by (time, seeded tiebreak, insertion order). */
class EventQueue {
  private readonly heap: ScheduledEvent[] = []

  get size(): number {
    return this.heap.length
  }

  peek(): ScheduledEvent | undefined {
    return this.heap[0]
  }

  push(entry: ScheduledEvent): void {
    const heap = this.heap
    heap.push(entry)
    let index = heap.length - 1
    while (index > 0) {
      const parent = (index - 1) >> 1
      if (!before(heap[index]!, heap[parent]!)) return
      ;[heap[parent], heap[index]] = [heap[index]!, heap[parent]!]
      index = parent
    }
  }

  pop(): ScheduledEvent | undefined {
    const heap = this.heap
    const top = heap[0]
    const last = heap.pop()
    if (heap.length === 0 || last === undefined) return top
    heap[0] = last
    for (let index = 0; ; ) {
      const left = 2 * index + 1
      const right = left + 1
      let first = index
      if (left < heap.length && before(heap[left]!, heap[first]!)) first = left
      if (right < heap.length && before(heap[right]!, heap[first]!)) first = right
      if (first === index) return top
      ;[heap[first], heap[index]] = [heap[index]!, heap[first]!]
      index = first
    }
  }
}

function before(a: ScheduledEvent, b: ScheduledEvent): boolean {
  if (a.timeMs !== b.timeMs) return a.timeMs < b.timeMs
  if (a.tiebreak !== b.tiebreak) return a.tiebreak < b.tiebreak
  return a.sequence < b.sequence
}

// ---- option validation ------------------------------------------------------

function validateNetwork(network: NetworkFaultOptions): NetworkFaultOptions {
  requireProbability('dropRate', network.dropRate)
  requireProbability('duplicateRate', network.duplicateRate)
  requireDelay('minDelayMs', network.minDelayMs)
  requireDelay('maxDelayMs', network.maxDelayMs)
  if (network.minDelayMs > network.maxDelayMs) {
    throw new ShardKVError('ERR_INVALID_OPTION', `minDelayMs (${network.minDelayMs}) must not exceed maxDelayMs (${network.maxDelayMs})`)
  }
  return { dropRate: network.dropRate, duplicateRate: network.duplicateRate, minDelayMs: network.minDelayMs, maxDelayMs: network.maxDelayMs }
}

function validateRandomFaults(options: RandomFaultOptions): ActiveRandomFaults {
  const { crashesPerSecond } = options
  if (!(Number.isFinite(crashesPerSecond) && crashesPerSecond > 0)) {
    throw new ShardKVError('ERR_INVALID_OPTION', `randomFaults.crashesPerSecond must be finite and > 0, got ${crashesPerSecond}`)
  }
  const minRestartDelayMs = options.minRestartDelayMs ?? DEFAULT_MIN_RESTART_DELAY_MS
  const maxRestartDelayMs = options.maxRestartDelayMs ?? Math.max(DEFAULT_MAX_RESTART_DELAY_MS, minRestartDelayMs)
  requireDelay('randomFaults.minRestartDelayMs', minRestartDelayMs)
  requireDelay('randomFaults.maxRestartDelayMs', maxRestartDelayMs)
  if (minRestartDelayMs > maxRestartDelayMs) {
    throw new ShardKVError('ERR_INVALID_OPTION', 'randomFaults.minRestartDelayMs must not exceed maxRestartDelayMs')
  }
  const maxDownActors = options.maxDownActors ?? Number.POSITIVE_INFINITY
  if (!(maxDownActors === Number.POSITIVE_INFINITY || (Number.isInteger(maxDownActors) && maxDownActors >= 0))) {
    throw new ShardKVError('ERR_INVALID_OPTION', `randomFaults.maxDownActors must be an integer >= 0, got ${maxDownActors}`)
  }
  const actorIds = options.actorIds === undefined ? undefined : new Set(options.actorIds)
  return { crashesPerSecond, minRestartDelayMs, maxRestartDelayMs, actorIds, maxDownActors }
}

function requireProbability(name: string, value: number): void {
  if (!(value >= 0 && value <= 1)) throw new ShardKVError('ERR_INVALID_OPTION', `${name} must be a probability within 0..1, got ${value}`)
}

function requireDelay(name: string, value: number): void {
  if (!(Number.isInteger(value) && value >= 0 && value <= MAX_DELAY_MS)) {
    throw new ShardKVError('ERR_INVALID_OPTION', `${name} must be whole milliseconds within 0..${MAX_DELAY_MS}, got ${value}`)
  }
}

function requireSafeInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value)) throw new ShardKVError('ERR_INVALID_OPTION', `${name} must be a safe integer, got ${value}`)
}

function positiveInteger(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value > 0)) throw new ShardKVError('ERR_INVALID_OPTION', `${name} must be a positive integer, got ${value}`)
  return value
}

/** Only the network fields that are set, so `{ dropRate: undefined }` keeps the current value. */
function definedOnly(options: Partial<NetworkFaultOptions>): Partial<NetworkFaultOptions> {
  const result: Partial<NetworkFaultOptions> = {}
  if (options.dropRate !== undefined) result.dropRate = options.dropRate
  if (options.duplicateRate !== undefined) result.duplicateRate = options.duplicateRate
  if (options.minDelayMs !== undefined) result.minDelayMs = options.minDelayMs
  if (options.maxDelayMs !== undefined) result.maxDelayMs = options.maxDelayMs
  return result
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}

function assertNever(value: never): never {
  throw new Error(`unexpected simulator event ${JSON.stringify(value)}`)
}
