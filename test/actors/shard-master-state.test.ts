import { deepStrictEqual } from 'node:assert/strict'
import fc from 'fast-check'
import t from 'tap'
import { groupIds, type Config } from '../../src/actors/shard-config.js'
import { ShardMasterState, type MasterOp, type MasterResult } from '../../src/actors/shard-master-state.js'
import { AssertionError } from '../../src/errors.js'

function configOf(result: MasterResult): Config {
  if (result.type !== 'Config') throw new Error(`expected a Config result, got ${JSON.stringify(result)}`)
  return result.config
}

function spread(config: Config): number {
  const counts = groupIds(config).map((gid) => config.shards.filter((owner) => owner === gid).length)
  return Math.max(...counts) - Math.min(...counts)
}

const opArbitrary: fc.Arbitrary<MasterOp> = fc.oneof(
  fc.record({ type: fc.constant('Join' as const), members: fc.uuid().map((id) => [id]) }),
  fc.record({ type: fc.constant('Join' as const), gid: fc.integer({ min: 1, max: 12 }), members: fc.uuid().map((id) => [id]) }),
  fc.record({ type: fc.constant('Leave' as const), gid: fc.integer({ min: 0, max: 14 }) }),
  fc.record({ type: fc.constant('Move' as const), shard: fc.integer({ min: -1, max: 10 }), gid: fc.integer({ min: 0, max: 14 }) }),
  fc.record({ type: fc.constant('Query' as const), num: fc.integer({ min: -2, max: 30 }) }),
)

/** Ops tagged with request ids from three clients, sometimes retrying the previous seq. */
const clientOpsArbitrary = fc
  .array(fc.tuple(opArbitrary, fc.constantFrom('alice', 'bob', 'carol'), fc.boolean()), { maxLength: 40, size: 'max' })
  .map((entries) => {
    const seqs = new Map<string, number>()
    return entries.map(([op, clientId, retry]): MasterOp => {
      const seq = (seqs.get(clientId) ?? 0) + (retry ? 0 : 1)
      seqs.set(clientId, seq)
      return op.type === 'Query' ? op : { ...op, requestId: { clientId, seq } }
    })
  })

function applyAll(state: ShardMasterState, ops: readonly MasterOp[]): MasterResult[] {
  return ops.map((op) => state.apply(op))
}

t.test('a new master holds configuration 0: every shard unassigned, no groups', async (t) => {
  const state = new ShardMasterState({ shards: 8 })
  t.same(state.query(), { num: 0, shards: new Array(8).fill(0), groups: {} })
  t.same(state.apply({ type: 'Query' }), { type: 'Config', config: { num: 0, shards: new Array(8).fill(0), groups: {} } })
})

t.test('scenario (6.824): join 1, 2, 3, leave 2, move, join 4 unpins, history stays queryable', async (t) => {
  const state = new ShardMasterState({ shards: 10 })
  t.same(state.apply({ type: 'Join', gid: 1, members: ['a1', 'a2'] }), { type: 'Joined', gid: 1, num: 1 })
  t.same(state.apply({ type: 'Join', gid: 2, members: ['b1'] }), { type: 'Joined', gid: 2, num: 2 })
  t.same(state.apply({ type: 'Join', gid: 3, members: ['c1'] }), { type: 'Joined', gid: 3, num: 3 })
  t.equal(spread(state.query()), 1)
  t.same(state.apply({ type: 'Leave', gid: 2 }), { type: 'Left', gid: 2, num: 4 })
  t.same(state.query().groups, { 1: ['a1', 'a2'], 3: ['c1'] })
  t.equal(spread(state.query()), 0)
  t.same(state.apply({ type: 'Move', shard: 0, gid: 3 }), { type: 'Moved', shard: 0, gid: 3, num: 5 })
  t.same(state.apply({ type: 'Move', shard: 1, gid: 3 }), { type: 'Moved', shard: 1, gid: 3, num: 6 })
  t.equal(state.query().shards[0], 3, 'a moved shard stays where it was put')
  t.equal(spread(state.query()), 4, 'Move does not rebalance')
  t.same(state.apply({ type: 'Join', gid: 4, members: ['d1'] }), { type: 'Joined', gid: 4, num: 7 })
  t.equal(spread(state.query()), 1, 'the next Join rebalances, unpinning the moved shards')
  t.same(state.query(1).shards, new Array(10).fill(1), 'history: configuration 1')
  t.same(Object.keys(state.query(3).groups), ['1', '2', '3'], 'history: configuration 3')
  t.equal(state.query(5).shards[0], 3, 'history: configuration 5')
  for (let num = 0; num <= 7; num++) t.equal(state.query(num).num, num)
})

