import t from 'tap'
import type { KvOp, KvReply, KvRequest, ShardPush, StoredValue } from '../../src/actors/messages.js'
import { initialConfig, join, leave, move, type Config } from '../../src/actors/shard-config.js'
import { shardOf } from '../../src/actors/shard-hash.js'
import { StorageState, type StorageStateOptions } from '../../src/actors/storage-state.js'
import { ShardKVError } from '../../src/errors.js'

const SHARDS = 4
const LIMITS = { shards: SHARDS, maxKeyBytes: 16, maxValueBytes: 32 }

/** The first key `k0`, `k1`, ... that hashes to `shard`. */
function keyIn(shard: number, skip = 0): string {
  let found = 0
  for (let index = 0; ; index++) {
    const key = `k${index}`
    if (shardOf(key, SHARDS) === shard && found++ === skip) return key
  }
}

let nextSeq = 1

interface RequestOptions {
  readonly clientId?: string
  readonly seq?: number
  readonly ackedBelow?: number
}

function request(op: KvOp, key: string, value?: StoredValue, options: RequestOptions = {}): KvRequest {
  const seq = options.seq ?? nextSeq++
  return { type: 'kv', op, key, value, clientId: options.clientId ?? 'client', seq, ackedBelow: options.ackedBelow ?? 0, configNum: 0 }
}

function send(state: StorageState, kv: KvRequest): KvReply | undefined {
  return state.apply({ type: 'Kv', request: kv }).reply
}

function must(reply: KvReply | undefined): KvReply {
  if (reply === undefined) throw new Error('expected a reply, the request was dropped')
  return reply
}

function get(state: StorageState, key: string): StoredValue | undefined {
  const reply = must(send(state, request('get', key)))
  if (reply.status !== 'ok') throw new Error(`get ${key}: ${reply.status}`)
  return reply.value
}

/** A node of group `gid` walked from `start` through `configs`, every transition settled by `settle`. */
function nodeAt(gid: number, start: Config, configs: readonly Config[] = [], options: Partial<StorageStateOptions> = {}): StorageState {
  const state = new StorageState({ gid, ...LIMITS, ...options })
  if (!state.apply({ type: 'Start', config: start }).applied) throw new Error('start refused')
  for (const config of configs) {
    if (!state.apply({ type: 'Reconfigure', config }).applied) throw new Error(`configuration ${config.num} refused`)
  }
  return state
}

/** Delivers every pending push of `from` to `to` and the acks back; returns how many shards moved. */
function transfer(from: StorageState, to: StorageState): number {
  let moved = 0
  for (const { push } of from.outgoingPushes()) {
    const { ack } = to.apply({ type: 'InstallShard', push })
    if (ack !== undefined && from.apply({ type: 'ShardAcked', ack }).deleted) moved++
  }
  return moved
}

const c0 = initialConfig(SHARDS)
const c1 = join(c0, 1, ['n1'])
const c2 = join(c1, 2, ['n2'])

t.test('options are validated, naming the bad one', async (t) => {
  for (const bad of [{ gid: 0 }, { shards: 0 }, { maxKeyBytes: 0 }, { maxValueBytes: 1.5 }, { maxSessionsPerShard: 0 }, { maxAppliedPerClient: -1 }]) {
    const [name] = Object.keys(bad)
    t.throws(() => new StorageState({ gid: 1, ...LIMITS, ...bad }), { name: 'ShardKVError', code: 'ERR_INVALID_OPTION', message: new RegExp(name!) })
  }
  t.throws(() => new StorageState({ gid: 1, ...LIMITS, shards: 5000 }), ShardKVError)
})

t.test('a fresh node serves nothing and starts only at a configuration that does not list it', async (t) => {
  const state = new StorageState({ gid: 1, ...LIMITS })
  t.equal(must(send(state, request('get', 'a'))).status, 'wrong_group')
  t.notOk(state.apply({ type: 'Reconfigure', config: c1 }).applied, 'no configuration before Start')
  t.notOk(state.apply({ type: 'Start', config: c1 }).applied, 'c1 lists gid 1: it may have been given shards')
  t.notOk(state.apply({ type: 'Start', config: { num: 3, shards: [0], groups: {} } }).applied, 'malformed: wrong shard count')
  t.ok(state.apply({ type: 'Start', config: c0 }).applied)
  t.notOk(state.apply({ type: 'Start', config: c0 }).applied, 'only once')
  t.ok(state.isSettled)
  t.notOk(state.apply({ type: 'Reconfigure', config: c2 }).applied, 'configurations apply in order')
  t.ok(state.apply({ type: 'Reconfigure', config: c1 }).applied)
  t.same(state.status(), { gid: 1, configNum: 1, shardsHeld: [0, 1, 2, 3], shardsWaiting: [], keys: 0 }, 'gained from gid 0: empty and served')
})

