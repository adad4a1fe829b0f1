/**
 * YCSB's key choosers as pure, seeded generators: no clock, no I/O, so a
 * seed fixes every key a run asks for.
 *
 * - `uniform`: every record equally likely.
 * - `zipfian`: the plain zipfian of Gray et al., "Quickly Generating
 *   Billion-Record Synthetic Databases" (SIGMOD '94), as YCSB's
 *   ZipfianGenerator implements it, theta 0.99: record 0 is the most popular,
 *   record r is chosen with probability proportional to 1 / (r + 1)^0.99.
 *   Not YCSB's ScrambledZipfianGenerator: that one hashes ranks drawn from
 *   10^10 items onto the records so that hot keys do not sit next to each
 *   other in a range-partitioned store, which also flattens the head of the
 *   distribution. shardkv hashes keys to shards, so hot keys are spread over
 *   the groups anyway, and the plain generator keeps the skew exactly zipfian
 *   over the record count.
 * - `latest`: YCSB's SkewedLatestGenerator: zipfian over recency, the most
 *   recently inserted record the most popular.
 *
 * The zipfian generator accepts a growing item count (workload D inserts):
 * zeta(n) is extended incrementally, as YCSB does.
 */
import { assert } from '../errors.js'

export const DISTRIBUTIONS = ['uniform', 'zipfian', 'latest'] as const
export type Distribution = (typeof DISTRIBUTIONS)[number]

/** YCSB's zipfian constant. */
export const ZIPFIAN_THETA = 0.99

/** A uniform double in [0, 1). */
export type Random = () => number

/**
 * A seeded PRNG (mulberry32): 32 bits of state, fast, and good enough to
 * pick keys and operations; not for anything cryptographic.
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let mixed = state
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1)
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61)
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** Chooses an index in [0, count) of the records that exist now. */
export interface KeyChooser {
  next(count: number): number
}

export function uniformChooser(random: Random): KeyChooser {
  return { next: (count) => Math.floor(random() * count) }
}

/** zeta(n, theta) = sum over i in 1..n of 1 / i^theta, memoized: a run asks for the same n on every thread. */
const zetaMemo = new Map<string, number>()

export function zeta(count: number, theta: number): number {
  const memoKey = `${count}/${theta}`
  const memoized = zetaMemo.get(memoKey)
  if (memoized !== undefined) return memoized
  const value = extendZeta(0, 0, count, theta)
  zetaMemo.set(memoKey, value)
  return value
}

/** zeta(to) from zeta(from) = `sum`. */
function extendZeta(sum: number, from: number, to: number, theta: number): number {
  let total = sum
  for (let i = from; i < to; i++) total += 1 / Math.pow(i + 1, theta)
  return total
}

export class ZipfianChooser implements KeyChooser {
  private readonly alpha: number
  private readonly zeta2: number
  private readonly headCutoff: number
  private count = 0
  private zetaN = 0
  private eta = 0

  constructor(
    private readonly random: Random,
    private readonly theta: number = ZIPFIAN_THETA,
  ) {
    assert(theta > 0 && theta < 1, `zipfian theta ${theta} must be in (0, 1)`)
    this.alpha = 1 / (1 - theta)
    this.zeta2 = zeta(2, theta)
    this.headCutoff = 1 + Math.pow(0.5, theta)
  }

  /** A rank in [0, count): 0 is the most popular. */
  next(count: number): number {
    if (count !== this.count) this.resize(count)
    const u = this.random()
    const uz = u * this.zetaN
    if (uz < 1) return 0
    if (uz < this.headCutoff) return Math.min(1, count - 1)
    return Math.min(count - 1, Math.floor(count * Math.pow(this.eta * u - this.eta + 1, this.alpha)))
  }

  private resize(count: number): void {
    assert(Number.isSafeInteger(count) && count >= 1, `zipfian over ${count} items`)
    // Growing by inserts: extend the sum rather than recompute it (YCSB does the same).
    this.zetaN = count > this.count && this.count > 0 ? extendZeta(this.zetaN, this.count, count, this.theta) : zeta(count, this.theta)
    this.count = count
    this.eta = count === 1 ? 0 : (1 - Math.pow(2 / count, 1 - this.theta)) / (1 - this.zeta2 / this.zetaN)
  }
}

/** The most recent record (index count - 1) most popular, then by recency, zipfian. */
export function latestChooser(random: Random): KeyChooser {
  const zipfian = new ZipfianChooser(random)
  return { next: (count) => count - 1 - zipfian.next(count) }
}

export function keyChooser(distribution: Distribution, random: Random): KeyChooser {
  switch (distribution) {
    case 'uniform':
      return uniformChooser(random)
    case 'zipfian':
      return new ZipfianChooser(random)
    case 'latest':
      return latestChooser(random)
    default: {
      const never: never = distribution
      throw new Error(`unknown distribution ${String(never)}`)
    }
  }
}
