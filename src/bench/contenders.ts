/**
 * The three transports the runtime benchmark compares, behind one interface.
 * Each contender owns `workers` echo workers (answering pings) and
 * `workers` driver workers (each loading its own echo worker), and runs a
 * LoadPlan either from the main thread against every echo worker at once or
 * in every driver worker at once.
 *
 * - ring: an ActorSystem with EchoActor / DriverActor, and a main-thread
 *   Endpoint: the data path the store uses.
 * - postMessage: plain workers; main <-> worker over `worker.postMessage`,
 *   worker <-> worker over a MessageChannel between driver and echo.
 * - comlink: the same workers exposing `echo()`; main <-> worker over a
 *   MessageChannel port, worker <-> worker: the driver wraps its port to the echo.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads'
import { releaseProxy, wrap, type Remote } from 'comlink'
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs'
import type { Endpoint } from '../runtime/endpoint.js'
import { ActorSystem } from '../runtime/system.js'
import { BENCH_ACTORS_MODULE } from './bench-actors.js'
import { bytesToFloat64s, nextSeq, ping, type BenchMessage, type RunMessage } from './bench-messages.js'
import type { BaselineRole, BaselineWorkerData, DriverCommand, DriverReport, EchoApi } from './baseline-workers.js'
import { CallbackDriver, RUN_GRACE_MS } from './drive.js'
import type { LoadPlan, LoadResult } from './load.js'
import type { TransportName } from './report.js'

const BASELINE_WORKERS_URL = new URL('./baseline-workers.js', import.meta.url)
/** Bound on a worker's start-up (module load, first answer). */
const READY_TIMEOUT_MS = 10_000
/** One round trip: proves an echo worker is up before anything is measured. */
const READINESS_PLAN: LoadPlan = { mode: 'ping-pong', inflight: 1, warmupMs: 0, durationMs: 1, sampleCapacity: 1 }

export interface Contender {
  readonly transport: TransportName
  /** Runs `plan` from the main thread against every echo worker at once; one result per echo worker. */
  fromMain(plan: LoadPlan): Promise<LoadResult[]>
  /** Runs `plan` in every driver worker at once, each against its own echo worker. */
  betweenWorkers(plan: LoadPlan): Promise<LoadResult[]>
  close(): Promise<void>
}

export interface ContenderOptions {
  readonly workers: number
  /** The ring's spin before sleeping; undefined: the runtime's default. */
  readonly spinMicros: number | undefined
}

export async function startContenders(options: ContenderOptions): Promise<Contender[]> {
  const started: Contender[] = []
  try {
    started.push(await RingContender.start(options))
    started.push(await PostMessageContender.start(options))
    started.push(await ComlinkContender.start(options))
    return started
  } catch (error) {
    await Promise.all(started.map((contender) => contender.close()))
    throw error
  }
}

