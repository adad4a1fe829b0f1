/**
 * The shard master's replicated state machine: the numbered history of
 * configurations plus the duplicate-detection table. Pure and synchronous:
 * every replica applies the same ops in the same order and ends in the same
 * state, so nothing here may depend on time, randomness or object key order.
 *
 * Operating errors (bad gid, unknown group, bad shard, ...) are returned as
 * `{ type: 'Error', code }` results, never thrown: an op that throws would
 * crash every replica that applies it, one after the other. Only broken
 * invariants (assertions) throw.
 *
 * Duplicate detection, as in 6.824: a mutation (Join, Leave, Move) may carry
 * a `requestId` (clientId, seq). A client keeps at most one mutation in flight
 * and numbers them upwards, so per client we keep only the latest seq and its
 * result:
 * - same seq as the latest: the op is not applied again, the stored result
 *   (success or error) is returned;
 * - lower seq: a late copy of a request the client has moved past; it is
 *   answered `{ type: 'Stale' }` and not applied. A client that sends two
 *   mutations concurrently under one clientId breaks the contract, and the
 *   `Stale` reply is how it finds out;
 * - higher seq: applied, and remembered in place of the previous one.
 * Queries are not recorded: re-executing a read changes nothing, and a retried
 * Query for the latest configuration may see a newer one, which is still
 * linearizable.
 *
 * Bounds (each stated and replicated, so every replica prunes identically):
 * - `historyLimit` configurations are kept (default 1024; at 4096 shards
 *   about 32 MiB). Querying an older, pruned number is an ERR_INVALID_OPTION
 *   error naming the oldest kept number. A group that joined after the oldest
 *   kept configuration owned nothing before it, so it can start there.
 * - `sessionLimit` clients are remembered (default 1024), evicting the one
 *   whose latest mutation is oldest. Only the cluster's admin clients issue
 *   mutations, so eviction needs that many distinct admin clients; an evicted
 *   client's retry would be applied again.
 */
import { AssertionError, assert, ShardKVError, type ErrorCode } from '../errors.js'
import { cloneConfig, initialConfig, join, leave, MAX_GID, move, UNASSIGNED_GID, type Config } from './shard-config.js'

export const DEFAULT_HISTORY_LIMIT = 1024
export const DEFAULT_SESSION_LIMIT = 1024

export interface RequestId {
  readonly clientId: string
  readonly seq: number
}

export type MasterOp =
  /** `gid` absent: the master allocates the next unused gid (one more than any gid ever joined). */
  | { readonly type: 'Join'; readonly gid?: number; readonly members: readonly string[]; readonly requestId?: RequestId }
  | { readonly type: 'Leave'; readonly gid: number; readonly requestId?: RequestId }
  | { readonly type: 'Move'; readonly shard: number; readonly gid: number; readonly requestId?: RequestId }
  /** `num` absent or negative: the latest configuration; beyond the latest: the latest. `requestId` is ignored. */
  | { readonly type: 'Query'; readonly num?: number; readonly requestId?: RequestId }

type MutationOp = Exclude<MasterOp, { type: 'Query' }>

export type MutationResult =
  | { readonly type: 'Joined'; readonly gid: number; readonly num: number }
  | { readonly type: 'Left'; readonly gid: number; readonly num: number }
  | { readonly type: 'Moved'; readonly shard: number; readonly gid: number; readonly num: number }
  | { readonly type: 'Error'; readonly code: ErrorCode; readonly message: string }

export type MasterResult =
  | MutationResult
  | { readonly type: 'Config'; readonly config: Config }
  | { readonly type: 'Stale'; readonly requestId: RequestId }

export interface ShardMasterOptions {
  /** Shard count, fixed for the cluster's life: 1..4096. */
  shards: number
  /** Configurations kept, newest first; at least 1. Default DEFAULT_HISTORY_LIMIT. */
  historyLimit?: number
  /** Clients whose latest mutation is remembered; at least 1. Default DEFAULT_SESSION_LIMIT. */
  sessionLimit?: number
}

