/**
 * The codec's errors: ERR_CODEC, the only error it throws, and the path that
 * an encode error carries to the offending value.
 */
import { ShardKVError } from '../errors.js'

export const FIELD_NAME_PATTERN = /^[A-Za-z_$][A-Za-z0-9_$]*$/

export function codecError(message: string): ShardKVError {
  return new ShardKVError('ERR_CODEC', message)
}

// Encode errors carry the path to the offending value. Containers add their
// segment while the error unwinds, so the success path pays nothing for it.

export class EncodeFault {
  /** Path segments from the innermost container outwards. */
  readonly segments: string[] = []
  /** Set when an enclosing container is the culprit itself: a cycle. */
  cycleSegmentsInside = -1

  constructor(
    readonly problem: string,
    readonly culprit: unknown,
  ) {}
}

export function rethrowInside(error: unknown, container: object, segment: string): never {
  if (!(error instanceof EncodeFault)) throw error
  if (error.culprit === container) error.cycleSegmentsInside = error.segments.length
  error.segments.push(segment)
  throw error
}

export function toCodecError(fault: EncodeFault, rootLabel: string): ShardKVError {
  const outward = fault.segments.slice().reverse()
  if (fault.cycleSegmentsInside >= 0) {
    const cyclePath = outward.slice(0, outward.length - fault.cycleSegmentsInside - 1)
    return codecError(`cannot encode a cycle: ${rootLabel}${cyclePath.join('')} contains itself`)
  }
  return codecError(`cannot encode ${fault.problem} at ${rootLabel}${outward.join('')}`)
}

export function keySegment(key: string): string {
  return FIELD_NAME_PATTERN.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
}

export function describe(value: unknown): string {
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`
  if (typeof value === 'symbol') return `a symbol (${String(value.description)})`
  if (typeof value !== 'object' || value === null) return typeof value
  const prototype: unknown = Object.getPrototypeOf(value)
  const constructorName =
    typeof prototype === 'object' && prototype !== null && 'constructor' in prototype
      ? (prototype.constructor as { name?: unknown }).name
      : undefined
  return typeof constructorName === 'string' && constructorName !== ''
    ? `an instance of ${constructorName}`
    : 'an object with a foreign prototype'
}