t.test('put, get, append and delete keep the value type; append of the other type is a mismatch and changes nothing', async (t) => {
  const state = nodeAt(1, c0, [c1])
  t.same(must(send(state, request('get', 'absent'))), { type: 'kvr', seq: nextSeq - 1, status: 'ok', value: undefined, configNum: 1 })
  t.equal(must(send(state, request('put', 's', 'ab'))).status, 'ok')
  t.equal(must(send(state, request('append', 's', 'cd'))).status, 'ok')
  t.equal(get(state, 's'), 'abcd')
  t.equal(must(send(state, request('append', 'new', 'x'))).status, 'ok', 'append creates an absent key')
  t.equal(get(state, 'new'), 'x')

  t.equal(must(send(state, request('put', 'b', new Uint8Array([1, 2])))).status, 'ok')
  t.equal(must(send(state, request('append', 'b', new Uint8Array([3])))).status, 'ok')
  t.same(get(state, 'b'), new Uint8Array([1, 2, 3]))

  t.equal(must(send(state, request('append', 'b', 'text'))).status, 'type_mismatch')
  t.equal(must(send(state, request('append', 's', new Uint8Array([9])))).status, 'type_mismatch')
  t.same(get(state, 'b'), new Uint8Array([1, 2, 3]))
  t.equal(get(state, 's'), 'abcd')

  t.equal(must(send(state, request('put', 's', new Uint8Array([7])))).status, 'ok', 'put may change the type')
  t.same(get(state, 's'), new Uint8Array([7]))
  t.same(must(send(state, request('delete', 's'))).existed, true)
  t.same(must(send(state, request('delete', 's'))).existed, false)
  t.equal(get(state, 's'), undefined)
})

t.test('the server checks keys and values itself and answers invalid with the code; nothing changes', async (t) => {
  const state = nodeAt(1, c0, [c1])
  const codeOf = (kv: KvRequest): unknown => {
    const reply = must(send(state, kv))
    return reply.status === 'invalid' ? reply.errorCode : reply.status
  }
  t.equal(codeOf(request('get', '')), 'ERR_INVALID_KEY')
  t.equal(codeOf(request('get', 7 as unknown as string)), 'ERR_INVALID_KEY')
  t.equal(codeOf(request('get', 'x'.repeat(17))), 'ERR_KEY_TOO_LARGE')
  t.equal(codeOf(request('get', 'é'.repeat(8))), 'ok', '16 UTF-8 bytes fit')
  t.equal(codeOf(request('get', 'é'.repeat(9))), 'ERR_KEY_TOO_LARGE', 'keys are measured in UTF-8 bytes')
  t.equal(codeOf(request('put', 'k', 42 as unknown as string)), 'ERR_INVALID_VALUE')
  t.equal(codeOf(request('put', 'k', undefined)), 'ERR_INVALID_VALUE')
  t.equal(codeOf(request('append', 'k', new Uint8Array(33))), 'ERR_VALUE_TOO_LARGE')
  t.equal(codeOf(request('put', 'k', '€'.repeat(11))), 'ERR_VALUE_TOO_LARGE', '33 UTF-8 bytes')

  t.equal(codeOf(request('put', 'k', 'x'.repeat(30))), 'ok')
  t.equal(codeOf(request('append', 'k', 'yyy')), 'ERR_VALUE_TOO_LARGE', 'an append may not grow a value past the limit')
  t.equal(get(state, 'k'), 'x'.repeat(30))
  t.equal(state.status().keys, 1)
})

