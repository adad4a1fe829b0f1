/**
 * Ballots: the totally ordered proposal numbers of Paxos. A ballot is
 * (round, replica id), compared by round first and replica id second, so two
 * replicas never own the same ballot and every replica can always pick one
 * higher than any it has seen by taking the next round.
 */
import { assert } from '../errors.js'

export interface Ballot {
  /** >= 0; round 0 belongs to no replica and is below every real ballot. */
  readonly round: number
  /** The replica that owns this ballot ('' only for the zero ballot). */
  readonly replica: string
}

/** Below every ballot a replica can own: what an acceptor has promised before it promised anything. */
export const ZERO_BALLOT: Ballot = { round: 0, replica: '' }

/** Negative, zero or positive as `a` is below, equal to or above `b`. */
export function compareBallots(a: Ballot, b: Ballot): number {
  if (a.round !== b.round) return a.round - b.round
  if (a.replica === b.replica) return 0
  return a.replica < b.replica ? -1 : 1
}

export function ballotsEqual(a: Ballot, b: Ballot): boolean {
  return compareBallots(a, b) === 0
}

/** The lowest ballot of `replica` above every ballot of round `aboveRound`. */
export function nextBallot(replica: string, aboveRound: number): Ballot {
  assert(replica.length > 0, 'a ballot belongs to a named replica')
  assert(Number.isSafeInteger(aboveRound + 1), `ballot round stays a safe integer, got ${aboveRound}`)
  return { round: aboveRound + 1, replica }
}

export function formatBallot(ballot: Ballot): string {
  return `${ballot.round}.${ballot.replica}`
}
