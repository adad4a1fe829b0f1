/**
 * A small seeded pseudo-random generator for the simulator and for tests:
 * sfc32 (Chris Doty-Humphrey's "small fast chaotic" generator, 128 bits of
 * state: three mixing words and a counter), written from its published
 * description. The counter guarantees a period of at least 2^32 from any
 * seed, far more than a test run draws, and it is fast in plain JavaScript.
 *
 * Not cryptographic. Deterministic across runs and platforms: only 32-bit
 * integer arithmetic (`Math.imul`, shifts, `| 0`), no floating point in the
 * state update.
 */
import { assert } from '../errors.js'

const TWO_POW_32 = 0x1_0000_0000

/** Outputs discarded after seeding so that similar seeds diverge before use. */
const WARM_UP_ROUNDS = 15

export class Prng {
  private a = 0
  private b = 0
  private c = 0
  private counter = 1

  /** `seed` is any safe integer; seeds that differ in any bit give unrelated streams. */
  constructor(seed: number) {
    assert(Number.isSafeInteger(seed), `Prng seed must be a safe integer, got ${seed}`)
    // splitmix32 spreads the seed's low and high halves over all three words,
    // so seeds 1, 2, 3 ... (what tests use) do not start in related states.
    let mix = (seed >>> 0) ^ Math.imul(Math.floor(seed / TWO_POW_32) >>> 0, 0x9e37_79b9)
    const nextMixed = (): number => {
      mix = (mix + 0x9e37_79b9) | 0
      return finalizeMix32(mix)
    }
    this.a = nextMixed()
    this.b = nextMixed()
    this.c = nextMixed()
    for (let round = 0; round < WARM_UP_ROUNDS; round++) this.nextUint32()
  }

  /** Uniform integer in [0, 2^32). */
  nextUint32(): number {
    const result = (((this.a + this.b) | 0) + this.counter) | 0
    this.counter = (this.counter + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = ((this.c << 21) | (this.c >>> 11)) + result
    this.c |= 0
    return result >>> 0
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / TWO_POW_32
  }

  /**
   * Uniform integer in [0, bound). Multiplying keeps it branch-free and
   * bounded in time; the bias is below bound / 2^32, negligible for the
   * small bounds a simulation draws (actor counts, delays in ms).
   */
  int(bound: number): number {
    assert(Number.isInteger(bound) && bound > 0 && bound <= TWO_POW_32, `Prng.int bound must be an integer in 1..2^32, got ${bound}`)
    return Math.floor(this.next() * bound)
  }

  /** Uniform integer in [min, max], both inclusive. */
  intBetween(min: number, max: number): number {
    assert(Number.isInteger(min) && Number.isInteger(max) && min <= max, `Prng.intBetween needs integers min <= max, got ${min}, ${max}`)
    return min + this.int(max - min + 1)
  }

  /** True with probability `probability` (0 never draws true, 1 always does). */
  chance(probability: number): boolean {
    return this.next() < probability
  }

  /** Picks one element uniformly; the array must not be empty. */
  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'Prng.pick needs a non-empty array')
    return items[this.int(items.length)] as T
  }

  /**
   * A new generator seeded from this one's output: an independent stream, so
   * that one consumer drawing more numbers (an actor calling random()) does
   * not shift what another consumer (the network) draws.
   */
  fork(): Prng {
    const child = new Prng(0)
    child.a = this.nextUint32() | 0
    child.b = this.nextUint32() | 0
    child.c = this.nextUint32() | 0
    child.counter = 1
    for (let round = 0; round < WARM_UP_ROUNDS; round++) child.nextUint32()
    return child
  }
}

/** The 32-bit avalanche finalizer of MurmurHash3: every input bit flips about half the output bits. */
function finalizeMix32(value: number): number {
  let z = value
  z = Math.imul(z ^ (z >>> 16), 0x85eb_ca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2_ae35)
  return (z ^ (z >>> 16)) | 0
}
