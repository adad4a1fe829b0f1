import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { isDeepStrictEqual } from 'node:util'

import fc from 'fast-check'
import t from 'tap'

import { ShardKVError } from '../../src/errors.js'
import type { Message } from '../../src/runtime/actor.js'
import { Codec, codec, MAX_DEPTH, type Layout, type MessageOf } from '../../src/runtime/codec.js'
import {
  arbitraryBytes,
  arbitraryForLayout,
  arbitraryStoredValue,
  arbitraryString,
  arbitraryValue,
  parseFieldSpec,
} from '../support/arbitraries.js'

// Layouts of the kinds the system uses, on a private codec so their ids never
// clash with the real ones registered on the process-wide `codec`.
const PUT_LAYOUT = {
  type: 'test.put',
  id: 1,
  fields: [
    ['seq', 'u32'],
    ['key', 'str'],
    ['value', 'value'],
    ['ttlMs', 'u32?'],
  ],
} as const satisfies Layout

const REPRESENTATIVE_LAYOUTS: readonly Layout[] = [
  PUT_LAYOUT,
  {
    type: 'test.reply',
    id: 2,
    fields: [
      ['seq', 'u32'],
      ['ok', 'bool'],
      ['value', 'value?'],
      ['error', 'str?'],
    ],
  },
  {
    type: 'test.accept-batch',
    id: 3,
    fields: [
      ['ballot', 'u32'],
      ['leader', 'u8'],
      ['epoch', 'i32'],
      ['fromSlot', 'u32'],
      ['weight', 'f64'],
      ['entries', 'value'],
      ['checksum', 'bytes'],
      ['port', 'u16'],
    ],
  },
  {
    type: 'test.every-kind-optional',
    id: 4,
    fields: [
      ['a', 'u8?'],
      ['b', 'u16?'],
      ['c', 'u32?'],
      ['d', 'i32?'],
      ['e', 'f64?'],
      ['f', 'bool?'],
      ['g', 'str?'],
      ['h', 'bytes?'],
      ['i', 'value?'],
      ['j', 'str'],
    ],
  },
  { type: 'test.empty', id: 255, fields: [] },
]

function representativeCodec(): Codec {
  const local = new Codec()
  for (const layout of REPRESENTATIVE_LAYOUTS) local.define(layout)
  return local
}

/**
 * Imports every compiled module that registers layouts on the process-wide
 * codec, so each message type in the system is round-tripped below without
 * this file having to list it.
 */
async function importModulesThatDefineLayouts(): Promise<string[]> {
  const sourceRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../src')
  const found = compiledModules(sourceRoot).filter(
    (file) => !file.endsWith(join('runtime', 'codec.js')) && readFileSync(file, 'utf8').includes('codec.define('),
  )
  for (const file of found) await import(pathToFileURL(file).href)
  return found
}

function compiledModules(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name)
    if (entry.isDirectory()) return compiledModules(path)
    return entry.name.endsWith('.js') ? [path] : []
  })
}

/** The ERR_CODEC thrown by `action`, undefined if it returned; anything else is rethrown. */
function codecErrorFrom(action: () => unknown): ShardKVError | undefined {
  try {
    action()
    return undefined
  } catch (error) {
    if (error instanceof ShardKVError && error.code === 'ERR_CODEC') return error
    throw error
  }
}

function rejects(action: () => unknown): boolean {
  return codecErrorFrom(action) !== undefined
}

function roundTripsMessage(target: Codec, message: Message): boolean {
  return isDeepStrictEqual(target.decode(target.encode(message)), message)
}

/** `text` with every lone surrogate replaced by U+FFFD, written independently of the codec. */
function wellFormed(text: string): string {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
}

/** Messages of types that have no layout: they travel in the generic encoding. */
const arbitraryGenericMessage: fc.Arbitrary<Message> = fc
  .tuple(
    fc.string({ maxLength: 8 }),
    fc.dictionary(fc.string({ maxLength: 8 }), arbitraryValue, { maxKeys: 6, noNullPrototype: true }),
  )
  .map(([suffix, fields]) => ({ ...fields, type: `test.generic.${suffix}` }))

function nested(levels: number): unknown {
  let value: unknown = 0
  for (let i = 0; i < levels; i++) value = [value]
  return value
}

