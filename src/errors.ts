/**
 * The one error type shardkv throws for operating errors (bad input, timeouts,
 * overload, closed). Programmer errors are assertions (see `assert`), which
 * crash the actor so its supervisor restarts it.
 *
 * Errors that cross a thread travel as their `code` (and message), never as
 * free text to parse: see `encodeError` / `decodeError`.
 */
export const ERROR_CODES = [
  'ERR_INVALID_KEY',
  'ERR_KEY_TOO_LARGE',
  'ERR_INVALID_VALUE',
  'ERR_VALUE_TOO_LARGE',
  'ERR_TYPE_MISMATCH',
  'ERR_INVALID_OPTION',
  'ERR_UNKNOWN_GROUP',
  'ERR_INVALID_SHARD',
  'ERR_TIMEOUT',
  'ERR_OVERLOADED',
  'ERR_CLOSED',
  'ERR_UNKNOWN_ACTOR',
  'ERR_FRAME_TOO_LARGE',
  'ERR_STORAGE_FULL',
  'ERR_CODEC',
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]

export class ShardKVError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string) {
    super(message)
    this.name = 'ShardKVError'
    this.code = code
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value)
}

/** Thrown for a broken invariant: a bug, never an operating condition. */
export class AssertionError extends Error {
  constructor(message: string) {
    super(`assertion failed: ${message}`)
    this.name = 'AssertionError'
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message)
}