t.test('Query: absent, -1 or any negative, and beyond the latest all mean the latest', async (t) => {
  const state = new ShardMasterState({ shards: 4 })
  applyAll(state, [{ type: 'Join', members: ['a'] }, { type: 'Join', members: ['b'] }])
  for (const num of [undefined, -1, -7, 2, 3, 1000]) t.equal(configOf(state.apply({ type: 'Query', num })).num, 2, `num ${String(num)}`)
  t.equal(state.query(0).num, 0)
})

t.test('Query of a non-integer number is ERR_INVALID_OPTION', async (t) => {
  const state = new ShardMasterState({ shards: 4 })
  t.throws(() => state.query(1.5), { code: 'ERR_INVALID_OPTION' })
  t.match(state.apply({ type: 'Query', num: Number.NaN }), { type: 'Error', code: 'ERR_INVALID_OPTION' })
})

t.test('a queried configuration is a copy: changing it does not change the history', async (t) => {
  const state = new ShardMasterState({ shards: 2 })
  state.apply({ type: 'Join', gid: 1, members: ['a'] })
  const config = state.query()
  config.shards[0] = 77
  config.groups[1]?.push('intruder')
  t.same(state.query(), { num: 1, shards: [1, 1], groups: { 1: ['a'] } })
})

t.test('Join without a gid allocates one more than any gid ever joined; gids are not reused', async (t) => {
  const state = new ShardMasterState({ shards: 4 })
  t.match(state.apply({ type: 'Join', members: ['a'] }), { type: 'Joined', gid: 1 })
  t.match(state.apply({ type: 'Join', members: ['b'] }), { type: 'Joined', gid: 2 })
  t.match(state.apply({ type: 'Join', gid: 10, members: ['c'] }), { type: 'Joined', gid: 10 })
  t.match(state.apply({ type: 'Join', members: ['d'] }), { type: 'Joined', gid: 11 })
  state.apply({ type: 'Leave', gid: 11 })
  t.match(state.apply({ type: 'Join', members: ['e'] }), { type: 'Joined', gid: 12 }, 'a departed gid is not allocated again')
  t.match(state.apply({ type: 'Join', gid: 11, members: ['f'] }), { type: 'Joined', gid: 11 }, 'but may rejoin explicitly, as in 6.824')
  t.match(state.apply({ type: 'Join', gid: 5, members: ['g'] }), { type: 'Joined', gid: 5 })
  t.match(state.apply({ type: 'Join', members: ['h'] }), { type: 'Joined', gid: 13 })
})

t.test('operating errors come back as Error results with their code and change nothing', async (t) => {
  const state = new ShardMasterState({ shards: 4 })
  state.apply({ type: 'Join', gid: 1, members: ['a'] })
  const cases: Array<[MasterOp, string]> = [
    [{ type: 'Join', gid: 1, members: ['b'] }, 'ERR_INVALID_OPTION'],
    [{ type: 'Join', gid: 0, members: ['b'] }, 'ERR_INVALID_OPTION'],
    [{ type: 'Join', gid: 2, members: [] }, 'ERR_INVALID_OPTION'],
    [{ type: 'Join', gid: 2, members: ['a'] }, 'ERR_INVALID_OPTION'],
    [{ type: 'Leave', gid: 2 }, 'ERR_UNKNOWN_GROUP'],
    [{ type: 'Move', shard: 0, gid: 2 }, 'ERR_UNKNOWN_GROUP'],
    [{ type: 'Move', shard: 4, gid: 1 }, 'ERR_INVALID_SHARD'],
    [{ type: 'Move', shard: -1, gid: 1 }, 'ERR_INVALID_SHARD'],
  ]
  for (const [op, code] of cases) t.match(state.apply(op), { type: 'Error', code, message: String }, JSON.stringify(op))
  t.equal(state.query().num, 1, 'no configuration was added')
  t.match(state.apply({ type: 'Join', members: ['b'] }), { type: 'Joined', gid: 2 }, 'a failed explicit Join does not consume a gid')
})

t.test('bad options are ERR_INVALID_OPTION', async (t) => {
  t.throws(() => new ShardMasterState({ shards: 0 }), { code: 'ERR_INVALID_OPTION' })
  t.throws(() => new ShardMasterState({ shards: 4097 }), { code: 'ERR_INVALID_OPTION' })
  t.throws(() => new ShardMasterState({ shards: 4, historyLimit: 0 }), { code: 'ERR_INVALID_OPTION', message: /historyLimit/ })
  t.throws(() => new ShardMasterState({ shards: 4, sessionLimit: 1.5 }), { code: 'ERR_INVALID_OPTION', message: /sessionLimit/ })
})

