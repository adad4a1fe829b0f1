/**
 * Drives a LoadRun over a request/reply channel from ordinary (non-actor)
 * code: the main thread, or a plain worker of a baseline. `send` issues one
 * request and is handed the function its reply must call (a promise-based
 * channel such as comlink chains it; a callback channel routes its replies
 * to `onReply` instead). `result` settles when the run is done, or rejects
 * when it takes far longer than planned: a lost reply or a stuck peer must
 * not hang the benchmark.
 */
import { performance } from 'node:perf_hooks'
import { LoadRun, type LoadPlan, type LoadResult } from './load.js'

/** Extra time a run may take beyond its warm-up and window before it is declared stuck. */
export const RUN_GRACE_MS = 10_000

/** Longest a run of `plan` may take. */
export function runLimitMs(plan: LoadPlan): number {
  return plan.warmupMs + plan.durationMs + RUN_GRACE_MS
}

export class CallbackDriver {
  readonly result: Promise<LoadResult>
  private readonly run: LoadRun
  private resolve: (result: LoadResult) => void = () => {}
  private reject: (error: Error) => void = () => {}
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly plan: LoadPlan,
    private readonly send: (onReply: () => void) => void,
    private readonly label: string,
  ) {
    this.run = new LoadRun(plan, Math.random)
    this.result = new Promise<LoadResult>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
  }

  start(): void {
    const limitMs = runLimitMs(this.plan)
    this.timer = setTimeout(() => this.reject(new Error(`${this.label}: the run did not finish within ${limitMs} ms`)), limitMs)
    for (let count = this.run.begin(performance.now()); count > 0; count--) this.send(this.onReply)
  }

  readonly onReply = (): void => {
    if (this.run.reply(performance.now()) > 0) this.send(this.onReply)
    if (this.run.done) {
      clearTimeout(this.timer)
      this.resolve(this.run.result())
    }
  }
}

/** Rejects with "`what`: no answer within `ms` ms" unless `promise` settles first. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
