/**
 * Validation of option objects: one typed object per call, every name known,
 * every number an integer within a stated range. A bad option is an
 * ERR_INVALID_OPTION that names the option and what it accepts, so a caller
 * never has to guess which of several fields was wrong.
 */
import { ShardKVError } from '../errors.js'

export interface IntegerOptionSpec {
  readonly default: number
  readonly min: number
  readonly max: number
  /** Only odd values (replica counts: a majority of an even count tolerates no more failures than one fewer). */
  readonly odd?: boolean
  /** Replaces the range in the error message, when the range alone would not explain it. */
  readonly rule?: string
}

export type IntegerOptionSpecs = Readonly<Record<string, IntegerOptionSpec>>

/**
 * Reads `given` (undefined or a plain object) against `specs`: unknown names
 * and out-of-range values throw; absent (or undefined) values take their
 * default. `what` prefixes error messages, e.g. "createCluster".
 */
export function readIntegerOptions<S extends IntegerOptionSpecs>(what: string, given: unknown, specs: S): { [K in keyof S]: number } {
  if (given === undefined) given = {}
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new ShardKVError('ERR_INVALID_OPTION', `${what}: options must be an object, got ${describe(given)}`)
  }
  const known = Object.keys(specs)
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(specs, name)) {
      throw new ShardKVError('ERR_INVALID_OPTION', `${what}: unknown option "${name}"; known options: ${known.join(', ')}`)
    }
  }
  const values: Record<string, number> = {}
  for (const name of known) {
    const spec = specs[name]!
    const value: unknown = (given as Record<string, unknown>)[name]
    values[name] = value === undefined ? spec.default : checkInteger(what, name, value, spec)
  }
  return values as { [K in keyof S]: number }
}

function checkInteger(what: string, name: string, value: unknown, spec: IntegerOptionSpec): number {
  const inRange = Number.isSafeInteger(value) && (value as number) >= spec.min && (value as number) <= spec.max
  if (inRange && (spec.odd !== true || (value as number) % 2 === 1)) return value as number
  const rule = spec.rule ?? `${spec.odd === true ? 'an odd' : 'an'} integer in ${spec.min}..${spec.max}`
  throw new ShardKVError('ERR_INVALID_OPTION', `${what}: ${name} must be ${rule}, got ${describe(value)}`)
}

/** A short, safe description of a value for an error message (never its whole content). */
export function describe(value: unknown): string {
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value)
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value)
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'no prototype'})`
  return typeof value
}