t.test('generic encoding', async (t) => {
  t.test('round-trips any supported value', async (t) => {
    fc.assert(fc.property(arbitraryValue, (value) => isDeepStrictEqual(codec.decodeValue(codec.encodeValue(value)), value)))
    t.pass()
  })

  t.test('re-encodes a decoded value to the same bytes (snapshots are stable)', async (t) => {
    fc.assert(
      fc.property(arbitraryValue, (value) => {
        const bytes = codec.encodeValue(value)
        return Buffer.from(codec.encodeValue(codec.decodeValue(bytes))).equals(bytes)
      }),
    )
    t.pass()
  })

  t.test('brings stored values back in the type stored: string stays string, bytes stay Uint8Array', async (t) => {
    fc.assert(
      fc.property(arbitraryStoredValue, (stored) => {
        const snapshot = new Map([['key', stored]])
        const decoded = (codec.decodeValue(codec.encodeValue(snapshot)) as Map<string, unknown>).get('key')
        if (typeof stored === 'string') return decoded === stored
        const plainBytes = decoded instanceof Uint8Array && Object.getPrototypeOf(decoded) === Uint8Array.prototype
        return plainBytes && Buffer.from(stored).equals(decoded)
      }),
    )
    t.pass()
  })

  t.test('decodes a Buffer as a plain Uint8Array and an empty Uint8Array as bytes, not an array', async (t) => {
    const decoded = codec.decodeValue(codec.encodeValue([Buffer.from('hi'), new Uint8Array(0)])) as unknown[]
    t.equal(Object.getPrototypeOf(decoded[0]), Uint8Array.prototype)
    t.same(Array.from(decoded[0] as Uint8Array), [104, 105])
    t.equal(Object.getPrototypeOf(decoded[1]), Uint8Array.prototype)
  })

  t.test('replaces lone surrogates with U+FFFD, like TextEncoder', async (t) => {
    const surrogateOrAscii = fc.oneof(
      fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code)),
      fc.constantFrom('a', '\u00e9', '\u{1F600}'),
    )
    fc.assert(
      fc.property(fc.string({ unit: surrogateOrAscii, maxLength: 40 }), (text) => {
        return codec.decodeValue(codec.encodeValue(text)) === wellFormed(text)
      }),
    )
    t.equal(codec.decodeValue(codec.encodeValue('a\uD800b')), 'a\uFFFDb')
  })

  t.test('keeps a leading byte order mark, -0, NaN, infinities and __proto__ keys', async (t) => {
    const value = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>
    const decoded = codec.decodeValue(codec.encodeValue(value)) as Record<string, unknown>
    t.equal(Object.getPrototypeOf(decoded), Object.prototype)
    t.same(Object.keys(decoded), ['__proto__'])
    t.equal(codec.decodeValue(codec.encodeValue('\uFEFFx')), '\uFEFFx')
    t.ok(Object.is(codec.decodeValue(codec.encodeValue(-0)), -0))
    t.ok(Number.isNaN(codec.decodeValue(codec.encodeValue(NaN))))
    t.equal(codec.decodeValue(codec.encodeValue(-Infinity)), -Infinity)
  })

  t.test('is compact for small values', async (t) => {
    const sizes: ReadonlyArray<readonly [unknown, number]> = [
      [0, 1],
      [127, 1],
      [-32, 1],
      [128, 3],
      [-40_000, 5],
      [2 ** 40, 9],
      [0.5, 9],
      [undefined, 1],
      ['abc', 4],
      ['x'.repeat(31), 32],
      ['x'.repeat(32), 34],
      [new Uint8Array(3), 5],
      [{ type: 'get', key: 'k' }, 1 + 5 + 4 + 4 + 2],
      [[1, 2], 3],
    ]
    for (const [value, expectedBytes] of sizes) t.equal(codec.encodeValue(value).length, expectedBytes, String(value))
  })

  t.test('reads holes in arrays as undefined', async (t) => {
    t.same(codec.decodeValue(codec.encodeValue([1, , 3])), [1, undefined, 3])
  })
})

