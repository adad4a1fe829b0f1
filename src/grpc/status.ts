/**
 * ShardKVError <-> gRPC status, both ways.
 *
 * Server side: a ShardKVError becomes the status of STATUS_OF_CODE with its
 * code in the trailing metadata key ERROR_CODE_KEY, so a client in any
 * language reads both the portable status and shardkv's precise reason.
 * Anything else thrown is a bug: INTERNAL, with a generic message (no stack
 * leaves the server).
 *
 * Client side: a failed call becomes a GrpcShardKVError: the code from the
 * trailer when the server sent one; otherwise (the status came from gRPC
 * itself: a deadline, an unreachable server, a refused token, an oversized
 * message) the code of LOCAL_CODE_OF_STATUS.
 */
import { Metadata, status as Status, type ServiceError, type StatusObject } from '@grpc/grpc-js'
import { isErrorCode, ShardKVError, type ErrorCode } from '../errors.js'

export { Status }

/** Trailing metadata key holding the ShardKVError code of a failed call. */
export const ERROR_CODE_KEY = 'shardkv-error-code'

/**
 * The status of each ShardKVError code. A Record, so a new code does not
 * compile until it is mapped here.
 */
export const STATUS_OF_CODE: Readonly<Record<ErrorCode, Status>> = {
  ERR_INVALID_KEY: Status.INVALID_ARGUMENT,
  ERR_KEY_TOO_LARGE: Status.INVALID_ARGUMENT,
  ERR_INVALID_VALUE: Status.INVALID_ARGUMENT,
  ERR_VALUE_TOO_LARGE: Status.INVALID_ARGUMENT,
  ERR_INVALID_OPTION: Status.INVALID_ARGUMENT,
  ERR_INVALID_SHARD: Status.INVALID_ARGUMENT,
  // Text onto bytes (or the reverse): the key's state forbids the call; retrying will not help.
  ERR_TYPE_MISMATCH: Status.FAILED_PRECONDITION,
  ERR_UNKNOWN_GROUP: Status.NOT_FOUND,
  // Outcome unknown, as DEADLINE_EXCEEDED is for a mutation in gRPC's own definition.
  ERR_TIMEOUT: Status.DEADLINE_EXCEEDED,
  ERR_OVERLOADED: Status.RESOURCE_EXHAUSTED,
  ERR_FRAME_TOO_LARGE: Status.RESOURCE_EXHAUSTED,
  ERR_STORAGE_FULL: Status.RESOURCE_EXHAUSTED,
  // The server is shutting down (its cluster is closing): try another server or later.
  ERR_CLOSED: Status.UNAVAILABLE,
  ERR_UNKNOWN_ACTOR: Status.INTERNAL,
  ERR_CODEC: Status.INTERNAL,
}

/**
 * The ShardKVError code a client reports for a status that came without one
 * (from gRPC itself, not from shardkv). Statuses not listed: ERR_CODEC.
 */
const LOCAL_CODE_OF_STATUS: Readonly<Partial<Record<Status, ErrorCode>>> = {
  [Status.DEADLINE_EXCEEDED]: 'ERR_TIMEOUT',
  [Status.CANCELLED]: 'ERR_CLOSED',
  [Status.UNAVAILABLE]: 'ERR_CLOSED',
  // gRPC's own RESOURCE_EXHAUSTED is a message over a max-message-bytes limit.
  [Status.RESOURCE_EXHAUSTED]: 'ERR_FRAME_TOO_LARGE',
  // No dedicated code yet: the client's authToken option is missing or wrong.
  [Status.UNAUTHENTICATED]: 'ERR_INVALID_OPTION',
  [Status.PERMISSION_DENIED]: 'ERR_INVALID_OPTION',
}

/** A failed remote call: a ShardKVError that also carries the gRPC status. */
export class GrpcShardKVError extends ShardKVError {
  /** The gRPC status code (see `status` in @grpc/grpc-js). */
  readonly status: Status

  constructor(code: ErrorCode, status: Status, message: string) {
    super(code, message)
    this.name = 'GrpcShardKVError'
    this.status = status
  }
}

export interface StatusSummary {
  readonly status: Status
  readonly code: ErrorCode
  readonly message: string
}

/** What the server tells the client about `error`; `onBug` sees anything that is not a ShardKVError. */
export function summarizeError(error: unknown, onBug: (error: unknown) => void): StatusSummary {
  if (error instanceof ShardKVError) return { status: STATUS_OF_CODE[error.code], code: error.code, message: error.message }
  onBug(error)
  return { status: Status.INTERNAL, code: 'ERR_CODEC', message: 'internal server error (logged by the server)' }
}

/** The status object a unary callback or a stream's 'error' event takes. */
export function statusObjectOf(summary: StatusSummary): Partial<StatusObject> {
  const metadata = new Metadata()
  metadata.set(ERROR_CODE_KEY, summary.code)
  return { code: summary.status, details: summary.message, metadata }
}

/** The client-side error of a failed call. */
export function errorOfServiceError(error: ServiceError): GrpcShardKVError {
  const sent = error.metadata?.get(ERROR_CODE_KEY)[0]
  if (typeof sent === 'string' && isErrorCode(sent)) return new GrpcShardKVError(sent, error.code, error.details)
  return localError(error.code, error.details)
}

/** The client-side error of a status without a shardkv code. */
export function localError(status: Status, details: string): GrpcShardKVError {
  const code = LOCAL_CODE_OF_STATUS[status] ?? 'ERR_CODEC'
  return new GrpcShardKVError(code, status, `${Status[status]}: ${details}`)
}

/** The client-side error of a Pipeline `error` response. */
export function errorOfPipelineError(status: number | undefined, code: string | undefined, message: string | undefined): GrpcShardKVError {
  const statusCode = (status ?? Status.UNKNOWN) as Status
  if (isErrorCode(code)) return new GrpcShardKVError(code, statusCode, message ?? '')
  return localError(statusCode, message ?? '')
}