/** Plain data (JSON- and structured-clone-safe). */
export interface ShardMasterSnapshot {
  version: 1
  historyLimit: number
  sessionLimit: number
  nextGid: number
  /** Oldest first, consecutive nums. */
  configs: Config[]
  /** Least recently updated first: eviction order is replicated state too. */
  sessions: Array<{ clientId: string; seq: number; result: MutationResult }>
}

interface Session {
  seq: number
  result: MutationResult
}

export class ShardMasterState {
  /** Oldest first; configs[i].num === configs[0].num + i. A stored config is never mutated. */
  private configs: Config[]
  /** Map order is recency order: the first entry is the next to evict. */
  private sessions = new Map<string, Session>()
  /**
   * One more than any gid ever joined. Allocated gids are never reused, so a
   * late message naming a departed group cannot reach a new one; an explicit
   * gid may still rejoin after leaving, as in 6.824.
   */
  private nextGid = 1
  private readonly historyLimit: number
  private readonly sessionLimit: number

  constructor(options: ShardMasterOptions) {
    this.historyLimit = positiveIntegerOption('historyLimit', options.historyLimit ?? DEFAULT_HISTORY_LIMIT)
    this.sessionLimit = positiveIntegerOption('sessionLimit', options.sessionLimit ?? DEFAULT_SESSION_LIMIT)
    this.configs = [initialConfig(options.shards)]
  }

  apply(op: MasterOp): MasterResult {
    switch (op.type) {
      case 'Query':
        return errorsAsResult(() => ({ type: 'Config', config: this.query(op.num) }))
      case 'Join':
      case 'Leave':
      case 'Move':
        return this.applyMutation(op)
      default:
        return unreachable(op)
    }
  }

  /** A copy of configuration `num` (see Query). Throws ShardKVError for a non-integer or pruned `num`. */
  query(num?: number): Config {
    if (num !== undefined && !Number.isInteger(num)) {
      throw new ShardKVError('ERR_INVALID_OPTION', `configuration number must be an integer, got ${String(num)}`)
    }
    const latest = this.latest()
    if (num === undefined || num < 0 || num >= latest.num) return cloneConfig(latest)
    const oldestNum = this.oldest().num
    if (num < oldestNum) {
      throw new ShardKVError('ERR_INVALID_OPTION', `configuration ${num} was pruned; the oldest kept is ${oldestNum}`)
    }
    return cloneConfig(this.configAt(num - oldestNum))
  }

  snapshot(): ShardMasterSnapshot {
    return {
      version: 1,
      historyLimit: this.historyLimit,
      sessionLimit: this.sessionLimit,
      nextGid: this.nextGid,
      configs: this.configs.map(cloneConfig),
      sessions: [...this.sessions].map(([clientId, session]) => ({ clientId, ...session })),
    }
  }

  /** Rebuilds a state from `snapshot()` output. A malformed snapshot is corruption: it fails an assertion. */
  static restore(snapshot: unknown): ShardMasterState {
    assertSnapshot(snapshot)
    const shards = snapshot.configs[0]?.shards.length ?? 0
    const state = new ShardMasterState({ shards, historyLimit: snapshot.historyLimit, sessionLimit: snapshot.sessionLimit })
    state.configs = snapshot.configs.map(cloneConfig)
    state.nextGid = snapshot.nextGid
    state.sessions = new Map(snapshot.sessions.map(({ clientId, seq, result }) => [clientId, { seq, result: Object.freeze({ ...result }) }]))
    return state
  }

  private applyMutation(op: MutationOp): MasterResult {
    const { requestId } = op
    if (requestId === undefined) return errorsAsResult(() => this.mutate(op))
    if (!isRequestId(requestId)) {
      return errorResult('ERR_INVALID_OPTION', 'requestId must be { clientId: non-empty string, seq: non-negative integer }')
    }
    const session = this.sessions.get(requestId.clientId)
    if (session !== undefined && requestId.seq === session.seq) return session.result
    if (session !== undefined && requestId.seq < session.seq) return { type: 'Stale', requestId }
    const result = Object.freeze(errorsAsResult(() => this.mutate(op)))
    this.remember(requestId, result)
    return result
  }