t.test('a request without a usable identity is dropped, and garbage never throws', async (t) => {
  const state = nodeAt(1, c0, [c1])
  const dropped = [
    request('get', 'a', undefined, { seq: -1 }),
    request('get', 'a', undefined, { seq: 1.5 }),
    request('get', 'a', undefined, { seq: 3, ackedBelow: 4 }),
    request('get', 'a', undefined, { clientId: '' }),
    request('get', 'a', undefined, { clientId: 'c'.repeat(257) }),
    { ...request('get', 'a'), op: 'increment' as KvOp },
    null as unknown as KvRequest,
    'kv' as unknown as KvRequest,
  ]
  for (const kv of dropped) t.equal(send(state, kv), undefined, JSON.stringify(kv))
  t.equal(state.apply({ type: 'InstallShard', push: null as unknown as ShardPush }).ack, undefined)
  t.equal(state.apply({ type: 'ShardAcked', ack: null as unknown as never }).deleted, false)
  t.notOk(state.apply({ type: 'Reconfigure', config: null as unknown as Config }).applied)
})

t.test('a retried mutation is answered from the table, not applied again; reads are not recorded', async (t) => {
  const state = nodeAt(1, c0, [c1])
  const append = request('append', 'k', 'x', { clientId: 'alice', seq: 10 })
  t.same(send(state, append), send(state, append))
  t.equal(get(state, 'k'), 'x')
  const mismatch = request('append', 'k', new Uint8Array([1]), { clientId: 'alice', seq: 11 })
  t.equal(must(send(state, mismatch)).status, 'type_mismatch')
  t.equal(must(send(state, request('put', 'k', new Uint8Array([0]), { clientId: 'bob', seq: 1 }))).status, 'ok')
  t.equal(must(send(state, mismatch)).status, 'type_mismatch', 'the retry gets the recorded answer, though bytes would now append')
  const deletion = request('delete', 'k', undefined, { clientId: 'alice', seq: 12 })
  t.equal(must(send(state, deletion)).existed, true)
  t.equal(must(send(state, deletion)).existed, true, 'existed as first answered')

  const read = request('get', 'r', undefined, { clientId: 'alice', seq: 13 })
  t.equal(must(send(state, read)).value, undefined)
  send(state, request('put', 'r', 'now', { clientId: 'bob', seq: 2 }))
  t.equal(must(send(state, read)).value, 'now', 'a retried read reads again')
})

t.test('pipelined seqs applied out of order each take effect once; ackedBelow forgets and drops late copies', async (t) => {
  const state = nodeAt(1, c0, [c1])
  const appends = [3, 1, 4, 2].map((seq) => request('append', 'p', String(seq), { clientId: 'carol', seq, ackedBelow: 1 }))
  for (const kv of appends) t.equal(must(send(state, kv)).status, 'ok')
  for (const kv of [...appends].reverse()) t.equal(must(send(state, kv)).status, 'ok', `retry of ${kv.seq} answered`)
  t.equal(get(state, 'p'), '3142', 'in arrival order, each once')

  t.equal(must(send(state, request('append', 'p', '5', { clientId: 'carol', seq: 5, ackedBelow: 3 }))).status, 'ok')
  t.equal(send(state, appends[3]!), undefined, 'seq 2 < ackedBelow 3: a late copy, dropped')
  t.equal(must(send(state, appends[0]!)).status, 'ok', 'seq 3 is still remembered')
  t.equal(send(state, request('append', 'p', 'late', { clientId: 'carol', seq: 1, ackedBelow: 1 })), undefined, 'an old ackedBelow does not lower the mark')
  t.equal(get(state, 'p'), '31425')
})

t.test('bounds: the least recently active client is evicted, then the lowest seq of a client', async (t) => {
  const state = nodeAt(1, c0, [c1], { maxSessionsPerShard: 2, maxAppliedPerClient: 2 })
  const key = keyIn(0)
  const first = request('append', key, 'a', { clientId: 'one', seq: 1 })
  send(state, first)
  send(state, request('append', key, 'b', { clientId: 'two', seq: 1 }))
  send(state, request('append', key, 'c', { clientId: 'three', seq: 1 }))
  send(state, first)
  t.equal(get(state, key), 'abca', 'client one was evicted, so its retry applied again (the documented cost)')

  const other = keyIn(1)
  const pipelined = [1, 2, 3].map((seq) => request('append', other, String(seq), { clientId: 'deep', seq }))
  for (const kv of pipelined) send(state, kv)
  send(state, pipelined[2]!)
  send(state, pipelined[1]!)
  t.equal(get(state, other), '123', 'the two highest seqs are remembered')
  send(state, pipelined[0]!)
  t.equal(get(state, other), '1231', 'the lowest seq was forgotten past maxAppliedPerClient')
})

