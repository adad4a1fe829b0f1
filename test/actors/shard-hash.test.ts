import fc from 'fast-check'
import t from 'tap'
import { hashKey, shardOf, utf8ByteLength } from '../../src/actors/shard-hash.js'
import { AssertionError, ShardKVError } from '../../src/errors.js'

/**
 * Test vectors for ports to other languages: key, its UTF-8 bytes (hex), the
 * 32-bit FNV-1a hash, and the shard for 64 (the default), 10 and 4096 shards.
 * "a" and "foobar" are the published FNV-1a 32 vectors.
 */
const VECTORS: ReadonlyArray<readonly [key: string, utf8Hex: string, hash: number, of64: number, of10: number, of4096: number]> = [
  ['', '', 0x811c9dc5, 5, 1, 3525],
  ['a', '61', 0xe40c292c, 44, 0, 2348],
  ['foobar', '666f6f626172', 0xbf9cf968, 40, 0, 2408],
  ['key', '6b6579', 0x6815c86c, 44, 8, 2156],
  ['user:42', '757365723a3432', 0x2f6b7b82, 2, 2, 2946],
  ['shardkv', '73686172646b76', 0xc0f6d222, 34, 2, 546],
  ['a\u0000b', '610062', 0x10f3abd2, 18, 0, 3026],
  ['é', 'c3a9', 0x1e9de8c1, 1, 7, 2241],
  ['naïve café', '6e61c3af766520636166c3a9', 0x7484da15, 21, 7, 2581],
  ['日本語', 'e697a5e69cace8aa9e', 0x805f5ce7, 39, 1, 3303],
  ['😀', 'f09f9880', 0x33a29608, 8, 6, 1544],
  ['\u{10ffff}', 'f48fbfbf', 0x41c1bc3a, 58, 4, 3130],
]

/** The definition, written the obvious way: encode, then hash the bytes. */
function referenceHash(key: string): number {
  let hash = 0x811c9dc5
  for (const byte of new TextEncoder().encode(key)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0
  return hash
}

const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code))
/** Strings of arbitrary UTF-16 code units: ASCII, BMP, valid surrogate pairs and lone surrogates. */
const anyJsString = fc.string({ unit: fc.oneof(anyCodeUnit, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 40 })

t.test('the test vectors hash and shard as documented', async (t) => {
  for (const [key, utf8Hex, hash, of64, of10, of4096] of VECTORS) {
    t.equal(Buffer.from(key, 'utf8').toString('hex'), utf8Hex, `UTF-8 of ${JSON.stringify(key)}`)
    t.equal(hashKey(key), hash, `hash of ${JSON.stringify(key)}`)
    t.equal(shardOf(key, 64), of64, `shard of ${JSON.stringify(key)} among 64`)
    t.equal(shardOf(key, 10), of10, `shard of ${JSON.stringify(key)} among 10`)
    t.equal(shardOf(key, 4096), of4096, `shard of ${JSON.stringify(key)} among 4096`)
  }
})

t.test('a lone surrogate hashes as U+FFFD, as TextEncoder encodes it', async (t) => {
  t.equal(hashKey('x\ud800y'), hashKey('x\ufffdy'))
  t.equal(hashKey('x\udfffy'), hashKey('x\ufffdy'))
  t.equal(hashKey('\ud83d'), hashKey('\ufffd'), 'high surrogate at the end')
  t.equal(hashKey('\ude00\ud83d'), hashKey('\ufffd\ufffd'), 'pair in the wrong order')
  t.equal(hashKey('x\ufffdy'), 0x66b4d003)
})

t.test('hashKey equals FNV-1a over the TextEncoder bytes for any string', async (t) => {
  fc.assert(fc.property(anyJsString, (key) => hashKey(key) === referenceHash(key)))
  t.pass()
})

t.test('utf8ByteLength equals the TextEncoder byte count for any string', async (t) => {
  fc.assert(fc.property(anyJsString, (key) => utf8ByteLength(key) === new TextEncoder().encode(key).length))
  t.equal(utf8ByteLength(''), 0)
  t.equal(utf8ByteLength('abc'), 3)
  t.equal(utf8ByteLength('é日😀'), 2 + 3 + 4)
})

t.test('shardOf is an integer in 0..shards-1', async (t) => {
  fc.assert(
    fc.property(anyJsString, fc.integer({ min: 1, max: 4096 }), (key, shards) => {
      const shard = shardOf(key, shards)
      return Number.isInteger(shard) && shard >= 0 && shard < shards
    }),
  )
  t.pass()
})

t.test('a key that is not a string is ERR_INVALID_KEY', async (t) => {
  for (const key of [undefined, null, 42, {}, ['a']]) {
    t.throws(() => shardOf(key as unknown as string, 64), { code: 'ERR_INVALID_KEY' })
    t.throws(() => utf8ByteLength(key as unknown as string), ShardKVError)
  }
})

t.test('a shard count that is not a positive integer is a programmer error', async (t) => {
  for (const shards of [0, -1, 1.5, Number.NaN]) t.throws(() => shardOf('a', shards), AssertionError)
})
