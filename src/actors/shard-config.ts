/**
 * Shard configurations and the pure Join / Leave / Move transitions of MIT
 * 6.824's shardmaster.
 *
 * Rebalancing (after Join and Leave, never after Move):
 * - every shard is assigned iff at least one group exists;
 * - shard counts per group differ by at most one;
 * - the fewest shards change owner: a shard keeps its group unless that group
 *   left, or holds more than its share. Each group's share is
 *   floor(shards / groups), and the `shards mod groups` groups that already
 *   hold the most (ties: lower gid first) get one more, which maximises the
 *   shards that stay put. Over-full groups give up their highest-numbered
 *   shards; the freed and unassigned shards, ascending, fill the short groups
 *   in gid order.
 * - deterministic: gids are sorted numerically, never taken in object key order.
 *
 * Errors (ShardKVError):
 * - Join of a gid that is not an integer in 1..MAX_GID, of a gid already in
 *   the configuration, or with members that are not a non-empty list of
 *   distinct, non-empty actor ids, none already in another group:
 *   ERR_INVALID_OPTION (the caller passed a bad argument; the group is not
 *   "unknown", so ERR_UNKNOWN_GROUP would mislead);
 * - Leave of, or Move to, a gid not in the configuration: ERR_UNKNOWN_GROUP;
 * - Move of a shard that is not an integer in 0..shards-1: ERR_INVALID_SHARD.
 *
 * Every function returns a fresh configuration that shares no arrays with its
 * input, and never mutates its input.
 */
import { assert, ShardKVError } from '../errors.js'

export interface Config {
  /** Configuration number: 0 for the initial one, +1 per Join/Leave/Move. */
  num: number
  /** shard -> gid; UNASSIGNED_GID (0) while no group holds the shard. */
  shards: number[]
  /** gid -> member actor ids (the group's storage nodes). */
  groups: Record<number, string[]>
}

export const UNASSIGNED_GID = 0
/** Gids are 31-bit so that binary message layouts can carry them in an Int32. */
export const MAX_GID = 0x7fffffff
export const MIN_SHARDS = 1
export const MAX_SHARDS = 4096

/** Configuration 0: no groups, every shard unassigned. */
export function initialConfig(shardCount: number): Config {
  if (!Number.isInteger(shardCount) || shardCount < MIN_SHARDS || shardCount > MAX_SHARDS) {
    throw new ShardKVError('ERR_INVALID_OPTION', `shards must be an integer in ${MIN_SHARDS}..${MAX_SHARDS}, got ${String(shardCount)}`)
  }
  return { num: 0, shards: new Array<number>(shardCount).fill(UNASSIGNED_GID), groups: {} }
}

/** Adds group `gid` and rebalances. */
export function join(config: Config, gid: number, members: readonly string[]): Config {
  checkNewGid(config, gid)
  checkMembers(config, members)
  const groups = copyGroups(config.groups)
  groups[gid] = [...members]
  return { num: config.num + 1, shards: rebalance(config.shards, sortedGids(groups)), groups }
}

/** Removes group `gid` and hands its shards to the remaining groups. */
export function leave(config: Config, gid: number): Config {
  checkKnownGroup(config, gid)
  const groups = copyGroups(config.groups)
  delete groups[gid]
  return { num: config.num + 1, shards: rebalance(config.shards, sortedGids(groups)), groups }
}

/** Gives `shard` to `gid` without rebalancing: it stays there until the next Join or Leave. */
export function move(config: Config, shard: number, gid: number): Config {
  checkShard(config, shard)
  checkKnownGroup(config, gid)
  const shards = [...config.shards]
  shards[shard] = gid
  return { num: config.num + 1, shards, groups: copyGroups(config.groups) }
}

/** The configuration's gids, ascending. */
export function groupIds(config: Config): number[] {
  return sortedGids(config.groups)
}

export function cloneConfig(config: Config): Config {
  return { num: config.num, shards: [...config.shards], groups: copyGroups(config.groups) }
}

function sortedGids(groups: Config['groups']): number[] {
  return Object.keys(groups)
    .map(Number)
    .sort((left, right) => left - right)
}

function copyGroups(groups: Config['groups']): Config['groups'] {
  const copy: Config['groups'] = {}
  for (const gid of sortedGids(groups)) copy[gid] = [...groups[gid]]
  return copy
}

function rebalance(shards: readonly number[], gids: readonly number[]): number[] {
  if (gids.length === 0) return shards.map(() => UNASSIGNED_GID)
  const owned = shardsByGroup(shards, gids)
  const targets = targetCounts(owned, gids, shards.length)
  const next = shards.map((gid) => (owned.has(gid) ? gid : UNASSIGNED_GID))
  releaseExcess(next, owned, targets)
  fillShortGroups(next, owned, targets)
  assertBalanced(next, gids)
  return next
}

