/**
 * What the search remembers: which operations are linearized, and which
 * configurations it has already been in.
 *
 * A configuration is (known-outcome operations linearized, unknown-outcome
 * operations linearized, model state). One with the same known set and state
 * as a configuration already visited, and a superset of its unknown-outcome
 * operations, can be skipped: whatever completes it completes the visited one
 * too, with the extra unknown-outcome operations appended at the end (they
 * never return, so real time never orders them before anything, and the model
 * accepts them from any state). Without this, every subset of the timed-out
 * operations absorbed so far (by a later put or delete) makes a "new"
 * configuration, and the search redoes the rest of the history for each:
 * exponential in the number of timeouts.
 */

/**
 * The set of linearized entries, with a memo key that stays short however
 * long the history: entries are numbered in call order and the search
 * linearizes mostly in that order, so the set is nearly always "every entry
 * below `low`, most entries up to `high`". The key names `low`, `high` and the
 * holes between them, which are the few operations still in flight around
 * the search front, instead of the whole bitset. Removals are always of the latest addition, so `high` is
 * kept per depth.
 */
export class LinearizedSet {
  private readonly bits: Uint32Array
  private readonly highAtDepth: Int32Array
  private depth = 0
  private low = 0

  constructor(size: number) {
    this.bits = new Uint32Array(Math.ceil(size / 32) + 1)
    this.highAtDepth = new Int32Array(size + 1)
    this.highAtDepth[0] = -1
  }

  add(entry: number): void {
    this.bits[entry >>> 5] |= 1 << (entry & 31)
    this.depth++
    this.highAtDepth[this.depth] = Math.max(this.highAtDepth[this.depth - 1], entry)
    while (this.has(this.low)) this.low++
  }

  removeLast(entry: number): void {
    this.bits[entry >>> 5] &= ~(1 << (entry & 31))
    this.depth--
    if (entry < this.low) this.low = entry
  }

  memoKey(state: number): string {
    const high = this.highAtDepth[this.depth]
    let key = `${state}:${this.low}:${high}`
    if (high <= this.low) return key
    for (let word = (this.low + 1) >>> 5; word <= high >>> 5; word++) {
      let holes = ~(this.bits[word]) & rangeMask(word, this.low + 1, high - 1)
      while (holes !== 0) {
        const lowestBit = holes & -holes
        key += `,${word * 32 + 31 - Math.clz32(lowestBit)}`
        holes ^= lowestBit
      }
    }
    return key
  }

  private has(entry: number): boolean {
    return ((this.bits[entry >>> 5]) & (1 << (entry & 31))) !== 0
  }
}

/** Bits of `word` whose entry numbers fall in first..last. */
function rangeMask(word: number, first: number, last: number): number {
  const base = word * 32
  if (last < base || first > base + 31) return 0
  const from = Math.max(first - base, 0)
  const to = Math.min(last - base, 31)
  const upTo = to === 31 ? -1 : (1 << (to + 1)) - 1
  return upTo & ~((1 << from) - 1)
}

/**
 * Visited configurations: per (known set, state) key, the sets of
 * unknown-outcome operations it was visited with, each a sorted list of their
 * numbers, none a subset of another. Visited means explored and failed, or on
 * the search's current path; skipping a superset is sound in both cases (see
 * the top of this file).
 */
export class DominanceMemo {
  private readonly visited = new Map<string, Int32Array[]>()

  /** Records the configuration and returns true, or returns false when a visited one dominates it. */
  admit(key: string, unknownLinearized: Int32Array): boolean {
    const known = this.visited.get(key)
    if (known === undefined) {
      this.visited.set(key, [unknownLinearized])
      return true
    }
    if (known.some((seen) => isSubset(seen, unknownLinearized))) return false
    const kept = known.filter((seen) => !isSubset(unknownLinearized, seen))
    kept.push(unknownLinearized)
    this.visited.set(key, kept)
    return true
  }
}

/** Whether sorted `small` is a subset of sorted `large`. */
function isSubset(small: Int32Array, large: Int32Array): boolean {
  if (small.length > large.length) return false
  let at = 0
  for (const item of small) {
    while (at < large.length && large[at] < item) at++
    if (at === large.length || large[at] !== item) return false
    at++
  }
  return true
}