function runLimitMs(plan: LoadPlan): number {
  return plan.warmupMs + plan.durationMs + RUN_GRACE_MS
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

class RingContender implements Contender {
  readonly transport = 'ring'
  private onMessage: (message: BenchMessage, from: string) => void = () => {}

  static async start(options: ContenderOptions): Promise<RingContender> {
    const system = new ActorSystem(options.spinMicros === undefined ? {} : { spinMicros: options.spinMicros })
    try {
      const echoIds = range(options.workers).map((index) => `bench-echo-${index}`)
      const driverIds = range(options.workers).map((index) => `bench-driver-${index}`)
      for (const id of echoIds) await system.spawn({ id, kind: 'bench-echo', module: BENCH_ACTORS_MODULE, exportName: 'EchoActor' })
      for (const id of driverIds) await system.spawn({ id, kind: 'bench-driver', module: BENCH_ACTORS_MODULE, exportName: 'DriverActor' })
      const contender = new RingContender(system, system.localEndpoint('bench-main'), echoIds, driverIds)
      await contender.fromMain(READINESS_PLAN)
      return contender
    } catch (error) {
      await system.close()
      throw error
    }
  }

  private constructor(
    private readonly system: ActorSystem,
    private readonly endpoint: Endpoint,
    private readonly echoIds: readonly string[],
    private readonly driverIds: readonly string[],
  ) {
    endpoint.onMessage((message, from) => this.onMessage(message as BenchMessage, from))
  }

  async fromMain(plan: LoadPlan): Promise<LoadResult[]> {
    const drivers = new Map<string, CallbackDriver>()
    for (const echoId of this.echoIds) {
      let seq = 0
      const send = (): void => {
        seq = nextSeq(seq)
        this.endpoint.send(echoId, ping(seq))
      }
      drivers.set(echoId, new CallbackDriver(plan, send, `ring main->${echoId}`))
    }
    this.onMessage = (message, from) => {
      if (message.type === 'bench.pong') drivers.get(from)?.onReply()
    }
    for (const driver of drivers.values()) driver.start()
    return Promise.all([...drivers.values()].map((driver) => driver.result))
  }

  async betweenWorkers(plan: LoadPlan): Promise<LoadResult[]> {
    const waiting = new Map<string, (result: LoadResult) => void>()
    const results = this.driverIds.map((driverId) => {
      const result = new Promise<LoadResult>((resolve) => waiting.set(driverId, resolve))
      return withTimeout(result, runLimitMs(plan), `ring ${driverId}`)
    })
    this.onMessage = (message, from) => {
      if (message.type !== 'bench.result') return
      waiting.get(from)?.({
        completed: message.completed,
        elapsedMs: message.elapsedMs,
        roundTrips: message.roundTrips,
        roundTripSamplesUs: bytesToFloat64s(message.samples),
      })
    }
    this.driverIds.forEach((driverId, index) => {
      const run: RunMessage = { type: 'bench.run', target: this.echoIds[index]!, ...plan }
      this.endpoint.send(driverId, run)
    })
    return Promise.all(results)
  }

  async close(): Promise<void> {
    this.endpoint.close()
    await this.system.close()
  }
}

interface BaselinePair {
  readonly echo: Worker
  readonly driver: Worker
  /** comlink only: the main thread's port to the echo worker. */
  readonly mainPort: MessagePort | undefined
}

/** Starts an echo worker and a driver worker joined by a MessageChannel; comlink echoes also get a port for the main thread. */
function startPair(echoRole: BaselineRole, driverRole: BaselineRole): BaselinePair {
  const link = new MessageChannel()
  const main = echoRole === 'comlink-echo' ? new MessageChannel() : undefined
  const echoPorts = main === undefined ? [link.port1] : [main.port2, link.port1]
  const echoData: BaselineWorkerData = { role: echoRole, ports: echoPorts }
  const driverData: BaselineWorkerData = { role: driverRole, ports: [link.port2] }
  return {
    echo: new Worker(BASELINE_WORKERS_URL, { workerData: echoData, transferList: echoPorts }),
    driver: new Worker(BASELINE_WORKERS_URL, { workerData: driverData, transferList: [link.port2] }),
    mainPort: main?.port1,
  }
}

/** The next message from `worker` that `accept` takes; rejects when the worker fails or exits, or after `ms`. */
function nextMessage<T>(worker: Worker, accept: (message: unknown) => T | undefined, ms: number, what: string): Promise<T> {
  let cleanup = (): void => {}
  const settled = new Promise<T>((resolve, reject) => {
    const onMessage = (message: unknown): void => {
      const value = accept(message)
      if (value !== undefined) resolve(value)
    }
    const onError = (error: Error): void => reject(new Error(`${what}: worker failed: ${error.message}`))
    const onExit = (code: number): void => reject(new Error(`${what}: worker exited with code ${code}`))
    worker.on('message', onMessage).once('error', onError).once('exit', onExit)
    cleanup = () => worker.off('message', onMessage).off('error', onError).off('exit', onExit)
  })
  return withTimeout(settled, ms, what).finally(() => cleanup())
}

/** Asks every driver worker to run `plan` and collects their results. */
function runInDrivers(pairs: readonly BaselinePair[], plan: LoadPlan, transport: TransportName): Promise<LoadResult[]> {
  return Promise.all(
    pairs.map((pair, index) => {
      const report = nextMessage(
        pair.driver,
        (message) => {
          const reported = message as DriverReport
          return reported.type === 'result' || reported.type === 'failed' ? reported : undefined
        },
        runLimitMs(plan),
        `${transport} driver ${index}`,
      )
      pair.driver.postMessage({ type: 'run', plan } satisfies DriverCommand)
      return report.then((reported) => {
        if (reported.type === 'failed') throw new Error(`${transport} driver ${index}: ${reported.message}`)
        return (reported as Extract<DriverReport, { type: 'result' }>).result
      })
    }),
  )
}

async function awaitDriversReady(pairs: readonly BaselinePair[], transport: TransportName): Promise<void> {
  const isReady = (message: unknown): true | undefined => ((message as DriverReport).type === 'ready' ? true : undefined)
  await Promise.all(pairs.map((pair, index) => nextMessage(pair.driver, isReady, READY_TIMEOUT_MS, `${transport} driver ${index} start`)))
}

async function terminatePairs(pairs: readonly BaselinePair[]): Promise<void> {
  await Promise.all(pairs.flatMap((pair) => [pair.echo.terminate(), pair.driver.terminate()]))
}

class PostMessageContender implements Contender {
  readonly transport = 'postMessage'

  static async start(options: ContenderOptions): Promise<PostMessageContender> {
    const pairs = range(options.workers).map(() => startPair('postmessage-echo', 'postmessage-driver'))
    const contender = new PostMessageContender(pairs)
    try {
      const drivers = awaitDriversReady(pairs, 'postMessage')
      await contender.fromMain(READINESS_PLAN)
      await drivers
      return contender
    } catch (error) {
      await contender.close()
      throw error
    }
  }

  private constructor(private readonly pairs: readonly BaselinePair[]) {}

  async fromMain(plan: LoadPlan): Promise<LoadResult[]> {
    return Promise.all(
      this.pairs.map(async ({ echo }, index) => {
        let seq = 0
        const send = (): void => {
          seq = nextSeq(seq)
          echo.postMessage(ping(seq))
        }
        const driver = new CallbackDriver(plan, send, `postMessage main->echo ${index}`)
        echo.on('message', driver.onReply)
        driver.start()
        try {
          return await driver.result
        } finally {
          echo.off('message', driver.onReply)
        }
      }),
    )
  }

  betweenWorkers(plan: LoadPlan): Promise<LoadResult[]> {
    return runInDrivers(this.pairs, plan, 'postMessage')
  }

  close(): Promise<void> {
    return terminatePairs(this.pairs)
  }
}

class ComlinkContender implements Contender {
  readonly transport = 'comlink'

  static async start(options: ContenderOptions): Promise<ComlinkContender> {
    const pairs = range(options.workers).map(() => startPair('comlink-echo', 'comlink-driver'))
    const remotes = pairs.map((pair) => wrap<EchoApi>(nodeEndpoint(pair.mainPort!)))
    const contender = new ComlinkContender(pairs, remotes)
    try {
      const drivers = awaitDriversReady(pairs, 'comlink')
      await contender.fromMain(READINESS_PLAN)
      await drivers
      return contender
    } catch (error) {
      await contender.close()
      throw error
    }
  }

  private constructor(
    private readonly pairs: readonly BaselinePair[],
    private readonly remotes: readonly Remote<EchoApi>[],
  ) {}

  async fromMain(plan: LoadPlan): Promise<LoadResult[]> {
    return Promise.all(
      this.remotes.map((remote, index) => {
        let seq = 0
        let driver: CallbackDriver | undefined
        const send = (): void => {
          seq = nextSeq(seq)
          void remote.echo(ping(seq)).then(driver!.onReply)
        }
        driver = new CallbackDriver(plan, send, `comlink main->echo ${index}`)
        driver.start()
        return driver.result
      }),
    )
  }

  betweenWorkers(plan: LoadPlan): Promise<LoadResult[]> {
    return runInDrivers(this.pairs, plan, 'comlink')
  }

  async close(): Promise<void> {
    for (const remote of this.remotes) remote[releaseProxy]()
    for (const pair of this.pairs) pair.mainPort?.close()
    await terminatePairs(this.pairs)
  }
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index)
}
