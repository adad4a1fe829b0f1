/**
 * The bearer token every call must carry when the server has one: metadata
 * `authorization: Bearer <token>`. Compared as SHA-256 digests with
 * timingSafeEqual, so neither the length nor a prefix of the token leaks
 * through response times.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Metadata, StatusObject } from '@grpc/grpc-js'
import { Status } from './status.js'

export const AUTHORIZATION_KEY = 'authorization'
/** The environment variable the CLI reads when --auth-token is not given (serve and the client verbs). */
export const AUTH_TOKEN_ENV = 'SHARDKV_AUTH_TOKEN'

export function bearer(token: string): string {
  return `Bearer ${token}`
}

export class TokenCheck {
  private readonly digest: Buffer | undefined

  /** No token: every call is let through. */
  constructor(token: string | undefined) {
    this.digest = token === undefined ? undefined : sha256(bearer(token))
  }

  get required(): boolean {
    return this.digest !== undefined
  }

  /** Undefined when `metadata` may call; else the UNAUTHENTICATED status to answer with. */
  refusal(metadata: Metadata): Partial<StatusObject> | undefined {
    if (this.digest === undefined) return undefined
    const given = metadata.get(AUTHORIZATION_KEY)[0]
    if (typeof given === 'string' && timingSafeEqual(sha256(given), this.digest)) return undefined
    const details = given === undefined ? 'this server requires "authorization: Bearer <token>" metadata' : 'the authorization token is wrong'
    return { code: Status.UNAUTHENTICATED, details }
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}
