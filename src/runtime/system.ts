/**
 * The ActorSystem lives on the main thread. It owns the wiring (an address
 * per actor or endpoint, a lane per ordered pair, a doorbell per node), the
 * shared memory that outlives workers (control block, stable storage), the
 * supervisor tree, the watchdog and the fault layer. Actors and endpoints
 * can be added and removed at any time; existing workers are wired to a new
 * node over the comlink control plane, endpoints in other threads over their
 * BroadcastChannel, before the new node starts.
 */
import { EventEmitter } from 'node:events'
import { BroadcastChannel } from 'node:worker_threads'
import { nanoid } from 'nanoid'
import { ShardKVError } from '../errors.js'
import type { ActorModule } from './actor.js'
import { ActorCell, type CellEnvironment } from './actor-cell.js'
import { createControlBuffer } from './control-block.js'
import { Endpoint, type EndpointDescriptor, type EndpointMessage } from './endpoint.js'
import { createFaultTableBuffer, FaultTable, MAX_ADDRESSES, type UnreliableOptions } from './faults.js'
import { createLaneBuffer, DEFAULT_LANE_CAPACITY_BYTES } from './lane.js'
import { createDoorbellBuffer, type OutboxOptions } from './mailbox.js'
import { createStableStorageBuffer, DEFAULT_STABLE_STORAGE_BYTES } from './stable-storage.js'
import { Supervisor, type EscalateEvent, type RestartEvent, type SupervisorOptions } from './supervisor.js'
import { createReadViewBuffer } from './read-view.js'
import type { NodeWiring, PeerWiring, ReadViewWiring } from './transport.js'
import type { HostOptions, WorkerStats } from './worker-host.js'

export interface ActorSystemOptions {
  /** Bytes of ring per ordered pair of nodes; default 64 KiB. */
  readonly laneCapacityBytes?: number
  /** How long an idle receiver spins before it sleeps; default 50 µs. */
  readonly spinMicros?: number
  /** An idle worker wakes this often to show it is alive; default 500 ms. */
  readonly heartbeatMs?: number
  /** A worker whose heartbeat has not moved for this long is hung and restarted; default 3000 ms. */
  readonly hangTimeoutMs?: number
  /** Most live bytes an actor keeps in stable storage; default 4 MiB (the buffer is twice that, for crash-safe compaction). */
  readonly stableStorageBytes?: number
  readonly outbox?: OutboxOptions
  /** Options of the root supervisor. */
  readonly supervisor?: SupervisorOptions
}

export interface ActorSpec extends ActorModule {
  readonly id: string
  readonly kind: string
  /** Passed to the actor's constructor; structured-cloneable. */
  readonly args?: unknown
  /** Name of the supervisor to run under (see `supervisor()`); default the root. */
  readonly supervisor?: string
  /** Most live bytes this actor keeps in stable storage; default the system's `stableStorageBytes`. */
  readonly stableStorageBytes?: number
  /** Gives the actor a read view (ActorContext.readView) of `shards` shards in a buffer of `bytes` (default DEFAULT_READ_VIEW_BYTES), which endpoints read. */
  readonly readView?: { readonly shards: number; readonly bytes?: number }
}

export interface ActorInfo {
  readonly id: string
  readonly kind: string
  readonly address: number
  readonly supervisor: string
  readonly running: boolean
  readonly restarts: number
}

export interface SystemStats {
  readonly actors: readonly (WorkerStats & { readonly restarts: number })[]
  readonly restarts: number
  readonly escalations: number
  readonly endpoints: number
}

interface NodeRecord {
  readonly id: string
  readonly address: number
  readonly doorbell: SharedArrayBuffer
  readonly isEndpoint: boolean
  readonly readView?: ReadViewWiring | undefined
}

interface EndpointRecord extends NodeRecord {
  readonly channel: BroadcastChannel
}

const ROOT = 'root'

export class ActorSystem extends EventEmitter {
  readonly name = nanoid(10)
  readonly root: Supervisor
  private readonly options: Required<Omit<ActorSystemOptions, 'supervisor' | 'outbox'>> & { outbox: OutboxOptions }
  private readonly faultBuffer = createFaultTableBuffer()
  private readonly faultTable = new FaultTable(this.faultBuffer)
  private readonly nodes = new Map<string, NodeRecord>()
  private readonly cells = new Map<string, ActorCell>()
  private readonly endpoints = new Map<string, EndpointRecord>()
  private readonly supervisors = new Map<string, Supervisor>()
  private readonly lanes = new Map<string, SharedArrayBuffer>()
  private readonly freeAddresses: number[] = []
  private nextAddress = 1
  private escalations = 0
  private restarts = 0
  private closed = false
  private readonly watchdog: NodeJS.Timeout

