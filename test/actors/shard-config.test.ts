import { deepStrictEqual } from 'node:assert/strict'
import fc from 'fast-check'
import t from 'tap'
import {
  cloneConfig,
  groupIds,
  initialConfig,
  join,
  leave,
  MAX_GID,
  move,
  UNASSIGNED_GID,
  type Config,
} from '../../src/actors/shard-config.js'

/** Shard count per live group (groups holding nothing count 0). */
function shardCounts(config: Config, gids = groupIds(config)): Map<number, number> {
  const counts = new Map(gids.map((gid) => [gid, 0]))
  for (const gid of config.shards) {
    const count = counts.get(gid)
    if (count !== undefined) counts.set(gid, count + 1)
  }
  return counts
}

function spread(config: Config): number {
  const counts = [...shardCounts(config).values()]
  return Math.max(...counts) - Math.min(...counts)
}

function changedShards(before: Config, after: Config): number[] {
  return before.shards.flatMap((gid, shard) => (after.shards[shard] === gid ? [] : [shard]))
}

function isBalancedAndFull(config: Config): boolean {
  return groupIds(config).length > 0 && spread(config) <= 1 && config.shards.every((gid) => gid !== UNASSIGNED_GID)
}

/**
 * Fewest owner changes that take `before` to any balanced assignment over the
 * groups of `after`. A balanced assignment gives each of n groups floor(S/n)
 * shards and `S mod n` of them one more; a group keeps at most min(count,
 * target) of its shards, and an extra slot saves a move only for a group
 * holding more than floor(S/n).
 */
function minimumMoves(before: Config, after: Config): number {
  const gids = groupIds(after)
  const shardCount = before.shards.length
  const assigned = before.shards.filter((gid) => gid !== UNASSIGNED_GID).length
  if (gids.length === 0) return assigned
  const base = Math.floor(shardCount / gids.length)
  const counts = [...shardCounts(before, gids).values()]
  const kept = counts.reduce((sum, count) => sum + Math.min(count, base), 0)
  const extraSlotsUsed = Math.min(shardCount % gids.length, counts.filter((count) => count > base).length)
  return shardCount - kept - extraSlotsUsed
}

type Step = { kind: 'join'; pick: number } | { kind: 'leave'; pick: number } | { kind: 'move'; pick: number; shard: number }

/** Joins outweigh leaves so that runs reach many groups (often more groups than shards). */
const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('join' as const), pick: fc.nat() }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('leave' as const), pick: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('move' as const), pick: fc.nat(), shard: fc.nat() }), weight: 2 },
)

/** Applies a step to `config`, choosing gids among free (join) or live (leave, move) ones; undefined when not applicable. */
function applyStep(config: Config, step: Step): Config | undefined {
  const gids = groupIds(config)
  switch (step.kind) {
    case 'join': {
      const free = Array.from({ length: 40 }, (_, index) => index + 1).filter((gid) => !gids.includes(gid))
      const gid = free[step.pick % free.length] ?? 1
      return join(config, gid, [`g${gid}-a`, `g${gid}-b`])
    }
    case 'leave':
      return gids.length === 0 ? undefined : leave(config, gids[step.pick % gids.length] ?? 0)
    case 'move':
      return gids.length === 0 ? undefined : move(config, step.shard % config.shards.length, gids[step.pick % gids.length] ?? 0)
  }
}

function run(shardCount: number, steps: readonly Step[]): Array<{ step: Step; before: Config; after: Config }> {
  const transitions: Array<{ step: Step; before: Config; after: Config }> = []
  let config = initialConfig(shardCount)
  for (const step of steps) {
    const after = applyStep(config, step)
    if (after === undefined) continue
    transitions.push({ step, before: config, after })
    config = after
  }
  return transitions
}

const scenarioArbitrary = fc.tuple(fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 128 })), fc.array(stepArbitrary, { maxLength: 60, size: 'max' }))

t.test('property: after every Join and Leave, shard counts differ by at most one', async (t) => {
  fc.assert(
    fc.property(scenarioArbitrary, ([shardCount, steps]) => {
      for (const { step, after } of run(shardCount, steps)) {
        if (step.kind !== 'move' && groupIds(after).length > 0 && spread(after) > 1) return false
      }
      return true
    }),
  )
  t.pass()
})

t.test('property: Join and Leave change the owner of exactly the theoretical minimum of shards', async (t) => {
  fc.assert(
    fc.property(scenarioArbitrary, ([shardCount, steps]) => {
      for (const { step, before, after } of run(shardCount, steps)) {
        if (step.kind !== 'move' && changedShards(before, after).length !== minimumMoves(before, after)) return false
      }
      return true
    }),
  )
  t.pass()
})