t.test('layouts', async (t) => {
  const discovered = await importModulesThatDefineLayouts()
  const local = representativeCodec()
  const targets: ReadonlyArray<readonly [string, Codec]> = [
    ['representative layouts', local],
    [`process-wide codec (layouts from ${discovered.length} modules)`, codec],
  ]

  for (const [label, target] of targets) {
    t.test(`${label}: every registered layout round-trips`, async (t) => {
      for (const layout of target.layouts()) {
        fc.assert(fc.property(arbitraryForLayout(layout), (message) => roundTripsMessage(target, message)))
        t.pass(`${layout.type} (id ${layout.id})`)
      }
    })

    t.test(`${label}: every layout rejects a wrong value in each field, naming type and field`, async (t) => {
      for (const layout of target.layouts()) {
        for (const [name, spec] of layout.fields) {
          const { kind } = parseFieldSpec(spec)
          const wrong = kind === 'value' ? () => 0 : kind === 'str' ? 7 : 'not a number or bytes'
          const error = codecErrorFrom(() => target.encode(sampleOf(layout, { [name]: wrong })))
          t.match(error?.message, layout.type, `${layout.type}.${name} names the type`)
          t.match(error?.message, name, `${layout.type}.${name} names the field`)
        }
      }
    })
  }

  t.test('messages without a layout round-trip through the generic encoding', async (t) => {
    fc.assert(fc.property(arbitraryGenericMessage, (message) => roundTripsMessage(local, message)))
    t.pass()
  })

  t.test('a message with a layout is a frame starting with its id; one without starts with 0', async (t) => {
    t.equal(local.encode(sampleOf(PUT_LAYOUT, {}))[0], PUT_LAYOUT.id)
    t.equal(local.encode({ type: 'test.no-layout' })[0], 0)
  })

  t.test('is smaller than the generic encoding of the same message', async (t) => {
    const message = { type: 'test.put', seq: 1234567, key: 'user:00001', value: 'v' }
    t.ok(local.encode(message).length < new Codec().encode(message).length)
  })

  t.test('rejects numbers out of range or not integral for integer kinds', async (t) => {
    const bad: ReadonlyArray<readonly [string, unknown]> = [
      ['u8', 256],
      ['u8', -1],
      ['u16', 65_536],
      ['u32', 2 ** 32],
      ['u32', 1.5],
      ['u32', NaN],
      ['i32', 2 ** 31],
      ['i32', '1'],
      ['bool', 1],
      ['bytes', [1, 2]],
      ['str', null],
    ]
    const fieldOf: Readonly<Record<string, string>> = {
      u8: 'leader',
      u16: 'port',
      u32: 'ballot',
      i32: 'epoch',
      bool: 'ok',
      bytes: 'checksum',
      str: 'key',
    }
    for (const [kind, value] of bad) {
      const layout = REPRESENTATIVE_LAYOUTS.find((candidate) => candidate.fields.some(([name]) => name === fieldOf[kind]))!
      const error = codecErrorFrom(() => local.encode(sampleOf(layout, { [fieldOf[kind]!]: value })))
      t.match(error?.message, new RegExp(`field ${fieldOf[kind]!} must be ${kind}`), `${kind} rejects ${String(value)}`)
    }
  })

  t.test('rejects a field the layout lacks instead of dropping it', async (t) => {
    const withExtraField = { ...sampleOf(PUT_LAYOUT, {}), expiresAtMs: 5 }
    const error = codecErrorFrom(() => local.encode(withExtraField))
    t.match(error?.message, /expiresAtMs not in its layout/)
  })

  t.test('ignores an extra key that holds undefined: nothing is lost', async (t) => {
    const decoded = local.decode(local.encode({ ...sampleOf(PUT_LAYOUT, {}), unused: undefined } as Message))
    t.notOk('unused' in decoded)
  })

  t.test('reads an optional field holding undefined back as absent', async (t) => {
    const decoded = local.decode(local.encode({ ...sampleOf(PUT_LAYOUT, {}), ttlMs: undefined } as Message))
    t.notOk('ttlMs' in decoded)
  })

  t.test('MessageOf derives the message type from a layout', async (t) => {
    const put: MessageOf<typeof PUT_LAYOUT> = { type: 'test.put', seq: 1, key: 'k', value: 'v' }
    // @ts-expect-error seq is a u32, not a string
    const wrong: MessageOf<typeof PUT_LAYOUT> = { type: 'test.put', seq: '1', key: 'k', value: 'v' }
    t.ok(roundTripsMessage(local, put))
    t.ok(rejects(() => local.encode(wrong)))
  })
})