  constructor(options: ActorSystemOptions = {}) {
    super()
    this.options = {
      laneCapacityBytes: options.laneCapacityBytes ?? DEFAULT_LANE_CAPACITY_BYTES,
      spinMicros: options.spinMicros ?? 50,
      heartbeatMs: options.heartbeatMs ?? 500,
      hangTimeoutMs: options.hangTimeoutMs ?? 3000,
      stableStorageBytes: options.stableStorageBytes ?? DEFAULT_STABLE_STORAGE_BYTES,
      outbox: options.outbox ?? {},
    }
    checkRange('heartbeatMs', this.options.heartbeatMs, 1, 10_000)
    checkRange('hangTimeoutMs', this.options.hangTimeoutMs, 2 * this.options.heartbeatMs, 600_000)
    createLaneBuffer(this.options.laneCapacityBytes)
    this.root = this.makeSupervisor(ROOT, options.supervisor ?? {})
    this.watchdog = setInterval(() => this.checkHeartbeats(), Math.max(10, this.options.hangTimeoutMs / 4))
    this.watchdog.unref()
  }

  /** Creates a supervisor under `parent` (default the root); actors name it in `ActorSpec.supervisor`. */
  async supervisor(name: string, options: SupervisorOptions = {}, parent = ROOT): Promise<Supervisor> {
    this.assertOpen()
    if (this.supervisors.has(name)) throw new ShardKVError('ERR_INVALID_OPTION', `a supervisor named "${name}" already exists`)
    const supervisor = this.makeSupervisor(name, options)
    await this.supervisorNamed(parent).add(supervisor)
    return supervisor
  }

  /** Stops a supervisor's children for good and removes it from its parent. */
  async removeSupervisor(name: string): Promise<void> {
    const supervisor = this.supervisorNamed(name)
    for (const id of supervisor.childIds()) {
      if (this.cells.has(id)) await this.stop(id)
      else await this.removeSupervisor(id)
    }
    await supervisor.supervisor?.remove(name)
    this.supervisors.delete(name)
  }

  /** Wires a new actor to every node, then starts it under its supervisor. */
  async spawn(spec: ActorSpec): Promise<void> {
    this.assertOpen()
    const supervisor = this.supervisorNamed(spec.supervisor ?? ROOT)
    const readView: ReadViewWiring | undefined =
      spec.readView === undefined ? undefined : { buffer: createReadViewBuffer(spec.readView.shards, spec.readView.bytes), shards: spec.readView.shards }
    const node = this.addNode(spec.id, false, readView)
    const cell = new ActorCell(spec, node.address, supervisor.id, this.cellEnvironment(spec.stableStorageBytes ?? this.options.stableStorageBytes, readView))
    this.cells.set(spec.id, cell)
    await this.wireToPeers(node)
    await supervisor.add(cell)
  }

  /** Orderly stop: the actor's `stop()` runs, then its worker ends; its wiring is removed. */
  async stop(id: string): Promise<void> {
    const cell = this.cells.get(id)
    if (cell === undefined) throw unknownActor(id)
    await this.supervisorNamed(cell.supervisorName).remove(id)
    this.cells.delete(id)
    await this.removeNode(id)
  }

  /** A descriptor another thread passes to `Endpoint.connect` (structured-cloneable, no transfer needed). */
  endpoint(id = `endpoint-${nanoid(8)}`): EndpointDescriptor {
    this.assertOpen()
    const node = this.addNode(id, true)
    const channelName = `shardkv:${this.name}:${id}`
    const channel = new BroadcastChannel(channelName)
    channel.unref()
    const record: EndpointRecord = { ...node, channel }
    this.endpoints.set(id, record)
    channel.onmessage = (event) => this.onEndpointMessage(record, (event as { data: EndpointMessage }).data)
    void this.wireToPeers(record)
    return { wiring: this.wiringOf(record), channel: channelName, claim: new SharedArrayBuffer(4), spinMicros: this.options.spinMicros, outbox: this.options.outbox }
  }

  /** An endpoint in this thread (e.g. a client on the main thread). */
  localEndpoint(id?: string): Endpoint {
    return Endpoint.connect(this.endpoint(id))
  }

