/**
 * `shardkv bench store --target grpc://host:port`: the system under test is
 * a running `shardkv serve`, which each client thread drives through one
 * Pipeline stream at the bench's in-flight depth; the single-read probe
 * (one read in flight) makes unary Get calls. The bench neither starts
 * nor stops that server; the cluster-shape flags do not apply to it.
 * The token, if the server needs one, comes from SHARDKV_AUTH_TOKEN.
 */
import type { KvStoreClient } from '../bench/store-drive.js'
import type { SystemUnderTest } from '../bench/store-targets.js'
import { parseAddress } from './address.js'
import { AUTH_TOKEN_ENV } from './auth.js'

/** The SystemUnderTest of `--target`; throws ERR_INVALID_OPTION for an address that does not parse. */
export function grpcBenchSystem(target: string): () => Promise<SystemUnderTest> {
  parseAddress(target)
  const authToken = process.env[AUTH_TOKEN_ENV] || undefined
  return async () => ({
    connectors: (threads) => Array.from({ length: threads }, () => ({ type: 'grpc', address: target, authToken }) as const),
    close: async () => {},
  })
}

/** A client thread's store: one connection, one Pipeline stream; a read alone is a unary Get. */
export async function openGrpcStore(address: string, authToken: string | undefined): Promise<KvStoreClient> {
  const { connectGrpc } = await import('./client.js')
  const client = await connectGrpc(address, authToken === undefined ? {} : { authToken })
  const pipeline = client.pipeline()
  return {
    read: (key) => pipeline.get(key),
    readAlone: (key) => client.get(key),
    write: (key, value) => pipeline.put(key, value),
    close: async () => client.close(),
  }
}
