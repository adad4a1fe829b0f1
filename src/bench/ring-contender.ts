/**
 * The ring transport as the store uses it: an ActorSystem with EchoActors
 * and DriverActors, and an Endpoint on the main thread.
 */
import type { Endpoint } from '../runtime/endpoint.js'
import { ActorSystem } from '../runtime/system.js'
import { BENCH_ACTORS_MODULE } from './bench-actors.js'
import { bytesToFloat64s, nextSeq, ping, type BenchMessage, type RunMessage } from './bench-messages.js'
import { READINESS_PLAN, type Contender, type ContenderOptions } from './contender.js'
import { CallbackDriver, runLimitMs, withTimeout } from './drive.js'
import type { LoadPlan, LoadResult } from './load.js'

export class RingContender implements Contender {
  readonly transport = 'ring'
  /** Where the endpoint's messages go during the current measurement. */
  private onMessage: (message: BenchMessage, from: string) => void = () => {}

  static async start(options: ContenderOptions): Promise<RingContender> {
    const system = new ActorSystem(options.spinMicros === undefined ? {} : { spinMicros: options.spinMicros })
    try {
      const echoIds = Array.from({ length: options.workers }, (_, index) => `bench-echo-${index}`)
      const driverIds = Array.from({ length: options.workers }, (_, index) => `bench-driver-${index}`)
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

  fromMain(plan: LoadPlan): Promise<LoadResult[]> {
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

  betweenWorkers(plan: LoadPlan): Promise<LoadResult[]> {
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