  readonly faults = {
    /** Cuts traffic between actors in different sets; ids in no set (and endpoints) reach everyone. */
    partition: (sets: readonly (readonly string[])[]): void => {
      this.faultTable.partition(sets.map((set) => set.map((id) => this.actorAddress(id))))
    },
    heal: (): void => this.faultTable.heal(),
    unreliable: (options: UnreliableOptions): void => this.faultTable.unreliable(options),
    reliable: (): void => this.faultTable.reliable(),
    /** Terminates the actor's worker abruptly (mid-write if it happens); its supervisor restarts it. */
    kill: async (id: string): Promise<void> => this.cellNamed(id).kill(),
    /** The actor reads no message and fires no timer for `ms`. */
    pause: (id: string, ms: number): void => {
      checkRange('pause ms', ms, 0, 600_000)
      this.cellNamed(id).pause(ms)
    },
  }

  actors(): ActorInfo[] {
    return [...this.cells.values()].map((cell) => ({
      id: cell.id,
      kind: cell.spec.kind,
      address: cell.address,
      supervisor: cell.supervisorName,
      running: cell.running,
      restarts: this.supervisorNamed(cell.supervisorName).restartsOf(cell.id),
    }))
  }

  addressOf(id: string): number | undefined {
    return this.nodes.get(id)?.address
  }

  async stats(): Promise<SystemStats> {
    const actors = await Promise.all(
      [...this.cells.values()].filter((cell) => cell.running).map(async (cell) => ({
        ...(await cell.stats()),
        restarts: this.supervisorNamed(cell.supervisorName).restartsOf(cell.id),
      })),
    )
    return { actors, restarts: this.restarts, escalations: this.escalations, endpoints: this.endpoints.size }
  }

  /** Stops every actor (children before parents) and releases the event loop. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.watchdog)
    await this.root.terminate()
    for (const record of this.endpoints.values()) {
      record.channel.postMessage({ type: 'closed' } satisfies EndpointMessage)
      record.channel.close()
    }
    this.endpoints.clear()
  }

  private makeSupervisor(name: string, options: SupervisorOptions): Supervisor {
    const supervisor = new Supervisor(name, options, {
      restart: (event: RestartEvent) => {
        this.restarts++
        this.emit('restart', event)
      },
      escalate: (event: EscalateEvent) => {
        this.escalations++
        this.emit('escalate', event)
      },
    })
    this.supervisors.set(name, supervisor)
    return supervisor
  }

  private cellEnvironment(stableStorageBytes: number, readView: ReadViewWiring | undefined): CellEnvironment {
    const hostOptions: HostOptions = {
      spinMicros: this.options.spinMicros,
      heartbeatMs: this.options.heartbeatMs,
      yieldEveryMs: 5,
      // Small batches let both sides of a pipelined exchange work at once: the
      // peer's doorbell rings after each batch, not after the whole backlog.
      batchMessages: 64,
      outbox: this.options.outbox,
    }
    return {
      hostOptions,
      control: createControlBuffer(),
      storage: createStableStorageBuffer(stableStorageBytes),
      readView,
      wiring: (id) => this.wiringOf(this.nodes.get(id)!),
      failed: (cell, reason) => this.supervisorNamed(cell.supervisorName).failed(cell.id, reason),
    }
  }

  private addNode(id: string, isEndpoint: boolean, readView?: ReadViewWiring): NodeRecord {
    if (this.nodes.has(id)) throw new ShardKVError('ERR_INVALID_OPTION', `id "${id}" is already used by an actor or endpoint; ids are unique`)
    const node: NodeRecord = { id, address: this.allocateAddress(), doorbell: createDoorbellBuffer(), isEndpoint, readView }
    for (const peer of this.nodes.values()) {
      if (peer.isEndpoint && isEndpoint) continue
      this.lanes.set(laneKey(id, peer.id), createLaneBuffer(this.options.laneCapacityBytes))
      this.lanes.set(laneKey(peer.id, id), createLaneBuffer(this.options.laneCapacityBytes))
    }
    this.nodes.set(id, node)
    return node
  }

  private async removeNode(id: string): Promise<void> {
    const node = this.nodes.get(id)
    if (node === undefined) return
    this.nodes.delete(id)
    for (const peer of this.nodes.values()) {
      this.lanes.delete(laneKey(id, peer.id))
      this.lanes.delete(laneKey(peer.id, id))
    }
    await Promise.all([...this.cells.values()].map((cell) => cell.disconnect(id)))
    for (const record of this.endpoints.values()) record.channel.postMessage({ type: 'disconnect', id } satisfies EndpointMessage)
    this.freeAddresses.push(node.address)
  }

  private allocateAddress(): number {
    const reused = this.freeAddresses.shift()
    if (reused !== undefined) return reused
    if (this.nextAddress >= MAX_ADDRESSES) {
      throw new ShardKVError('ERR_OVERLOADED', `an actor system holds at most ${MAX_ADDRESSES - 1} actors and endpoints; stop some first`)
    }
    return this.nextAddress++
  }

  /** Tells every running worker and every endpoint about `node` (lanes both ways). */
  private async wireToPeers(node: NodeRecord): Promise<void> {
    const connects: Promise<void>[] = []
    for (const cell of this.cells.values()) {
      if (cell.id !== node.id) connects.push(cell.connect(this.peerWiring(cell.id, node)))
    }
    if (!node.isEndpoint) {
      for (const record of this.endpoints.values()) {
        record.channel.postMessage({ type: 'connect', peer: this.peerWiring(record.id, node) } satisfies EndpointMessage)
      }
    }
    await Promise.all(connects)
  }

