/** The Multi-Paxos module's surface for the actors that host it. */
export { type Ballot, ZERO_BALLOT, compareBallots, formatBallot } from './ballot.js'
export { type AcceptedEntry, type PaxosMessage, isPaxosMessage } from './messages.js'
export { MultiPaxos, type CommittedSlot, type OutgoingMessage, type ProposeResult, type Ready, type Role } from './multi-paxos.js'
export {
  type AcceptorState,
  type MultiPaxosOptions,
  type Snapshot,
  DEFAULT_ELECTION_TIMEOUT_MAX_TICKS,
  DEFAULT_ELECTION_TIMEOUT_MIN_TICKS,
  MAX_REPLICAS,
} from './options.js'