t.test('define', async (t) => {
  t.test('accepts the same layout twice, or an equal copy (a module imported twice)', async (t) => {
    const local = representativeCodec()
    local.define(PUT_LAYOUT)
    local.define({ ...PUT_LAYOUT, fields: PUT_LAYOUT.fields.map(([name, kind]) => [name, kind] as const) })
    t.equal(local.layouts().length, REPRESENTATIVE_LAYOUTS.length)
  })

  t.test('throws on a taken id or type, and on malformed layouts', async (t) => {
    const local = representativeCodec()
    const malformed: readonly Layout[] = [
      { type: 'test.other', id: PUT_LAYOUT.id, fields: [] },
      { type: PUT_LAYOUT.type, id: 99, fields: [] },
      { type: 'test.zero', id: 0, fields: [] },
      { type: 'test.big', id: 256, fields: [] },
      { type: '', id: 98, fields: [] },
      { type: 'test.reserved', id: 97, fields: [['type', 'str']] },
      { type: 'test.twice', id: 96, fields: [['a', 'u8'], ['a', 'u8']] },
      { type: 'test.kind', id: 95, fields: [['a', 'u64' as 'u32']] },
      { type: 'test.name', id: 94, fields: [['not a name', 'u8']] },
      { type: 'test.proto', id: 93, fields: [['__proto__', 'u8']] },
    ]
    for (const layout of malformed) t.throws(() => local.define(layout), `${layout.type} (id ${layout.id})`)
  })
})