  private mutate(op: MutationOp): MutationResult {
    const latest = this.latest()
    switch (op.type) {
      case 'Join': {
        const gid = op.gid ?? this.allocateGid()
        const config = this.append(join(latest, gid, op.members))
        this.nextGid = Math.max(this.nextGid, gid + 1)
        return { type: 'Joined', gid, num: config.num }
      }
      case 'Leave':
        return { type: 'Left', gid: op.gid, num: this.append(leave(latest, op.gid)).num }
      case 'Move':
        return { type: 'Moved', shard: op.shard, gid: op.gid, num: this.append(move(latest, op.shard, op.gid)).num }
      default:
        return unreachable(op)
    }
  }

  private allocateGid(): number {
    if (this.nextGid > MAX_GID) throw new ShardKVError('ERR_INVALID_OPTION', `no group id left to allocate above ${MAX_GID}`)
    return this.nextGid
  }

  private append(config: Config): Config {
    assert(config.num === this.latest().num + 1, 'configuration numbers must be consecutive')
    this.configs.push(config)
    if (this.configs.length > this.historyLimit) this.configs.shift()
    return config
  }

  private remember(requestId: RequestId, result: MutationResult): void {
    // Delete first so that re-inserting moves the client to the most recent end.
    this.sessions.delete(requestId.clientId)
    this.sessions.set(requestId.clientId, { seq: requestId.seq, result })
    if (this.sessions.size > this.sessionLimit) {
      const [leastRecent] = this.sessions.keys()
      if (leastRecent !== undefined) this.sessions.delete(leastRecent)
    }
  }

  private latest(): Config {
    return this.configAt(this.configs.length - 1)
  }

  private oldest(): Config {
    return this.configAt(0)
  }

  private configAt(index: number): Config {
    const config = this.configs[index]
    assert(config !== undefined, `no configuration at history index ${index}`)
    return config
  }
}

function errorsAsResult<T extends MasterResult>(run: () => T): T | MutationResult {
  try {
    return run()
  } catch (error) {
    if (error instanceof ShardKVError) return errorResult(error.code, error.message)
    throw error
  }
}

function errorResult(code: ErrorCode, message: string): MutationResult {
  return { type: 'Error', code, message }
}

function positiveIntegerOption(name: string, value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw new ShardKVError('ERR_INVALID_OPTION', `${name} must be a positive integer, got ${String(value)}`)
  }
  return value as number
}

function isRequestId(value: RequestId): boolean {
  return typeof value.clientId === 'string' && value.clientId.length > 0 && Number.isSafeInteger(value.seq) && value.seq >= 0
}

function unreachable(value: never): never {
  throw new AssertionError(`unexpected variant ${JSON.stringify(value)}`)
}

function assertSnapshot(value: unknown): asserts value is ShardMasterSnapshot {
  assert(typeof value === 'object' && value !== null, 'snapshot must be an object')
  const snapshot = value as Partial<ShardMasterSnapshot>
  assert(snapshot.version === 1, `unsupported snapshot version ${String(snapshot.version)}`)
  const { configs, sessions, nextGid, historyLimit } = snapshot
  assert(Array.isArray(configs) && configs.length > 0, 'snapshot has no configurations')
  assert(Number.isSafeInteger(historyLimit) && configs.length <= (historyLimit as number), 'snapshot keeps more configurations than its historyLimit')
  assert(Number.isSafeInteger(nextGid), 'snapshot has no nextGid')
  assert(Array.isArray(sessions) && sessions.every((entry) => isRequestId(entry)), 'snapshot has a malformed session table')
  const [first] = configs
  for (const [index, config] of configs.entries()) assertSnapshotConfig(config, first, index, nextGid as number)
}

function assertSnapshotConfig(config: Config, first: Config, index: number, nextGid: number): void {
  assert(config.num === first.num + index, 'snapshot configuration numbers are not consecutive')
  assert(config.shards.length === first.shards.length, 'snapshot configurations disagree on the shard count')
  for (const gid of Object.keys(config.groups).map(Number)) assert(gid < nextGid, `snapshot group ${gid} is not below nextGid ${nextGid}`)
  for (const gid of config.shards) {
    assert(gid === UNASSIGNED_GID || Object.hasOwn(config.groups, gid), `snapshot assigns a shard to unknown group ${gid}`)
  }
}
