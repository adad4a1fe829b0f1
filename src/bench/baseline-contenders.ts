/**
 * The two baselines, on the worker roles of baseline-workers.ts. Each echo
 * worker is paired with a driver worker over a MessageChannel.
 *
 * - postMessage: main <-> worker over `worker.postMessage` itself;
 *   worker <-> worker over the pair's MessageChannel.
 * - comlink: main <-> worker over a MessageChannel port wrapped by comlink
 *   (as the runtime's control plane does); worker <-> worker: the driver
 *   wraps its port to the echo worker.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads'
import { releaseProxy, wrap, type Remote } from 'comlink'
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs'
import { nextSeq, ping } from './bench-messages.js'
import type { BaselineRole, BaselineWorkerData, DriverCommand, DriverReport, EchoApi } from './baseline-workers.js'
import { READINESS_PLAN, READY_TIMEOUT_MS, type Contender, type ContenderOptions } from './contender.js'
import { CallbackDriver, runLimitMs, withTimeout } from './drive.js'
import type { LoadPlan, LoadResult } from './load.js'
import type { TransportName } from './report.js'

const BASELINE_WORKERS_URL = new URL('./baseline-workers.js', import.meta.url)

interface BaselinePair {
  readonly echo: Worker
  readonly driver: Worker
  /** comlink only: the main thread's port to the echo worker. */
  readonly mainPort: MessagePort | undefined
}

export class PostMessageContender implements Contender {
  readonly transport = 'postMessage'

  static async start(options: ContenderOptions): Promise<PostMessageContender> {
    const contender = new PostMessageContender(startPairs(options.workers, 'postmessage-echo', 'postmessage-driver'))
    await checkReady(contender, contender.pairs)
    return contender
  }

  private constructor(private readonly pairs: readonly BaselinePair[]) {}

  fromMain(plan: LoadPlan): Promise<LoadResult[]> {
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
    return runInDrivers(this.pairs, plan, this.transport)
  }

  close(): Promise<void> {
    return terminatePairs(this.pairs)
  }
}

export class ComlinkContender implements Contender {
  readonly transport = 'comlink'
  private readonly remotes: readonly Remote<EchoApi>[]

  static async start(options: ContenderOptions): Promise<ComlinkContender> {
    const contender = new ComlinkContender(startPairs(options.workers, 'comlink-echo', 'comlink-driver'))
    await checkReady(contender, contender.pairs)
    return contender
  }

  private constructor(private readonly pairs: readonly BaselinePair[]) {
    this.remotes = pairs.map((pair) => wrap<EchoApi>(nodeEndpoint(pair.mainPort!)))
  }

  fromMain(plan: LoadPlan): Promise<LoadResult[]> {
    return Promise.all(
      this.remotes.map((remote, index) => {
        let seq = 0
        const send = (onReply: () => void): void => {
          seq = nextSeq(seq)
          void remote.echo(ping(seq)).then(onReply)
        }
        const driver = new CallbackDriver(plan, send, `comlink main->echo ${index}`)
        driver.start()
        return driver.result
      }),
    )
  }

  betweenWorkers(plan: LoadPlan): Promise<LoadResult[]> {
    return runInDrivers(this.pairs, plan, this.transport)
  }

  async close(): Promise<void> {
    for (const remote of this.remotes) remote[releaseProxy]()
    for (const pair of this.pairs) pair.mainPort?.close()
    await terminatePairs(this.pairs)
  }
}

/** Starts `count` echo workers, each paired with a driver worker over a MessageChannel; comlink echoes also get a port for the main thread. */
function startPairs(count: number, echoRole: BaselineRole, driverRole: BaselineRole): BaselinePair[] {
  return Array.from({ length: count }, () => {
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
  })
}

/** Waits until every driver says ready and every echo answers a round trip; on failure ends the workers. */
async function checkReady(contender: Contender, pairs: readonly BaselinePair[]): Promise<void> {
  const isReady = (message: unknown): true | undefined => ((message as DriverReport).type === 'ready' ? true : undefined)
  try {
    const drivers = pairs.map((pair, index) => nextMessage(pair.driver, isReady, READY_TIMEOUT_MS, `${contender.transport} driver ${index} start`))
    await withTimeout(contender.fromMain(READINESS_PLAN), READY_TIMEOUT_MS, `${contender.transport} echo start`)
    await Promise.all(drivers)
  } catch (error) {
    await contender.close()
    throw error
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
  const isOutcome = (message: unknown): DriverReport | undefined => {
    const report = message as DriverReport
    return report.type === 'result' || report.type === 'failed' ? report : undefined
  }
  return Promise.all(
    pairs.map(async (pair, index) => {
      const outcome = nextMessage(pair.driver, isOutcome, runLimitMs(plan), `${transport} driver ${index}`)
      pair.driver.postMessage({ type: 'run', plan } satisfies DriverCommand)
      const report = await outcome
      switch (report.type) {
        case 'result':
          return report.result
        case 'failed':
          throw new Error(`${transport} driver ${index}: ${report.message}`)
        case 'ready':
          throw new Error(`${transport} driver ${index}: said ready twice`)
        default: {
          const never: never = report
          throw new Error(`unknown driver report ${JSON.stringify(never)}`)
        }
      }
    }),
  )
}

async function terminatePairs(pairs: readonly BaselinePair[]): Promise<void> {
  await Promise.all(pairs.flatMap((pair) => [pair.echo.terminate(), pair.driver.terminate()]))
}
