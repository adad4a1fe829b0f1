/**
 * A throwaway Redis server for the store benchmark's `redis` baseline: the
 * `redis-server` binary found on PATH, started on 127.0.0.1 on a free port
 * with persistence off (no RDB snapshots, no AOF), and stopped by its pid.
 * The project does not depend on Redis: without the binary the baseline is
 * skipped and the report says so.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, readFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { delimiter, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export const REDIS_HOST = '127.0.0.1'
/** Longest the server may take to accept connections, and to exit once asked. */
export const REDIS_START_LIMIT_MS = 10_000
export const REDIS_STOP_LIMIT_MS = 5_000
const START_POLL_MS = 20
/** Clock ticks per second in /proc/<pid>/stat: USER_HZ, 100 on every Linux ABI Node runs on. */
const PROC_TICKS_PER_SECOND = 100

export interface RedisServer {
  readonly pid: number
  readonly port: number
  /** CPU (user + system) the server has used so far, µs; null where /proc cannot tell (not Linux). */
  cpuMicros(): number | null
  stop(): Promise<void>
}

/** The absolute path of an executable `name` on PATH, or undefined. */
export function findOnPath(name: string, path = process.env['PATH'] ?? ''): string | undefined {
  for (const directory of path.split(delimiter)) {
    if (directory === '') continue
    const candidate = join(directory, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // Not here: try the next directory.
    }
  }
  return undefined
}

export async function startRedisServer(binary: string): Promise<RedisServer> {
  const port = await freePort()
  const args = ['--bind', REDIS_HOST, '--port', String(port), '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--daemonize', 'no', '--loglevel', 'warning']
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)))
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`redis-server exited with code ${code} at start: ${stderr.trim()}`))))
  exited.catch(() => {})
  try {
    await Promise.race([waitForPort(port), exited])
  } catch (error) {
    await stop(child)
    throw error
  }
  const pid = child.pid!
  return { pid, port, cpuMicros: () => processCpuMicros(pid), stop: () => stop(child) }
}

/** A port that was free a moment ago: bound to port 0, read, released. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, REDIS_HOST, () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

async function waitForPort(port: number): Promise<void> {
  const deadlineMs = Date.now() + REDIS_START_LIMIT_MS
  while (!(await accepts(port))) {
    if (Date.now() > deadlineMs) throw new Error(`redis-server did not accept connections on ${REDIS_HOST}:${port} within ${REDIS_START_LIMIT_MS} ms`)
    await sleep(START_POLL_MS)
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: REDIS_HOST, port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** SIGTERM to the server's pid; SIGKILL if it has not exited within REDIS_STOP_LIMIT_MS. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  process.kill(child.pid, 'SIGTERM')
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL')
  }, REDIS_STOP_LIMIT_MS)
  await exited
  clearTimeout(timer)
}

function processCpuMicros(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces) start at field 3; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12])
    return Number.isFinite(ticks) ? (ticks * 1_000_000) / PROC_TICKS_PER_SECOND : null
  } catch {
    return null
  }
}
