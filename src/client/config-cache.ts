/**
 * A client's view of the shard configuration: the latest it has seen, where
 * each shard's group is, and which member of each group it believes leads.
 *
 * Refreshes are coalesced: when a hundred pipelined operations hear
 * WrongGroup at once, one Query goes to the master and all of them wait for
 * it. A refresh has its own time budget (REFRESH_BUDGET_MS), so a caller
 * with a short deadline cannot cut short the refresh others are waiting on;
 * each caller still gives up at its own deadline. The cache never goes back
 * to an older configuration than one it has seen.
 */
import { performance } from 'node:perf_hooks'
import { UNASSIGNED_GID, type Config } from '../actors/shard-config.js'
import type { MasterClient } from './master-client.js'

/** Time one shared refresh may take before its waiters see ERR_TIMEOUT and try again. */
export const REFRESH_BUDGET_MS = 1000

export interface Route {
  readonly gid: number
  readonly member: string
}

export class ConfigCache {
  private config: Config | undefined
  private refreshing: Promise<Config> | undefined
  /** gid -> index in its member list of the member believed to lead. */
  private readonly leaders = new Map<number, number>()

  constructor(private readonly master: MasterClient) {}

  /** Number of the cached configuration; -1 before the first. */
  get num(): number {
    return this.config?.num ?? -1
  }

  get current(): Config | undefined {
    return this.config
  }

  /** Fetches the latest configuration (sharing a fetch already under way); throws ERR_TIMEOUT past its budget. */
  refresh(): Promise<Config> {
    this.refreshing ??= this.fetch().finally(() => {
      this.refreshing = undefined
    })
    return this.refreshing
  }

  /** Where `shard` lives in the cached configuration; undefined before the first one or while it is unassigned. */
  route(shard: number): Route | undefined {
    const gid = this.config?.shards[shard]
    if (gid === undefined || gid === UNASSIGNED_GID) return undefined
    const members = this.config!.groups[gid]
    if (members === undefined || members.length === 0) return undefined
    const index = (this.leaders.get(gid) ?? 0) % members.length
    return { gid, member: members[index]! }
  }

  /** A member answered NotLeader or did not answer: follow its hint, or else try the next member. */
  changeMember(gid: number, leaderHint?: string): void {
    const members = this.config?.groups[gid]
    if (members === undefined) return
    const hinted = leaderHint === undefined ? -1 : members.indexOf(leaderHint)
    this.leaders.set(gid, hinted >= 0 ? hinted : ((this.leaders.get(gid) ?? 0) + 1) % members.length)
  }

  private async fetch(): Promise<Config> {
    const config = await this.master.query(performance.now() + REFRESH_BUDGET_MS)
    if (config.num > this.num) this.config = config
    return this.config!
  }
}