/** Over-full groups give up their highest-numbered shards. */
function releaseExcess(next: number[], owned: Map<number, number[]>, targets: Map<number, number>): void {
  for (const [gid, shards] of owned) {
    for (const shard of shards.slice(targetOf(targets, gid))) next[shard] = UNASSIGNED_GID
  }
}

/** Unassigned shards, ascending, go to the groups below their target, in gid order. */
function fillShortGroups(next: number[], owned: Map<number, number[]>, targets: Map<number, number>): void {
  const free = next.flatMap((gid, shard) => (gid === UNASSIGNED_GID ? [shard] : []))
  let cursor = 0
  for (const [gid, shards] of owned) {
    const deficit = Math.max(0, targetOf(targets, gid) - shards.length)
    for (const shard of free.slice(cursor, cursor + deficit)) next[shard] = gid
    cursor += deficit
  }
  assert(cursor === free.length, 'rebalance freed a different number of shards than the groups lack')
}

/** gid -> its shards ascending, for live groups in gid order; shards of departed or no group are left out. */
function shardsByGroup(shards: readonly number[], gids: readonly number[]): Map<number, number[]> {
  const owned = new Map<number, number[]>(gids.map((gid) => [gid, []]))
  shards.forEach((gid, shard) => owned.get(gid)?.push(shard))
  return owned
}

/** gid -> shard count it should hold; the extra ones go to the groups already holding the most. */
function targetCounts(owned: Map<number, number[]>, gids: readonly number[], shardCount: number): Map<number, number> {
  const base = Math.floor(shardCount / gids.length)
  const extra = shardCount % gids.length
  const byLoad = [...gids].sort((left, right) => shardsOf(owned, right).length - shardsOf(owned, left).length || left - right)
  return new Map(byLoad.map((gid, rank) => [gid, base + (rank < extra ? 1 : 0)]))
}

function shardsOf(owned: Map<number, number[]>, gid: number): number[] {
  const shards = owned.get(gid)
  assert(shards !== undefined, `group ${gid} missing from the ownership table`)
  return shards
}

function targetOf(targets: Map<number, number>, gid: number): number {
  const target = targets.get(gid)
  assert(target !== undefined, `group ${gid} missing from the target table`)
  return target
}

/** Postcondition of every rebalance: all shards held by live groups, counts within one. */
function assertBalanced(shards: readonly number[], gids: readonly number[]): void {
  const counts = new Map<number, number>(gids.map((gid) => [gid, 0]))
  for (const gid of shards) {
    const count = counts.get(gid)
    assert(count !== undefined, `rebalance assigned a shard to ${gid}, not a live group`)
    counts.set(gid, count + 1)
  }
  const values = [...counts.values()]
  assert(Math.max(...values) - Math.min(...values) <= 1, 'rebalance left shard counts more than one apart')
}

function isGid(gid: unknown): gid is number {
  return Number.isInteger(gid) && (gid as number) >= 1 && (gid as number) <= MAX_GID
}

function hasGroup(config: Config, gid: number): boolean {
  return Object.hasOwn(config.groups, gid)
}

function checkNewGid(config: Config, gid: number): void {
  if (!isGid(gid)) throw new ShardKVError('ERR_INVALID_OPTION', `gid must be an integer in 1..${MAX_GID}, got ${String(gid)}`)
  if (hasGroup(config, gid)) throw new ShardKVError('ERR_INVALID_OPTION', `group ${gid} has already joined`)
}

function checkMembers(config: Config, members: readonly string[]): void {
  if (!Array.isArray(members) || members.length === 0) {
    throw new ShardKVError('ERR_INVALID_OPTION', 'members must be a non-empty array of actor ids')
  }
  const taken = new Set(Object.values(config.groups).flat())
  const seen = new Set<string>()
  for (const member of members) {
    if (typeof member !== 'string' || member.length === 0) {
      throw new ShardKVError('ERR_INVALID_OPTION', 'every member must be a non-empty actor id string')
    }
    if (seen.has(member)) throw new ShardKVError('ERR_INVALID_OPTION', `member ${member} is listed twice`)
    if (taken.has(member)) throw new ShardKVError('ERR_INVALID_OPTION', `member ${member} already belongs to another group`)
    seen.add(member)
  }
}

function checkKnownGroup(config: Config, gid: number): void {
  if (!isGid(gid) || !hasGroup(config, gid)) {
    throw new ShardKVError('ERR_UNKNOWN_GROUP', `group ${String(gid)} is not in configuration ${config.num}`)
  }
}

function checkShard(config: Config, shard: number): void {
  if (!Number.isInteger(shard) || shard < 0 || shard >= config.shards.length) {
    throw new ShardKVError('ERR_INVALID_SHARD', `shard must be an integer in 0..${config.shards.length - 1}, got ${String(shard)}`)
  }
}