t.test('a configuration change hands shards off with their sessions; the receiver serves only after the push', async (t) => {
  const one = nodeAt(1, c0, [c1])
  const two = nodeAt(2, c1)
  const lost = c2.shards.flatMap((gid, shard) => (gid === 2 ? [shard] : []))
  const kept = c2.shards.flatMap((gid, shard) => (gid === 1 ? [shard] : []))
  t.equal(lost.length, 2)
  const movingKey = keyIn(lost[0]!)
  const retried = request('append', movingKey, 'once', { clientId: 'mover', seq: 7 })
  send(one, retried)

  t.ok(one.apply({ type: 'Reconfigure', config: c2 }).applied)
  t.ok(two.apply({ type: 'Reconfigure', config: c2 }).applied)
  t.equal(must(send(one, retried)).status, 'wrong_group', 'the old owner stops serving at the change')
  t.equal(must(send(two, retried)).status, 'not_ready', 'the new owner waits for the data')
  t.equal(must(send(one, request('get', keyIn(kept[0]!)))).status, 'ok', 'kept shards are served throughout')
  t.notOk(one.isSettled)
  t.notOk(two.isSettled)
  const c3 = move(c2, lost[0]!, 1)
  t.notOk(one.apply({ type: 'Reconfigure', config: c3 }).applied, 'no next configuration before the hand-off is acknowledged')

  const pushes = one.outgoingPushes()
  t.same(pushes.map(({ toGid, members, push }) => [toGid, members, push.shard, push.configNum, push.fromGid]), lost.map((shard) => [2, ['n2'], shard, 2, 1]))
  t.same(one.status().shardsHeld, [0, 1, 2, 3], 'handed-off shards are held until acknowledged')
  t.same(two.status().shardsWaiting, lost)

  t.equal(transfer(one, two), 2)
  t.ok(one.isSettled && two.isSettled)
  t.same(one.status(), { gid: 1, configNum: 2, shardsHeld: kept, shardsWaiting: [], keys: 0 }, 'deleted after the ack')
  t.same(two.status(), { gid: 2, configNum: 2, shardsHeld: lost, shardsWaiting: [], keys: 1 })
  t.equal(must(send(two, retried)).status, 'ok', 'a retry that crosses the move is answered from the moved table')
  t.equal(get(two, movingKey), 'once')
})

t.test('duplicate, late, early and foreign pushes: acked when safe, ignored otherwise, never installed twice', async (t) => {
  const one = nodeAt(1, c0, [c1])
  const two = nodeAt(2, c1)
  const shard = c2.shards.indexOf(2)
  const key = keyIn(shard)
  send(one, request('put', key, 'v1'))
  one.apply({ type: 'Reconfigure', config: c2 })
  const push = one.outgoingPushes().find((pending) => pending.push.shard === shard)?.push
  if (push === undefined) throw new Error(`shard ${shard} is not being handed off`)

  t.equal(two.apply({ type: 'InstallShard', push }).ack, undefined, 'a push for a configuration not reached yet is ignored')
  two.apply({ type: 'Reconfigure', config: c2 })
  t.equal(two.apply({ type: 'InstallShard', push: { ...push, fromGid: 3 } }).ack, undefined, 'not from the group the shard comes from')
  t.equal(two.apply({ type: 'InstallShard', push: { ...push, data: 'nope' as never } }).ack, undefined, 'malformed data')
  t.same(two.apply({ type: 'InstallShard', push }).ack, { type: 'shard-ack', configNum: 2, shard })
  send(two, request('put', key, 'v2'))
  t.same(two.apply({ type: 'InstallShard', push }).ack, { type: 'shard-ack', configNum: 2, shard }, 'a duplicate is acked again')
  t.equal(get(two, key), 'v2', 'and does not overwrite newer writes')

  t.notOk(one.apply({ type: 'ShardAcked', ack: { type: 'shard-ack', configNum: 1, shard } }).deleted, 'an ack for another configuration deletes nothing')
  transfer(one, two)
  t.notOk(one.apply({ type: 'ShardAcked', ack: { type: 'shard-ack', configNum: 2, shard } }).deleted, 'a repeated ack deletes nothing')

  const c3 = move(c2, c2.shards.indexOf(1), 2)
  t.ok(two.apply({ type: 'Reconfigure', config: c3 }).applied)
  t.same(two.apply({ type: 'InstallShard', push }).ack, { type: 'shard-ack', configNum: 2, shard }, 'a push for an older configuration is acked')
  t.equal(get(two, key), 'v2')
})

