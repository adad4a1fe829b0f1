/**
 * fast-check arbitraries for what the codec carries, shared by every test that
 * sends messages or stores values. `arbitraryForLayout` derives a message
 * generator from a layout, so a new layout is covered without new test code.
 */
import fc from 'fast-check'

import type { FieldKind, FieldSpec, Layout } from '../../src/runtime/codec.js'
import type { Message } from '../../src/runtime/actor.js'

// Lengths straddle the codec's thresholds: 31-byte fixstrings, the ASCII fast
// paths (16 bytes on decode, 32 chars on encode), 15-item fixarrays and
// fixobjects, 64-byte on-heap typed arrays.
const MAX_STRING_CHARS = 80
const MAX_BYTES = 160
const MAX_CONTAINER_ITEMS = 20
const MAX_MAP_ENTRIES = 6
const MAX_NESTING = 5

/** Well-formed strings: ASCII and Latin-1, any code point, and multi-unit graphemes. */
export const arbitraryString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary-ascii', maxLength: MAX_STRING_CHARS }),
  fc.string({ unit: 'binary', maxLength: MAX_STRING_CHARS }),
  fc.string({ unit: 'grapheme', maxLength: MAX_STRING_CHARS / 4 }),
)

export const arbitraryBytes: fc.Arbitrary<Uint8Array> = fc.uint8Array({ maxLength: MAX_BYTES })

/** Integers around every width boundary of the encoding, and the awkward doubles. */
export const arbitraryNumber: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: -40, max: 140 }),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double(),
  fc.constantFrom(-0, NaN, Infinity, -Infinity, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, Number.MIN_VALUE, -0x8001, 0x8000),
)

/** What a store holds: the codec must bring each back in the type it was given. */
export const arbitraryStoredValue: fc.Arbitrary<string | Uint8Array> = fc.oneof(arbitraryString, arbitraryBytes)

const arbitraryKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'type', '', '0', '10') },
)

const arbitraryLeaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(undefined, null, true, false),
  arbitraryNumber,
  fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
  arbitraryString,
  arbitraryBytes,
)

/** Any value in the codec's generic encoding, nested up to a few levels. */
export const arbitraryValue: fc.Arbitrary<unknown> = fc.letrec<{
  value: unknown
  array: unknown[]
  object: Record<string, unknown>
  map: Map<unknown, unknown>
  set: Set<unknown>
}>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: MAX_NESTING },
    { weight: 4, arbitrary: arbitraryLeaf },
    tie('array'),
    tie('object'),
    tie('map'),
    tie('set'),
  ),
  array: fc.array(tie('value'), { maxLength: MAX_CONTAINER_ITEMS }),
  object: fc.dictionary(arbitraryKey, tie('value'), { maxKeys: MAX_CONTAINER_ITEMS, noNullPrototype: true }),
  map: fc.map(tie('value'), tie('value'), { maxKeys: MAX_MAP_ENTRIES }),
  set: fc.set(tie('value'), { maxLength: MAX_MAP_ENTRIES }),
})).value

/** Values of one field kind, over its whole range. */
export function arbitraryForKind(kind: FieldKind): fc.Arbitrary<unknown> {
  switch (kind) {
    case 'u8':
      return fc.integer({ min: 0, max: 0xff })
    case 'u16':
      return fc.integer({ min: 0, max: 0xffff })
    case 'u32':
      return fc.oneof(fc.integer({ min: 0, max: 0xff }), fc.integer({ min: 0, max: 0xffff_ffff }))
    case 'i32':
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })
    case 'f64':
      return arbitraryNumber
    case 'bool':
      return fc.boolean()
    case 'str':
      return arbitraryString
    case 'bytes':
      return arbitraryBytes
    case 'value':
      return arbitraryValue
    default:
      return assertNever(kind)
  }
}

export function parseFieldSpec(spec: FieldSpec): { readonly kind: FieldKind; readonly optional: boolean } {
  const optional = spec.endsWith('?')
  return { kind: (optional ? spec.slice(0, -1) : spec) as FieldKind, optional }
}

/**
 * Messages of `layout`'s type. An optional field is either absent or holds a
 * value (never an explicit undefined), which is the form decode returns.
 */
export function arbitraryForLayout(layout: Layout): fc.Arbitrary<Message & Readonly<Record<string, unknown>>> {
  const model: Record<string, fc.Arbitrary<unknown>> = { type: fc.constant(layout.type) }
  const requiredKeys = ['type']
  for (const [name, spec] of layout.fields) {
    const { kind, optional } = parseFieldSpec(spec)
    // An optional 'value' field holding undefined reads back as absent.
    model[name] = optional && kind === 'value' ? arbitraryValue.filter((value) => value !== undefined) : arbitraryForKind(kind)
    if (!optional) requiredKeys.push(name)
  }
  return fc.record(model, { requiredKeys, noNullPrototype: true }) as fc.Arbitrary<Message & Readonly<Record<string, unknown>>>
}

function assertNever(value: never): never {
  throw new Error(`unhandled field kind ${String(value)}`)
}