t.test('property: from a balanced configuration, Leave moves only the leaving group’s shards', async (t) => {
  fc.assert(
    fc.property(scenarioArbitrary, ([shardCount, steps]) => {
      for (const { step, before, after } of run(shardCount, steps)) {
        if (step.kind !== 'leave' || !isBalancedAndFull(before)) continue
        const departed = groupIds(before).find((gid) => !(gid in after.groups))
        if (!changedShards(before, after).every((shard) => before.shards[shard] === departed)) return false
      }
      return true
    }),
  )
  t.pass()
})

t.test('property: from a balanced configuration, Join moves shards only to the new group, from the most loaded', async (t) => {
  fc.assert(
    fc.property(scenarioArbitrary, ([shardCount, steps]) => {
      for (const { step, before, after } of run(shardCount, steps)) {
        if (step.kind !== 'join' || !isBalancedAndFull(before)) continue
        const joined = groupIds(after).find((gid) => !(gid in before.groups))
        const changed = changedShards(before, after)
        if (!changed.every((shard) => after.shards[shard] === joined)) return false
        const donors = new Set(changed.map((shard) => before.shards[shard]))
        const counts = [...shardCounts(before)]
        const donorCounts = counts.filter(([gid]) => donors.has(gid)).map(([, count]) => count)
        const keeperCounts = counts.filter(([gid]) => !donors.has(gid)).map(([, count]) => count)
        if (Math.min(...donorCounts) < Math.max(...keeperCounts)) return false
      }
      return true
    }),
  )
  t.pass()
})

t.test('property: every shard is assigned to a live group iff at least one group exists', async (t) => {
  fc.assert(
    fc.property(scenarioArbitrary, ([shardCount, steps]) => {
      for (const { after } of run(shardCount, steps)) {
        const hasGroups = groupIds(after).length > 0
        const ok = hasGroups ? after.shards.every((gid) => gid in after.groups) : after.shards.every((gid) => gid === UNASSIGNED_GID)
        if (!ok) return false
      }
      return true
    }),
  )
  t.pass()
})

t.test('property: configuration numbers are consecutive and inputs are never mutated', async (t) => {
  fc.assert(
    fc.property(scenarioArbitrary, ([shardCount, steps]) => {
      let config = initialConfig(shardCount)
      for (const step of steps) {
        const copy = cloneConfig(config)
        const after = applyStep(config, step)
        deepStrictEqual(config, copy)
        if (after === undefined) continue
        if (after.num !== config.num + 1 || after.shards.length !== shardCount) return false
        config = after
      }
      return true
    }),
  )
  t.pass()
})

t.test('property: Move changes only the moved shard', async (t) => {
  fc.assert(
    fc.property(scenarioArbitrary, ([shardCount, steps]) => {
      for (const { step, before, after } of run(shardCount, steps)) {
        if (step.kind !== 'move') continue
        const shard = step.shard % shardCount
        const gids = groupIds(before)
        if (changedShards(before, after).some((changed) => changed !== shard)) return false
        if (after.shards[shard] !== gids[step.pick % gids.length]) return false
      }
      return true
    }),
  )
  t.pass()
})

t.test('property: the same steps give the same configurations (determinism)', async (t) => {
  fc.assert(
    fc.property(scenarioArbitrary, ([shardCount, steps]) => {
      const first = run(shardCount, steps).map(({ after }) => after)
      const second = run(shardCount, steps).map(({ after }) => after)
      deepStrictEqual(second, first)
    }),
  )
  t.pass()
})

t.test('the result does not depend on the key order of the groups object', async (t) => {
  const shards = [1, 1, 1, 2, 2, 2, 3, 3, 3, 3]
  const ascending: Config = { num: 7, shards, groups: { 1: ['a'], 2: ['b'], 3: ['c'] } }
  const scrambled: Config = { num: 7, shards: [...shards], groups: Object.fromEntries([[3, ['c']], [1, ['a']], [2, ['b']]]) }
  t.same(join(scrambled, 9, ['d']), join(ascending, 9, ['d']))
  t.same(leave(scrambled, 2), leave(ascending, 2))
})