t.test('a shard moved away and back returns with its data and sessions', async (t) => {
  const one = nodeAt(1, c0, [c1, c2])
  const two = nodeAt(2, c1, [c2])
  transfer(one, two)
  const shard = c2.shards.indexOf(1)
  const key = keyIn(shard)
  const retried = request('append', key, 'z', { clientId: 'roundtrip', seq: 1 })
  send(one, retried)
  const c3 = move(c2, shard, 2)
  const c4 = move(c3, shard, 1)
  for (const config of [c3, c4]) {
    one.apply({ type: 'Reconfigure', config })
    two.apply({ type: 'Reconfigure', config })
    transfer(one, two)
    transfer(two, one)
  }
  t.equal(one.configNum, 4)
  t.ok(one.isSettled && two.isSettled)
  send(one, retried)
  t.equal(get(one, key), 'z')
  t.notOk(two.status().shardsHeld.includes(shard))
})

t.test('leaving: every shard handed off, then nothing held; the last group out drops its shards', async (t) => {
  const one = nodeAt(1, c0, [c1, c2])
  const two = nodeAt(2, c1, [c2])
  transfer(one, two)
  send(two, request('put', keyIn(c2.shards.indexOf(2)), 'kept'))
  const c3 = leave(c2, 2)
  one.apply({ type: 'Reconfigure', config: c3 })
  two.apply({ type: 'Reconfigure', config: c3 })
  t.equal(two.status().shardsHeld.length, 2, 'held until acknowledged')
  transfer(two, one)
  t.same(two.status(), { gid: 2, configNum: 3, shardsHeld: [], shardsWaiting: [], keys: 0 })
  t.same(one.status().shardsHeld, [0, 1, 2, 3])
  t.equal(one.status().keys, 1)

  const c4 = leave(c3, 1)
  t.ok(one.apply({ type: 'Reconfigure', config: c4 }).applied)
  t.same(one.status(), { gid: 1, configNum: 4, shardsHeld: [], shardsWaiting: [], keys: 0 }, 'no group to receive them')
  t.ok(one.isSettled)
  t.same(one.outgoingPushes(), [])
})

t.test('a snapshot restores an equal state, in the middle of a hand-off too, and is a copy', async (t) => {
  const one = nodeAt(1, c0, [c1])
  const key = keyIn(0)
  const bytesKey = keyIn(1)
  const retried = request('append', key, 'x', { clientId: 'snap', seq: 3 })
  send(one, retried)
  send(one, request('put', bytesKey, new Uint8Array([1, 2, 3])))
  t.ok(one.apply({ type: 'Reconfigure', config: c2 }).applied)

  const snapshot = one.snapshot()
  const keptShard = c2.shards.findIndex((gid) => gid === 1)
  t.equal(must(send(one, request('append', keyIn(keptShard, 1), 'after the snapshot'))).status, 'ok')
  const restored = StorageState.restore({ gid: 1, ...LIMITS }, snapshot)
  t.same(restored.status(), { ...one.status(), keys: one.status().keys - 1 }, 'the write after the snapshot is not in it')
  t.equal(restored.configNum, 2)
  t.notOk(restored.isSettled, 'the hand-off in progress is part of the snapshot')
  t.same(restored.outgoingPushes().map(({ push }) => push.shard), one.outgoingPushes().map(({ push }) => push.shard))
  const served = c2.shards[0] === 1 ? restored : undefined
  if (served !== undefined) {
    t.equal(must(send(served, retried)).status, 'ok', 'the dedup table came along: the retry is answered, not applied')
    t.equal(get(served, key), 'x')
  }
  const two = nodeAt(2, c1, [c2])
  t.equal(transfer(restored, two), 2, 'the restored node finishes the hand-off')
  t.ok(restored.isSettled)
  t.throws(() => StorageState.restore({ gid: 1, ...LIMITS }, new Uint8Array([0, 1])), 'garbage is refused')
})
