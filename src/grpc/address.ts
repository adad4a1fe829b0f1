/**
 * Addresses as users write them: `host:port`, `[v6]:port`, or with a
 * scheme, `grpc://host:port` (plaintext) or `grpcs://host:port` (TLS).
 */
import { isIP } from 'node:net'
import { ShardKVError } from '../errors.js'

export interface ParsedAddress {
  /** Without brackets: `::1`, `127.0.0.1`, `localhost`. */
  readonly host: string
  readonly port: number
  /** True for grpcs://. */
  readonly tls: boolean
  /** What grpc-js dials: `host:port` with an IPv6 host in brackets. */
  readonly target: string
}

const ADDRESS = /^(?:(grpcs?):\/\/)?(\[[0-9a-fA-F:.]+\]|[^:/[\]\s]+):(\d{1,5})\/?$/

export function parseAddress(text: string): ParsedAddress {
  const match = ADDRESS.exec(text.trim())
  const port = match === null ? NaN : Number(match[3])
  if (match === null || port < 1 || port > 65_535) {
    throw new ShardKVError('ERR_INVALID_OPTION', `address must be host:port, [ipv6]:port, grpc://host:port or grpcs://host:port with a port in 1..65535, got ${JSON.stringify(text)}`)
  }
  const host = match[2]!.replace(/^\[(.*)\]$/, '$1')
  return { host, port, tls: match[1] === 'grpcs', target: formatHostPort(host, port) }
}

export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`
}

/** True for names and addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase()
  if (bare === 'localhost' || bare === '::1') return true
  if (isIP(bare) === 4) return bare.startsWith('127.')
  return bare.startsWith('::ffff:127.')
}
