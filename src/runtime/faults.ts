/**
 * The fault layer's shared state: one SharedArrayBuffer written by the main
 * thread (ActorSystem) and read by every sender (worker hosts and client
 * endpoints) before each send. Faults are applied on the sending side, so a
 * partition cuts traffic even between two workers that never talk to the
 * main thread.
 *
 * Layout: Int32 partition set per address (0 = in no set: reaches everyone),
 * then Float64 drop rate, duplicate rate, maximum delay.
 */
import { ShardKVError } from '../errors.js'

/** Addresses are small integers; this bounds actors + endpoints in one system. */
export const MAX_ADDRESSES = 1024

const SETS_BYTES = MAX_ADDRESSES * Int32Array.BYTES_PER_ELEMENT
const DROP_RATE = 0
const DUPLICATE_RATE = 1
const MAX_DELAY_MS = 2
const RATE_COUNT = 3

export interface UnreliableOptions {
  /** Probability in [0, 1] that a message is dropped. */
  drop?: number
  /** Probability in [0, 1] that a message is delivered twice. */
  duplicate?: number
  /** Each message is held for a uniform random 0..delayMs before it is sent (reorders). */
  delayMs?: number
}

export function createFaultTableBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(SETS_BYTES + RATE_COUNT * Float64Array.BYTES_PER_ELEMENT)
}

export class FaultTable {
  private readonly setOf: Int32Array
  private readonly rates: Float64Array

  constructor(buffer: SharedArrayBuffer) {
    this.setOf = new Int32Array(buffer, 0, MAX_ADDRESSES)
    this.rates = new Float64Array(buffer, SETS_BYTES, RATE_COUNT)
  }

  /** `sets` are lists of addresses; an address may appear in at most one set. */
  partition(sets: readonly (readonly number[])[]): void {
    const seen = new Set<number>()
    for (const set of sets) {
      for (const address of set) {
        if (seen.has(address)) {
          throw new ShardKVError('ERR_INVALID_OPTION', `partition: address ${address} appears in two sets; give each actor at most one set`)
        }
        seen.add(address)
      }
    }
    this.heal()
    sets.forEach((set, index) => {
      for (const address of set) Atomics.store(this.setOf, address, index + 1)
    })
  }

  heal(): void {
    for (let address = 0; address < MAX_ADDRESSES; address++) Atomics.store(this.setOf, address, 0)
  }

  unreliable(options: UnreliableOptions): void {
    const drop = options.drop ?? 0
    const duplicate = options.duplicate ?? 0
    const delayMs = options.delayMs ?? 0
    checkRate('drop', drop)
    checkRate('duplicate', duplicate)
    if (!Number.isFinite(delayMs) || delayMs < 0 || delayMs > 60_000) {
      throw new ShardKVError('ERR_INVALID_OPTION', `unreliable: delayMs must be within 0..60000, got ${delayMs}`)
    }
    this.rates[DROP_RATE] = drop
    this.rates[DUPLICATE_RATE] = duplicate
    this.rates[MAX_DELAY_MS] = delayMs
  }

  reliable(): void {
    this.rates.fill(0)
  }

  isCut(from: number, to: number): boolean {
    const a = Atomics.load(this.setOf, from)
    const b = Atomics.load(this.setOf, to)
    return a !== 0 && b !== 0 && a !== b
  }

  get dropRate(): number {
    return this.rates[DROP_RATE]!
  }

  get duplicateRate(): number {
    return this.rates[DUPLICATE_RATE]!
  }

  get maxDelayMs(): number {
    return this.rates[MAX_DELAY_MS]!
  }
}

function checkRate(name: string, value: number): void {
  if (!(value >= 0 && value <= 1)) {
    throw new ShardKVError('ERR_INVALID_OPTION', `unreliable: ${name} must be a probability within 0..1, got ${value}`)
  }
}
