/**
 * Shared by the gRPC tests: `shardkv serve` as a child process on a free
 * loopback port (the address parsed from its first stdout line), the CLI as
 * child processes, a raw gRPC channel for sending what the library client
 * never would (malformed or hand-built messages), a hand-driven Pipeline
 * stream, and a wait for operations to be in flight on the server.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js'
import type { Test } from 'tap'
import type { GrpcClient } from '../../src/grpc/client.js'
import { pipelineMethod } from '../../src/grpc/proto.js'
import type { PipelineRequest, PipelineResponse } from '../../src/grpc/wire.js'

export const BIN = fileURLToPath(new URL('../../../bin/shardkv.js', import.meta.url))
/** Longest a server may take to start (threads spawn, the master elects). */
const START_LIMIT_MS = 60_000
/** Longest a stopped server may take to exit. */
const EXIT_LIMIT_MS = 60_000

export interface ServerProcess {
  readonly address: string
  readonly child: ChildProcess
  /** Everything written to stderr so far. */
  stderr(): string
  /** Sends `signal` and resolves with the exit code once the process exits. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** An environment without SHARDKV_AUTH_TOKEN (the developer's own must not leak into a test), plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra }
  if (!('SHARDKV_AUTH_TOKEN' in extra)) delete env.SHARDKV_AUTH_TOKEN
  return env
}

/** Starts `shardkv serve --port 0 ...args`; stopped (SIGTERM, then SIGKILL) when the test ends. */
export async function startServer(t: Test, args: readonly string[] = [], env: Record<string, string> = {}): Promise<ServerProcess> {
  // These tests are about the front door, not replication: one node per group and one master
  // keep the child process small.
  const shape = ['--replicas', '1', '--masters', '1']
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...shape, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`shardkv serve printed no address within ${START_LIMIT_MS} ms; stderr: ${stderr}`)), START_LIMIT_MS)
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      stdout += text
      const match = /serving on (\S+)/.exec(stdout)
      if (match !== null) {
        clearTimeout(timer)
        resolve(match[1]!)
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`shardkv serve exited (${code}) before listening; stderr: ${stderr}`))
    })
  })
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_LIMIT_MS)
    try {
      return await exited
    } finally {
      clearTimeout(timer)
    }
  }
  t.teardown(() => stop())
  return { address, child, stderr: () => stderr, stop }
}

export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `shardkv ...args` as a child process. */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text))
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** A plain gRPC channel to `address`, closed when the test ends. */
export function rawChannel(t: Test, address: string): Client {
  const channel = new Client(address, credentials.createInsecure())
  t.teardown(() => channel.close())
  return channel
}

/** A unary call with hand-made request bytes; resolves with the error (or null) and the raw response. */
export function rawUnary(channel: Client, path: string, requestBytes: Buffer, metadata = new Metadata()): Promise<{ error: ServiceError | null; response: Buffer | undefined }> {
  return new Promise((resolve) => {
    channel.makeUnaryRequest(
      path,
      (bytes: Buffer) => bytes,
      (bytes: Buffer) => bytes,
      requestBytes,
      metadata,
      { deadline: Date.now() + 30_000 },
      (error: ServiceError | null, response?: Buffer) => resolve({ error, response }),
    )
  })
}

/** A Pipeline stream driven by hand: every message received is kept as it came, plain or batched. */
export interface RawPipeline {
  send(message: PipelineRequest): void
  /** Half-closes and resolves with every message received and the stream's final status code. */
  finish(): Promise<{ readonly messages: readonly PipelineResponse[]; readonly status: number }>
}

export function rawPipeline(channel: Client): RawPipeline {
  const method = pipelineMethod()
  const stream = channel.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, new Metadata(), { deadline: Date.now() + 30_000 })
  const messages: PipelineResponse[] = []
  stream.on('data', (message: PipelineResponse) => messages.push(message))
  const status = new Promise<number>((resolve) => {
    stream.on('status', (received: { code: number }) => resolve(received.code))
    stream.on('error', () => undefined) // the status says how it ended
  })
  return {
    send: (message) => stream.write(message),
    finish: async () => {
      stream.end()
      return { messages, status: await status }
    },
  }
}

/** Waits until the server's in-process clients hold `count` operations, so they are surely in flight. */
export function untilOutstanding(kv: GrpcClient, count: number): Promise<void> {
  return untilServerHolds(kv, (outstanding) => outstanding >= count, `${count} operations outstanding`)
}

/** Waits until the server's in-process clients hold no operation: every one sent has taken effect or failed. */
export function untilIdle(kv: GrpcClient): Promise<void> {
  return untilServerHolds(kv, (outstanding) => outstanding === 0, 'no operation outstanding')
}

async function untilServerHolds(kv: GrpcClient, wanted: (outstanding: number) => boolean, description: string): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const stats = (await kv.admin.stats()) as { clients?: { outstanding?: number } }
    if (wanted(stats.clients?.outstanding ?? 0)) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`the server never had ${description}`)
}