t.test('scenario: join 1, 2, 3 then leave them, on 10 shards (exact assignments)', async (t) => {
  const c0 = initialConfig(10)
  t.same(c0, { num: 0, shards: new Array(10).fill(0), groups: {} })
  const c1 = join(c0, 1, ['a'])
  t.same(c1.shards, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
  const c2 = join(c1, 2, ['b'])
  t.same(c2.shards, [1, 1, 1, 1, 1, 2, 2, 2, 2, 2], 'group 1 gives up its highest shards')
  const c3 = join(c2, 3, ['c'])
  t.same(c3.shards, [1, 1, 1, 1, 3, 2, 2, 2, 3, 3], 'the extra shard stays with the lower gid among the most loaded')
  t.same(c3.groups, { 1: ['a'], 2: ['b'], 3: ['c'] })
  const c4 = leave(c3, 1)
  t.same(c4.shards, [2, 2, 3, 3, 3, 2, 2, 2, 3, 3], 'only group 1’s shards moved')
  t.same(c4.groups, { 2: ['b'], 3: ['c'] })
  const c5 = leave(c4, 3)
  t.same(c5.shards, new Array(10).fill(2))
  const c6 = leave(c5, 2)
  t.same(c6, { num: 6, shards: new Array(10).fill(0), groups: {} }, 'no group left: every shard unassigned')
})

t.test('scenario: Move pins a shard until the next Join rebalances', async (t) => {
  const balanced = join(join(initialConfig(10), 1, ['a']), 2, ['b'])
  const moved = move(move(move(balanced, 0, 2), 1, 2), 2, 2)
  t.same(moved.shards, [2, 2, 2, 1, 1, 2, 2, 2, 2, 2], 'Move does not rebalance')
  t.equal(moved.num, 5)
  const rejoined = join(moved, 3, ['c'])
  t.equal(spread(rejoined), 1)
  t.equal(changedShards(moved, rejoined).length, minimumMoves(moved, rejoined))
  t.same(rejoined.shards, [2, 2, 2, 1, 1, 2, 1, 3, 3, 3], 'group 2 gives up its highest shards, group 1 takes the lowest freed')
})

t.test('scenario: more groups than shards leaves some groups empty, each shard assigned', async (t) => {
  let config = initialConfig(3)
  for (const gid of [1, 2, 3, 4, 5]) config = join(config, gid, [`n${gid}`])
  t.same(config.shards, [1, 3, 2])
  t.same([...shardCounts(config).values()], [1, 1, 1, 0, 0])
  const afterLeave = leave(config, 2)
  t.same(changedShards(config, afterLeave), [2], 'only the departed group’s shard moves')
  t.equal(afterLeave.shards[2], 4, 'to the lowest empty gid')
})

t.test('one shard, many joins and leaves: always exactly one owner', async (t) => {
  let config = join(initialConfig(1), 5, ['x'])
  t.same(config.shards, [5])
  config = join(config, 2, ['y'])
  t.same(config.shards, [5], 'joining does not steal the only shard')
  config = leave(config, 5)
  t.same(config.shards, [2])
})

t.test('errors: bad shard counts are ERR_INVALID_OPTION', async (t) => {
  for (const shards of [0, -1, 1.5, 4097, Number.NaN]) t.throws(() => initialConfig(shards), { code: 'ERR_INVALID_OPTION' })
  t.equal(initialConfig(4096).shards.length, 4096)
})

t.test('errors: Join of an existing or invalid gid, or with bad members, is ERR_INVALID_OPTION', async (t) => {
  const config = join(initialConfig(4), 1, ['a'])
  t.throws(() => join(config, 1, ['b']), { code: 'ERR_INVALID_OPTION', message: /already joined/ })
  for (const gid of [0, -3, 1.5, Number.NaN, MAX_GID + 1]) t.throws(() => join(config, gid, ['b']), { code: 'ERR_INVALID_OPTION' })
  t.equal(join(config, MAX_GID, ['b']).groups[MAX_GID]?.[0], 'b')
  t.throws(() => join(config, 2, []), { code: 'ERR_INVALID_OPTION' })
  t.throws(() => join(config, 2, ['b', 'b']), { code: 'ERR_INVALID_OPTION', message: /twice/ })
  t.throws(() => join(config, 2, ['a']), { code: 'ERR_INVALID_OPTION', message: /another group/ })
  t.throws(() => join(config, 2, [''] as string[]), { code: 'ERR_INVALID_OPTION' })
  t.throws(() => join(config, 2, 'b' as unknown as string[]), { code: 'ERR_INVALID_OPTION' })
})

t.test('errors: Leave of or Move to an unknown gid is ERR_UNKNOWN_GROUP', async (t) => {
  const config = join(initialConfig(4), 1, ['a'])
  for (const gid of [2, 0, -1, 1.5]) {
    t.throws(() => leave(config, gid), { code: 'ERR_UNKNOWN_GROUP' })
    t.throws(() => move(config, 0, gid), { code: 'ERR_UNKNOWN_GROUP' })
  }
  t.throws(() => leave(leave(config, 1), 1), { code: 'ERR_UNKNOWN_GROUP' }, 'a group that left is unknown')
})

t.test('errors: Move of a shard out of range is ERR_INVALID_SHARD', async (t) => {
  const config = join(initialConfig(4), 1, ['a'])
  for (const shard of [-1, 4, 1.5, Number.NaN]) t.throws(() => move(config, shard, 1), { code: 'ERR_INVALID_SHARD' })
  t.throws(() => move(config, 9, 2), { code: 'ERR_INVALID_SHARD' }, 'the shard is checked before the gid')
})

t.test('results share no arrays with their inputs', async (t) => {
  const members = ['a']
  const config = join(initialConfig(2), 1, members)
  members.push('mutated')
  t.same(config.groups[1], ['a'])
  const next = move(config, 0, 1)
  next.shards[1] = 99
  next.groups[1]?.push('mutated')
  t.same(config, { num: 1, shards: [1, 1], groups: { 1: ['a'] } })
})