  private wiringOf(node: NodeRecord): NodeWiring {
    const peers: PeerWiring[] = []
    for (const peer of this.nodes.values()) {
      if (peer.id === node.id || (peer.isEndpoint && node.isEndpoint)) continue
      peers.push(this.peerWiring(node.id, peer))
    }
    return { id: node.id, address: node.address, doorbell: node.doorbell, faults: this.faultBuffer, peers }
  }

  /** How `self` sees `peer`. */
  private peerWiring(self: string, peer: NodeRecord): PeerWiring {
    return {
      id: peer.id,
      address: peer.address,
      outLane: this.lanes.get(laneKey(self, peer.id))!,
      peerDoorbell: peer.doorbell,
      inLane: this.lanes.get(laneKey(peer.id, self))!,
      ...(peer.readView === undefined ? {} : { readView: peer.readView }),
    }
  }

  private onEndpointMessage(record: EndpointRecord, message: EndpointMessage): void {
    switch (message.type) {
      case 'hello':
        record.channel.postMessage({ type: 'wiring', wiring: this.wiringOf(record) } satisfies EndpointMessage)
        return
      case 'close':
        this.endpoints.delete(record.id)
        record.channel.close()
        void this.removeNode(record.id)
        return
      case 'wiring':
      case 'connect':
      case 'disconnect':
      case 'closed':
        return
      default: {
        const never: never = message
        throw new Error(`unknown endpoint message ${JSON.stringify(never)}`)
      }
    }
  }

  private checkHeartbeats(): void {
    const now = Date.now()
    for (const cell of this.cells.values()) {
      if (cell.isHung(now, this.options.hangTimeoutMs)) {
        this.supervisorNamed(cell.supervisorName).failed(cell.id, `hung: heartbeat did not move for ${this.options.hangTimeoutMs} ms`)
      }
    }
  }

  private actorAddress(id: string): number {
    const node = this.nodes.get(id)
    if (node === undefined) throw unknownActor(id)
    return node.address
  }

  private cellNamed(id: string): ActorCell {
    const cell = this.cells.get(id)
    if (cell === undefined) throw unknownActor(id)
    return cell
  }

  private supervisorNamed(name: string): Supervisor {
    const supervisor = this.supervisors.get(name)
    if (supervisor === undefined) throw new ShardKVError('ERR_INVALID_OPTION', `no supervisor named "${name}"; create it with system.supervisor(name)`)
    return supervisor
  }

  private assertOpen(): void {
    if (this.closed) throw new ShardKVError('ERR_CLOSED', 'the actor system is closed; create a new one')
  }
}

function laneKey(from: string, to: string): string {
  return `${from}\u0000${to}`
}

function unknownActor(id: string): ShardKVError {
  return new ShardKVError('ERR_UNKNOWN_ACTOR', `no actor "${id}" in this system; system.actors() lists them`)
}

function checkRange(name: string, value: number, min: number, max: number): void {
  if (!(Number.isFinite(value) && value >= min && value <= max)) {
    throw new ShardKVError('ERR_INVALID_OPTION', `${name} must be within ${min}..${max}, got ${value}`)
  }
}