t.test('rejections', async (t) => {
  t.test('names what cannot be encoded and where', async (t) => {
    class Point {}
    const cases: ReadonlyArray<readonly [unknown, RegExp]> = [
      [{ a: () => 1 }, /function \(a\) at \$\.a$/],
      [{ a: [1, Symbol('s')] }, /symbol \(s\) at \$\.a\[1\]$/],
      [{ 'not an identifier': new Date() }, /instance of Date at \$\["not an identifier"\]$/],
      [new Map([[1, new Point()]]), /instance of Point at \$\[map value #0\]$/],
      [new Map([[/x/, 1]]), /instance of RegExp at \$\[map key #0\]$/],
      [new Set([new Int32Array(1)]), /instance of Int32Array at \$\[set item #0\]$/],
      [[new ArrayBuffer(1)], /instance of ArrayBuffer at \$\[0\]$/],
      [[Promise.resolve()], /instance of Promise/],
      [[new WeakMap()], /instance of WeakMap/],
      [new (class Special extends Map {})(), /instance of Special/],
      [2n ** 70_000n, /bigint over/],
      [nested(MAX_DEPTH + 1), /nested deeper than 64/],
    ]
    for (const [value, expected] of cases) t.match(codecErrorFrom(() => codec.encodeValue(value))?.message, expected)
    t.ok(codecErrorFrom(() => codec.encodeValue(nested(MAX_DEPTH))) === undefined, 'nesting at the limit is fine')
  })

  t.test('reports cycles through objects, arrays, Maps and Sets', async (t) => {
    const object: Record<string, unknown> = {}
    object['self'] = object
    const array: unknown[] = []
    array.push(1, array)
    const inner = new Map<string, unknown>()
    inner.set('back', new Set([inner]))
    const cases: ReadonlyArray<readonly [unknown, RegExp]> = [
      [object, /cycle: \$ contains itself/],
      [{ list: [array] }, /cycle: \$\.list\[0\] contains itself/],
      // The cycle is reported at whichever of its members the depth limit stopped on.
      [{ inner }, /cycle: \$\.inner(\[map value #0\])? contains itself/],
    ]
    for (const [value, expected] of cases) t.match(codecErrorFrom(() => codec.encodeValue(value))?.message, expected)
  })

  t.test('rejects a message that is not an object with a string type', async (t) => {
    for (const bad of [null, 'put', { type: 5 }, {}]) {
      t.ok(rejects(() => codec.encode(bad as unknown as Message)), JSON.stringify(bad))
    }
  })

  t.test('rejects every truncation of a valid encoding', async (t) => {
    const local = representativeCodec()
    const values = arbitraryValue.map((value) => local.encodeValue(value))
    const messages = fc
      .oneof(
        fc.constantFrom(...REPRESENTATIVE_LAYOUTS).chain((layout) => arbitraryForLayout(layout)),
        arbitraryGenericMessage,
      )
      .map((message) => local.encode(message))
    const everyCutRejected = (bytes: Uint8Array, decode: (prefix: Uint8Array) => unknown): boolean => {
      for (let cut = 0; cut < bytes.length; cut++) if (!rejects(() => decode(bytes.subarray(0, cut)))) return false
      return true
    }
    fc.assert(fc.property(values, (bytes) => everyCutRejected(bytes, (prefix) => local.decodeValue(prefix))))
    fc.assert(fc.property(messages, (bytes) => everyCutRejected(bytes, (prefix) => local.decode(prefix))))
    t.pass()
  })

  t.test('random garbage never throws anything but ERR_CODEC', async (t) => {
    const local = representativeCodec()
    const decodeEither = (bytes: Uint8Array): void => {
      codecErrorFrom(() => local.decode(bytes))
      codecErrorFrom(() => local.decodeValue(bytes))
    }
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), decodeEither), { numRuns: 2000 })
    const corrupted = fc
      .tuple(arbitraryValue, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
      .map(([value, edits]) => {
        const message = { type: 'test.put', seq: 1, key: 'k', value }
        const bytes = local.encode(message)
        for (const [at, byte] of edits) bytes[at % bytes.length] = byte
        return bytes
      })
    fc.assert(fc.property(corrupted, decodeEither), { numRuns: 1000 })
    t.pass()
  })

  t.test('rejects absurd lengths without allocating them', async (t) => {
    const hostile: ReadonlyArray<readonly [string, number[]]> = [
      ['array of 2^31-1', [0x8b, 0xff, 0xff, 0xff, 0xff, 0x07]],
      ['string of 2^31-1', [0x89, 0xff, 0xff, 0xff, 0xff, 0x07]],
      ['bytes of 2^31-1', [0x8a, 0xff, 0xff, 0xff, 0xff, 0x07]],
      ['map of 2^31-1', [0x8d, 0xff, 0xff, 0xff, 0xff, 0x07, 0, 0]],
      ['bigint of 2^31-1', [0x87, 0xff, 0xff, 0xff, 0xff, 0x07]],
      ['varint over 2^31-1', [0x89, 0xff, 0xff, 0xff, 0xff, 0x0f]],
      ['varint of 6 bytes', [0x89, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]],
      ['nesting past the limit', [...new Array<number>(MAX_DEPTH + 1).fill(0x91), 0]],
      ['unassigned tag', [0xd0]],
      ['invalid UTF-8', [0xa2, 0xc3, 0x28]],
      ['trailing bytes', [0x01, 0x02]],
    ]
    const local = representativeCodec()
    for (const [label, bytes] of hostile) {
      const input = Uint8Array.from(bytes)
      t.ok(rejects(() => local.decodeValue(input)) && rejects(() => local.decode(Uint8Array.of(0, ...bytes))), label)
    }
    t.ok(rejects(() => local.decode(Uint8Array.of(0x07))), 'unknown layout id')
    t.match(codecErrorFrom(() => local.decode(Uint8Array.of(2, 0, 0, 0, 0, 0, 2)))?.message, /bool field holds 2/)
    t.ok(rejects(() => local.decode(Uint8Array.of(0, 0x01))), 'generic frame holding a non-message')
    t.ok(rejects(() => local.decode(Uint8Array.of(4, 0x00, 0xfe, 0xa0))), 'presence bits that no field uses')
    t.ok(rejects(() => local.decode('bytes' as unknown as Uint8Array)), 'not a Uint8Array')
  })
})

t.test('memory', async (t) => {
  t.test('decode results share no memory with the input, even in a reused SharedArrayBuffer', async (t) => {
    const local = representativeCodec()
    const ring = new Uint8Array(new SharedArrayBuffer(1 << 16))
    fc.assert(
      fc.property(arbitraryForLayout(PUT_LAYOUT), arbitraryBytes, fc.nat(1000), (message, bytes, at) => {
        const sent = { ...message, value: bytes }
        const decoded = local.decode(copiedInto(ring, at, local.encode(sent)))
        const decodedValue = local.decodeValue(copiedInto(ring, at + 4096, local.encodeValue(sent)))
        ring.fill(0xaa)
        return isDeepStrictEqual(decoded, sent) && isDeepStrictEqual(decodedValue, sent)
      }),
    )
    t.pass()
  })

  t.test('decodes from a Buffer view without aliasing it', async (t) => {
    const pooled = Buffer.concat([Buffer.alloc(3), Buffer.from(codec.encodeValue({ blob: Uint8Array.of(1, 2, 3) }))])
    const decoded = codec.decodeValue(pooled.subarray(3)) as { blob: Uint8Array }
    pooled.fill(0)
    t.same(Array.from(decoded.blob), [1, 2, 3])
    t.equal(Object.getPrototypeOf(decoded.blob), Uint8Array.prototype)
  })

  t.test('encode returns fresh bytes each time', async (t) => {
    const first = codec.encodeValue('first')
    const second = codec.encodeValue('second')
    t.not(first.buffer, second.buffer)
    t.equal(codec.decodeValue(first), 'first')
  })

  t.test('encodeBorrowed lends the scratch until the next encode', async (t) => {
    const local = representativeCodec()
    const message = sampleOf(PUT_LAYOUT, {})
    const borrowed = local.encodeBorrowed(message)
    t.same(Array.from(borrowed), Array.from(local.encode(message)))
    t.same(local.decode(borrowed), message)
  })

  t.test('encodeValueBorrowed lends the same bytes encodeValue returns', async (t) => {
    const value = { list: [1, 'two', new Uint8Array([3])], nested: new Map([['k', { n: -1 }]]) }
    const borrowed = codec.encodeValueBorrowed(value)
    t.same(Array.from(borrowed), Array.from(codec.encodeValue(value)))
  })

  t.test('scratchVersion moves with every write to the scratch, and only then', async (t) => {
    const local = representativeCodec()
    const message = sampleOf(PUT_LAYOUT, {})
    const borrowed = local.encodeBorrowed(message)
    const version = local.scratchVersion
    local.decode(borrowed)
    t.equal(local.scratchVersion, version, 'a decode leaves the borrowed bytes intact')
    local.encodeValue('other')
    t.not(local.scratchVersion, version, 'an encode of anything moves it')
  })

  t.test('an encode run from a getter during another encode gets its own scratch', async (t) => {
    const inner = { type: 'test.inner', n: 1 }
    let innerBytes: Uint8Array = new Uint8Array(0)
    const outer = {
      get payload(): string {
        innerBytes = codec.encode(inner)
        return 'x'.repeat(100)
      },
    }
    const outerBytes = codec.encodeValue(outer)
    t.same(codec.decode(innerBytes), inner)
    t.same(codec.decodeValue(outerBytes), { payload: 'x'.repeat(100) })
  })

  t.test('round-trips strings and bytes far larger than the scratch buffer', async (t) => {
    fc.assert(
      fc.property(arbitraryString, fc.integer({ min: 1, max: 20_000 }), (unit, times) => {
        const text = unit.repeat(Math.ceil(times / Math.max(unit.length, 1)))
        return codec.decodeValue(codec.encodeValue(text)) === text
      }),
      { numRuns: 50 },
    )
    const big = new Uint8Array(1_000_000).map((_, i) => i & 0xff)
    t.ok(isDeepStrictEqual(codec.decodeValue(codec.encodeValue(big)), big))
  })
})

/** A view of `ring` holding `frame` at `at`, as a receiver sees a frame in its lane. */
function copiedInto(ring: Uint8Array, at: number, frame: Uint8Array): Uint8Array {
  ring.set(frame, at)
  return ring.subarray(at, at + frame.length)
}

/** A valid message of `layout` (first values of its arbitrary) with `overrides` applied. */
function sampleOf(layout: Layout, overrides: Readonly<Record<string, unknown>>): Message {
  const [sample] = fc.sample(arbitraryForLayout(layout), { numRuns: 1, seed: 42 })
  return { ...sample!, ...overrides }
}

t.test('a short key that lands at the end of the scratch buffer survives the buffer growing under its header', async (t) => {
  // An object key's text is written before its length header; the header's own bounds check could
  // grow the buffer and keep only the bytes before the header, turning the text into zeros ("op"
  // became "\0\0"). A fresh codec has a small scratch buffer: an array of one-byte strings slides
  // the key "op" across its end, one byte at a time.
  const corrupted: string[] = []
  for (let count = 2000; count < 2060; count++) {
    for (const odd of [false, true]) {
      const local = new Codec()
      const filler = Array.from({ length: count }, (_, n) => (odd && n === 0 ? 'xy' : 'x'))
      const value = { filler, op: 'append', k: 'v' }
      if (!isDeepStrictEqual(local.decodeValue(local.encodeValue(value)), value)) corrupted.push(`value, ${count} fillers${odd ? ' (odd)' : ''}`)
      const message = { type: 'test.generic', filler, op: 'append', k: 'v' }
      if (!isDeepStrictEqual(local.decode(local.encode(message)), message)) corrupted.push(`message, ${count} fillers${odd ? ' (odd)' : ''}`)
    }
  }
  t.same(corrupted, [], 'every key round-trips wherever it falls')
})