t.test('dedup: a retried mutation applies once and returns the same result', async (t) => {
  const state = new ShardMasterState({ shards: 4 })
  const join: MasterOp = { type: 'Join', members: ['a'], requestId: { clientId: 'c1', seq: 1 } }
  const first = state.apply(join)
  t.same(first, { type: 'Joined', gid: 1, num: 1 })
  t.same(state.apply(join), first)
  t.same(state.apply({ ...join, members: ['ignored'] }), first, 'the request id alone identifies the retry')
  t.equal(state.query().num, 1)
  t.same(state.query().groups, { 1: ['a'] })
})

t.test('dedup: a retried failure returns the same error even after the state changed', async (t) => {
  const state = new ShardMasterState({ shards: 4 })
  const leave: MasterOp = { type: 'Leave', gid: 5, requestId: { clientId: 'c1', seq: 1 } }
  t.match(state.apply(leave), { type: 'Error', code: 'ERR_UNKNOWN_GROUP' })
  state.apply({ type: 'Join', gid: 5, members: ['a'], requestId: { clientId: 'c2', seq: 1 } })
  t.match(state.apply(leave), { type: 'Error', code: 'ERR_UNKNOWN_GROUP' })
  t.same(groupIds(state.query()), [5], 'the retry did not remove group 5')
})

t.test('dedup: an older seq is Stale and not applied; a newer seq applies', async (t) => {
  const state = new ShardMasterState({ shards: 4 })
  state.apply({ type: 'Join', gid: 1, members: ['a'], requestId: { clientId: 'c1', seq: 5 } })
  const late: MasterOp = { type: 'Join', gid: 2, members: ['b'], requestId: { clientId: 'c1', seq: 4 } }
  t.same(state.apply(late), { type: 'Stale', requestId: { clientId: 'c1', seq: 4 } })
  t.same(groupIds(state.query()), [1])
  t.match(state.apply({ ...late, requestId: { clientId: 'c1', seq: 6 } }), { type: 'Joined', gid: 2 })
  t.match(state.apply({ ...late, gid: 3, members: ['c'], requestId: { clientId: 'c2', seq: 4 } }), { type: 'Joined', gid: 3 }, 'clients are independent')
})

t.test('dedup: a malformed request id is ERR_INVALID_OPTION and applies nothing', async (t) => {
  const state = new ShardMasterState({ shards: 4 })
  for (const requestId of [
    { clientId: '', seq: 1 },
    { clientId: 'c', seq: -1 },
    { clientId: 'c', seq: 1.5 },
    { clientId: 7, seq: 1 },
  ]) {
    const op = { type: 'Join', members: ['a'], requestId } as unknown as MasterOp
    t.match(state.apply(op), { type: 'Error', code: 'ERR_INVALID_OPTION' })
  }
  t.equal(state.query().num, 0)
})

t.test('sessionLimit: the client whose latest mutation is oldest is forgotten first', async (t) => {
  const state = new ShardMasterState({ shards: 4, sessionLimit: 2 })
  const joinAs = (clientId: string, seq: number, gid: number): MasterOp => ({ type: 'Join', gid, members: [`m${gid}`], requestId: { clientId, seq } })
  state.apply(joinAs('a', 1, 1))
  state.apply(joinAs('b', 1, 2))
  state.apply(joinAs('a', 2, 3))
  state.apply(joinAs('c', 1, 4))
  t.same(state.snapshot().sessions.map((session) => session.clientId), ['a', 'c'], 'b was least recent')
  t.same(state.apply(joinAs('a', 2, 3)), { type: 'Joined', gid: 3, num: 3 }, 'a is still deduplicated')
  t.match(state.apply(joinAs('b', 1, 2)), { type: 'Error', code: 'ERR_INVALID_OPTION' }, 'b’s retry runs again (documented bound)')
})

t.test('historyLimit: old configurations are pruned and querying them is a clear error', async (t) => {
  const state = new ShardMasterState({ shards: 4, historyLimit: 3 })
  for (let gid = 1; gid <= 5; gid++) state.apply({ type: 'Join', gid, members: [`m${gid}`] })
  t.equal(state.query().num, 5)
  t.equal(state.query(3).num, 3)
  t.equal(state.snapshot().configs.length, 3)
  t.throws(() => state.query(2), { code: 'ERR_INVALID_OPTION', message: /configuration 2 was pruned; the oldest kept is 3/ })
  t.match(state.apply({ type: 'Query', num: 0 }), { type: 'Error', code: 'ERR_INVALID_OPTION' })
})

