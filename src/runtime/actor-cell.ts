/**
 * One supervised actor: the shared memory that outlives its workers (control
 * block, stable storage) and its current worker, if any. The supervisor
 * starts and terminates it; the cell reports an unexpected exit or a hang
 * back to the supervisor through `failed`.
 */
import { MessageChannel, Worker } from 'node:worker_threads'
import { releaseProxy, wrap, type Remote } from 'comlink'
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs'
import { ShardKVError } from '../errors.js'
import { ControlBlock } from './control-block.js'
import type { ActorSpec } from './system.js'
import type { Child, Supervisor } from './supervisor.js'
import type { NodeWiring, PeerWiring, ReadViewWiring } from './transport.js'
import type { HostOptions, WorkerControl, WorkerInit, WorkerStats } from './worker-host.js'

const WORKER_HOST_URL = new URL('./worker-host.js', import.meta.url)
/**
 * Workers load compiled JavaScript only, so module loader hooks of the
 * parent (a test runner's TypeScript loader, say) are not passed on: each
 * would cost a worker seconds to start.
 */
const WORKER_EXEC_ARGV = process.execArgv.filter((arg) => !/^--(import|loader|experimental-loader|require)\b/.test(arg) && arg !== '-r')
/** Bound on every control-plane call: a worker that does not answer is hung or dead. */
const CONTROL_TIMEOUT_MS = 5000
/** An orderly stop that takes longer than this ends in terminate(). */
const STOP_TIMEOUT_MS = 1000

export interface CellEnvironment {
  readonly hostOptions: HostOptions
  readonly control: SharedArrayBuffer
  readonly storage: SharedArrayBuffer
  /** The actor's read view, when it has one; like storage, it outlives incarnations. */
  readonly readView: ReadViewWiring | undefined
  /** The cell's current wiring: every peer that exists now. */
  wiring(id: string): NodeWiring
  failed(cell: ActorCell, reason: string): void
}

interface Incarnation {
  readonly worker: Worker
  readonly control: Remote<WorkerControl>
  /** Set when we end the worker ourselves, so its exit is not a failure. */
  expectedExit: boolean
  /** The watchdog only judges a worker that has finished starting (loading modules can take a while). */
  ready: boolean
  lastError: string | undefined
  readonly exited: Promise<number>
}

export class ActorCell implements Child {
  readonly id: string
  supervisor: Supervisor | undefined
  private readonly controlBlock: ControlBlock
  private current: Incarnation | undefined
  private lastBeat = -1
  private lastBeatChangeMs = Date.now()

  constructor(
    readonly spec: ActorSpec,
    readonly address: number,
    readonly supervisorName: string,
    private readonly env: CellEnvironment,
  ) {
    this.id = spec.id
    this.controlBlock = new ControlBlock(env.control)
  }

  get running(): boolean {
    return this.current !== undefined
  }

  async start(): Promise<void> {
    await this.terminate()
    const incarnation = this.launch()
    this.current = incarnation
    const ready = withTimeout(incarnation.control.ping(), CONTROL_TIMEOUT_MS, `actor ${this.id} did not start`)
    const died = incarnation.exited.then((code) => {
      throw new ShardKVError('ERR_CLOSED', `actor ${this.id} exited with code ${code} while starting: ${incarnation.lastError ?? 'no error'}`)
    })
    // Whichever loses the race settles later; nobody waits for it then.
    ready.catch(() => {})
    died.catch(() => {})
    await Promise.race([ready, died])
    this.lastBeatChangeMs = Date.now()
    incarnation.ready = true
  }

  /** Orderly: the actor's stop() runs (bounded), then the worker ends. Not a failure. */
  async terminate(): Promise<void> {
    const incarnation = this.current
    if (incarnation === undefined) return
    incarnation.expectedExit = true
    this.current = undefined
    await withTimeout(incarnation.control.stop(), STOP_TIMEOUT_MS, 'stop').catch(() => {})
    await incarnation.worker.terminate()
    incarnation.control[releaseProxy]()
  }

  /** Abrupt: the worker is terminated wherever it is; the supervisor sees a failure. */
  async kill(): Promise<void> {
    const incarnation = this.current
    if (incarnation === undefined) return
    incarnation.lastError = 'killed by the fault layer'
    await incarnation.worker.terminate()
  }

  pause(ms: number): void {
    this.controlBlock.pauseUntil(Date.now() + ms)
  }

  async connect(peer: PeerWiring): Promise<void> {
    await this.call((control) => control.connect(peer))
  }

  async disconnect(id: string): Promise<void> {
    await this.call((control) => control.disconnect(id))
  }

  async stats(): Promise<WorkerStats> {
    const incarnation = this.current
    if (incarnation === undefined) throw new ShardKVError('ERR_CLOSED', `actor ${this.id} is not running`)
    return withTimeout(incarnation.control.stats(), CONTROL_TIMEOUT_MS, `stats of ${this.id}`)
  }

  /** True when a running worker's heartbeat has not moved for `hangTimeoutMs`. */
  isHung(nowMs: number, hangTimeoutMs: number): boolean {
    if (this.current === undefined || !this.current.ready) return false
    const beat = this.controlBlock.heartbeat()
    if (beat !== this.lastBeat) {
      this.lastBeat = beat
      this.lastBeatChangeMs = nowMs
      return false
    }
    return nowMs - this.lastBeatChangeMs > hangTimeoutMs
  }

  private launch(): Incarnation {
    const channel = new MessageChannel()
    const init: WorkerInit = {
      wiring: this.env.wiring(this.id),
      kind: this.spec.kind,
      actor: { module: this.spec.module, exportName: this.spec.exportName },
      args: this.spec.args,
      control: this.env.control,
      storage: this.env.storage,
      readView: this.env.readView,
      controlPort: channel.port2,
      options: this.env.hostOptions,
    }
    const worker = new Worker(WORKER_HOST_URL, { workerData: init, transferList: [channel.port2], execArgv: WORKER_EXEC_ARGV })
    const incarnation: Incarnation = {
      worker,
      control: wrap<WorkerControl>(nodeEndpoint(channel.port1)),
      expectedExit: false,
      ready: false,
      lastError: undefined,
      exited: new Promise((resolve) => worker.once('exit', resolve)),
    }
    worker.on('error', (error) => {
      incarnation.lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    })
    void incarnation.exited.then((code) => this.onExit(incarnation, code))
    return incarnation
  }

  private onExit(incarnation: Incarnation, code: number): void {
    if (this.current === incarnation) this.current = undefined
    if (incarnation.expectedExit) return
    this.env.failed(this, `exited with code ${code}: ${incarnation.lastError ?? 'process.exit or terminate'}`)
  }

  /** A control call on the running worker; a worker that is down has nothing to wire. */
  private async call(fn: (control: Remote<WorkerControl>) => Promise<void>): Promise<void> {
    const incarnation = this.current
    if (incarnation === undefined) return
    // A worker that dies mid-call never answers: its exit ends the wait rather than the timeout (a
    // join would otherwise stall CONTROL_TIMEOUT_MS for every peer killed while it was being wired).
    // Its next incarnation gets the whole wiring when it starts.
    const exited = incarnation.exited.then(() => undefined)
    await withTimeout(Promise.race([fn(incarnation.control), exited]), CONTROL_TIMEOUT_MS, `control call to ${this.id}`).catch((error: unknown) => {
      if (this.current === incarnation) throw error
    })
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ShardKVError('ERR_TIMEOUT', `${what}: no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