t.test('property: config numbers are consecutive, one per successful mutation, and balanced after Join/Leave', async (t) => {
  fc.assert(
    fc.property(fc.array(opArbitrary, { maxLength: 40, size: 'max' }), (ops) => {
      const state = new ShardMasterState({ shards: 10 })
      for (const op of ops) {
        const before = state.query().num
        const result = state.apply(op)
        const expected = result.type === 'Joined' || result.type === 'Left' || result.type === 'Moved' ? before + 1 : before
        if (state.query().num !== expected) return false
        if ((result.type === 'Joined' || result.type === 'Left') && result.num !== expected) return false
        const latest = state.query()
        if ((result.type === 'Joined' || result.type === 'Left') && groupIds(latest).length > 0 && spread(latest) > 1) return false
      }
      const latest = state.query().num
      for (let num = 0; num <= latest; num++) if (state.query(num).num !== num) return false
      return true
    }),
  )
  t.pass()
})

t.test('property: replicas applying the same ops agree on every result and on the state', async (t) => {
  fc.assert(
    fc.property(clientOpsArbitrary, (ops) => {
      const left = new ShardMasterState({ shards: 6, sessionLimit: 2, historyLimit: 8 })
      const right = new ShardMasterState({ shards: 6, sessionLimit: 2, historyLimit: 8 })
      deepStrictEqual(applyAll(right, ops), applyAll(left, ops))
      deepStrictEqual(right.snapshot(), left.snapshot())
    }),
  )
  t.pass()
})

t.test('property: applying every op twice in a row (a retry) gives the same results and state as once', async (t) => {
  fc.assert(
    fc.property(clientOpsArbitrary, (ops) => {
      const once = new ShardMasterState({ shards: 6 })
      const twice = new ShardMasterState({ shards: 6 })
      const onceResults = applyAll(once, ops)
      const twiceResults = ops.map((op) => {
        const first = twice.apply(op)
        const retry = twice.apply(op)
        return op.type === 'Query' ? first : retry
      })
      deepStrictEqual(twiceResults, onceResults)
      deepStrictEqual(twice.snapshot(), once.snapshot())
    }),
  )
  t.pass()
})

t.test('property: snapshot -> JSON / structuredClone -> restore continues exactly like the original', async (t) => {
  fc.assert(
    fc.property(clientOpsArbitrary, clientOpsArbitrary, (prefix, suffix) => {
      const original = new ShardMasterState({ shards: 6, sessionLimit: 2, historyLimit: 5 })
      applyAll(original, prefix)
      const viaJson = ShardMasterState.restore(JSON.parse(JSON.stringify(original.snapshot())))
      const viaClone = ShardMasterState.restore(structuredClone(original.snapshot()))
      deepStrictEqual(viaJson.snapshot(), original.snapshot())
      const expected = applyAll(original, suffix)
      deepStrictEqual(applyAll(viaJson, suffix), expected)
      deepStrictEqual(applyAll(viaClone, suffix), expected)
      deepStrictEqual(viaJson.snapshot(), original.snapshot())
    }),
  )
  t.pass()
})

t.test('a snapshot is independent of the state it was taken from', async (t) => {
  const state = new ShardMasterState({ shards: 2 })
  state.apply({ type: 'Join', gid: 1, members: ['a'] })
  const snapshot = state.snapshot()
  state.apply({ type: 'Join', gid: 2, members: ['b'] })
  snapshot.configs[1]?.shards.fill(9)
  t.same(state.query(1).shards, [1, 1])
  t.equal(snapshot.configs.length, 2)
})

t.test('restoring a malformed snapshot fails an assertion', async (t) => {
  const good = new ShardMasterState({ shards: 2 })
  good.apply({ type: 'Join', gid: 1, members: ['a'] })
  const snapshot = good.snapshot()
  const broken: unknown[] = [
    null,
    'snapshot',
    { ...snapshot, version: 2 },
    { ...snapshot, configs: [] },
    { ...snapshot, configs: [snapshot.configs[1], snapshot.configs[0]] },
    { ...snapshot, nextGid: 1 },
    { ...snapshot, historyLimit: 1 },
    { ...snapshot, sessions: [{ clientId: '', seq: 1 }] },
    { ...snapshot, configs: [snapshot.configs[0], { num: 1, shards: [1, 3], groups: { 1: ['a'] } }] },
  ]
  for (const value of broken) t.throws(() => ShardMasterState.restore(value), AssertionError)
})
