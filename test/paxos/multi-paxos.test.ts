import t from 'tap'
import { codec } from '../../src/runtime/codec.js'
import { ZERO_BALLOT, compareBallots, nextBallot, type Ballot } from '../../src/paxos/ballot.js'
import type { PaxosMessage } from '../../src/paxos/messages.js'
import { MultiPaxos } from '../../src/paxos/multi-paxos.js'
import { CoreNet, SMALL_CORE_OPTIONS, type AppSnapshot, type Command, type InFlight } from './support/core-net.js'

const THREE = ['a', 'b', 'c']
const FIVE = ['a', 'b', 'c', 'd', 'e']

function ballot(round: number, replica: string): Ballot {
  return { round, replica }
}

t.test('ballots order by round, then by replica id; the zero ballot is below all', async (t) => {
  t.ok(compareBallots(ballot(1, 'b'), ballot(2, 'a')) < 0, 'round first')
  t.ok(compareBallots(ballot(2, 'a'), ballot(2, 'b')) < 0, 'replica id breaks ties')
  t.equal(compareBallots(ballot(3, 'c'), ballot(3, 'c')), 0)
  t.ok(compareBallots(ZERO_BALLOT, ballot(1, 'a')) < 0)
  t.same(nextBallot('b', 7), ballot(8, 'b'))
})

t.test('a replica that hears no leader elects itself; the others follow it', async (t) => {
  const net = new CoreNet(THREE)
  net.elect('b')
  t.equal(net.core('b').role, 'leader')
  t.equal(net.core('b').leaderHint, 'b')
  for (const id of ['a', 'c']) {
    t.equal(net.core(id).role, 'follower')
    t.equal(net.core(id).leaderHint, 'b', `${id} knows the leader from its heartbeat`)
  }
  t.equal(net.core('a').propose('x'), 'not_leader')
})

t.test('group commit: every command proposed before ready() goes into one slot, committed everywhere', async (t) => {
  const net = new CoreNet(THREE, { ...SMALL_CORE_OPTIONS, maxBatch: 16 })
  net.elect('a')
  for (const command of ['x1', 'x2', 'x3', 'x4', 'x5']) t.equal(net.core('a').propose(command), 'queued')
  net.collect('a')
  const accepts = net.queue.filter((inFlight) => inFlight.message.type === 'paxos.accept')
  t.equal(accepts.length, 2, 'one accept per follower')
  t.match(accepts[0]!.message, { values: [['x1', 'x2', 'x3', 'x4', 'x5']] })
  net.deliverAll()
  net.tickAll(3)
  for (const id of THREE) t.same(net.applied.get(id), ['x1', 'x2', 'x3', 'x4', 'x5'], `${id} applied the batch`)
})

t.test('pipelining: slots beyond the window wait for commits, then go out', async (t) => {
  const net = new CoreNet(THREE)
  net.elect('a')
  const commands = Array.from({ length: 40 }, (_, index) => `c${index}`)
  net.propose('a', ...commands)
  t.equal(net.core('a').commitIndex, 0)
  t.ok(net.core('a').hasReady() === false, 'the window is full: nothing more to send until acks arrive')
  net.deliverAll()
  net.tickAll(5)
  for (const id of THREE) t.same(net.applied.get(id), commands)
})

t.test('a new leader adopts values accepted by any promiser and fills gaps with no-ops', async (t) => {
  const net = new CoreNet(THREE)
  net.elect('a')
  net.propose('a', 'x')
  net.deliverAll((inFlight) => inFlight.to === 'b' && inFlight.message.type === 'paxos.accept')
  net.propose('a', 'y')
  net.takeQueued()
  net.propose('a', 'z')
  net.deliverAll((inFlight) => inFlight.to === 'b' && inFlight.message.type === 'paxos.accept')
  t.equal(net.core('b').commitIndex, 0, 'b accepted slots 1 and 3 but knows nothing committed')

  net.isolated.add('a')
  net.tickAll(60)
  t.ok(net.core('b').isLeader || net.core('c').isLeader, 'b or c took over')
  t.same(net.applied.get('c'), ['x', 'z'])
  t.same(net.applied.get('b'), ['x', 'z'])
  t.equal(net.core('c').commitIndex, 3, 'slot 2 committed as a no-op')
})

t.test('adoption takes the value accepted at the highest ballot, and a value reported chosen over any ballot', async (t) => {
  const candidate = new MultiPaxos<Command, AppSnapshot>({ ...SMALL_CORE_OPTIONS, self: 'c', peers: FIVE, random: () => 0 })
  for (let tick = 0; tick < 20 && candidate.role !== 'candidate'; tick++) candidate.tick()
  const prepare = candidate.ready().messages[0]!.message
  t.equal(prepare.type, 'paxos.prepare')
  const ours = (prepare as { ballot: Ballot }).ballot
  candidate.step('a', {
    type: 'paxos.promise',
    ballot: ours,
    entries: [
      { slot: 1, ballot: ballot(1, 'a'), commands: ['old'], chosen: false },
      { slot: 2, ballot: ballot(1, 'a'), commands: ['chosen'], chosen: true },
    ],
  })
  t.equal(candidate.role, 'candidate', 'two promises of five are not a majority')
  candidate.step('b', {
    type: 'paxos.promise',
    ballot: ours,
    entries: [
      { slot: 1, ballot: ballot(2, 'b'), commands: ['newer'], chosen: false },
      { slot: 2, ballot: ballot(2, 'b'), commands: ['unchosen'], chosen: false },
      { slot: 4, ballot: ballot(2, 'b'), commands: ['far'], chosen: false },
    ],
  })
  t.equal(candidate.role, 'leader')
  const accept = candidate.ready().messages.find((out) => out.message.type === 'paxos.accept')!.message
  t.match(accept, { firstSlot: 1, values: [['newer'], ['chosen'], [], ['far']] })
})

t.test('a restarted replica keeps its promise and its accepted values', async (t) => {
  const net = new CoreNet(THREE)
  net.elect('a')
  net.propose('a', 'kept')
  net.deliverAll((inFlight) => inFlight.to === 'b')
  const promisedBefore = net.core('b').promisedBallot

  const restarted = net.start('b')
  t.same(restarted.promisedBallot, promisedBefore, 'promise restored from stable storage')
  t.equal(restarted.role, 'follower')

  const stale = ballot(promisedBefore.round, '0')
  t.ok(compareBallots(stale, promisedBefore) < 0)
  restarted.step('c', { type: 'paxos.prepare', ballot: stale, commitIndex: 0, snapshotIndex: 0 })
  restarted.step('c', { type: 'paxos.accept', ballot: stale, firstSlot: 1, values: [['forged']], commitIndex: 0 })
  const replies = restarted.ready()
  t.same(
    replies.messages.map((out) => out.message.type),
    ['paxos.nack', 'paxos.nack'],
    'a lower ballot gets nacks: no promise, no acceptance',
  )
  t.equal(replies.persist, undefined, 'nothing changed')

  const higher = ballot(promisedBefore.round + 1, 'c')
  restarted.step('c', { type: 'paxos.prepare', ballot: higher, commitIndex: 0, snapshotIndex: 0 })
  const promise = restarted.ready()
  t.match(promise.persist, { promised: higher }, 'the new promise is persisted ...')
  t.match(promise.messages, [{ to: 'c', message: { type: 'paxos.promise', entries: [{ slot: 1, commands: ['kept'] }] } }], '... and reports the value accepted before the restart')

  for (let tick = 0; tick < 25 && restarted.role === 'follower'; tick++) restarted.tick()
  t.ok(restarted.promisedBallot.round > higher.round, 'a restarted candidate takes a round above every promise it made')
})

t.test('a leader cut off from a majority steps down; a rejoining replica with a high round does not depose a healthy leader', async (t) => {
  const net = new CoreNet(THREE)
  net.elect('a')
  net.isolated.add('c')
  net.tickAll(60)
  t.ok(net.core('c').promisedBallot.round > net.core('a').promisedBallot.round, 'c campaigned alone in its minority')
  t.equal(net.core('a').role, 'leader', 'a kept its majority')
  net.isolated.delete('c')
  net.tickAll(60)
  const leaders = THREE.filter((id) => net.core(id).isLeader)
  t.equal(leaders.length, 1)
  net.propose(leaders[0]!, 'after-heal')
  net.tickAll(5)
  for (const id of THREE) t.same(net.applied.get(id)!.at(-1), 'after-heal')

  net.isolated.add('b')
  net.isolated.add('c')
  net.tickAll(60)
  t.notOk(net.core('a').isLeader, 'alone, a stopped claiming to lead')
})

t.test('snapshots truncate the log: memory and persisted state stay bounded over many commands', async (t) => {
  const net = new CoreNet(THREE)
  net.autoSnapshot = true
  net.elect('a')
  const options = SMALL_CORE_OPTIONS
  let largestLog = 0
  let largestPersisted = 0
  for (let round = 0; round < 100; round++) {
    net.propose('a', `r${round}a`, `r${round}b`, `r${round}c`, `r${round}d`, `r${round}e`)
    net.tickAll(2)
    for (const id of THREE) {
      largestLog = Math.max(largestLog, net.core(id).logSize)
      largestPersisted = Math.max(largestPersisted, net.persisted.get(id)?.accepted.length ?? 0)
    }
  }
  net.tickAll(5)
  t.equal(net.applied.get('c')!.length, 500)
  t.same(net.applied.get('b'), net.applied.get('a'))
  t.ok(net.core('a').snapshotIndex > 150, `snapshot advanced to ${net.core('a').snapshotIndex}`)
  const bound = options.snapshotEvery! + options.maxInflightSlots!
  t.ok(largestLog <= bound, `log held at most ${largestLog} slots (bound ${bound})`)
  t.ok(largestPersisted <= bound, `persisted at most ${largestPersisted} slots`)
})

t.test('a lagging replica catches up by chunks of committed slots', async (t) => {
  const net = new CoreNet(THREE, { ...SMALL_CORE_OPTIONS, maxLogSlots: 64 })
  net.elect('a')
  net.isolated.add('c')
  for (let round = 0; round < 10; round++) {
    net.propose('a', `k${round}`)
    net.tickAll(1)
  }
  t.equal(net.applied.get('c')!.length, 0)
  net.isolated.delete('c')
  net.tickAll(10)
  t.same(net.applied.get('c'), net.applied.get('a'))
  t.equal(net.applied.get('c')!.length, 10)
})

t.test('followers due the same slots get one accept object, which the transport encodes once', async (t) => {
  const net = new CoreNet(THREE)
  net.elect('a')
  const leader = net.core('a')
  leader.propose('x')
  const accepts = leader.ready().messages.filter(({ message }) => message.type === 'paxos.accept')
  t.same(accepts.map(({ to }) => to).sort(), ['b', 'c'])
  t.equal(accepts[0]!.message, accepts[1]!.message, 'the very same object')
})

t.test('a follower whose log holds the committed slots is not sent them again', async (t) => {
  const net = new CoreNet(THREE)
  net.autoSnapshot = true
  net.elect('a')
  const sent: string[] = []
  const observe = (inFlight: InFlight): boolean => {
    sent.push(inFlight.message.type)
    return true
  }
  for (let round = 0; round < 20; round++) {
    net.tick('a')
    // Heartbeats overtaken by a commit: every reply reports a commit index below the leader's.
    const heartbeats = net.takeQueued()
    net.propose('a', `w${round}`)
    net.deliverAll(observe)
    net.queue.push(...heartbeats)
    net.deliverAll(observe)
  }
  t.ok(sent.filter((type) => type === 'paxos.heartbeat-reply').length >= 10, 'heartbeats were answered')
  t.equal(sent.filter((type) => type === 'paxos.catch-up' || type === 'paxos.catch-up-request').length, 0, 'no catch-up')
  net.tickAll(3)
  t.same(net.applied.get('b'), net.applied.get('a'))
  t.same(net.applied.get('c'), net.applied.get('a'))
  t.equal(net.applied.get('a')!.length, 20)
})

t.test('an accept still unacknowledged at the next heartbeat is resent; one sent since is not', async (t) => {
  const net = new CoreNet(THREE)
  net.elect('a')
  net.isolated.add('b')
  net.propose('a', 'x')
  net.takeQueued() // the accepts are lost
  /** Ticks the leader to its next heartbeat; returns how many accepts went to c with it. */
  const acceptsToCAtNextHeartbeat = (): number => {
    for (let tick = 0; tick < 10; tick++) {
      net.tick('a')
      const sent = net.queue.filter((inFlight) => inFlight.to === 'c')
      if (sent.some((inFlight) => inFlight.message.type === 'paxos.heartbeat')) {
        const accepts = sent.filter((inFlight) => inFlight.message.type === 'paxos.accept').length
        net.deliverAll()
        return accepts
      }
    }
    throw new Error('no heartbeat within 10 ticks')
  }
  t.equal(acceptsToCAtNextHeartbeat(), 0, 'not at the first heartbeat after the send')
  t.same(net.applied.get('a'), [], 'so nothing commits yet')
  t.equal(acceptsToCAtNextHeartbeat(), 1, 'resent at the second')
  t.same(net.applied.get('a'), ['x'])
  acceptsToCAtNextHeartbeat()
  t.same(net.applied.get('c'), ['x'], 'c learns the commit from the heartbeat after')
})

t.test('a replica behind the leader’s snapshot catches up by snapshot transfer, then by slots', async (t) => {
  const net = new CoreNet(THREE)
  net.autoSnapshot = true
  net.elect('a')
  net.isolated.add('c')
  for (let round = 0; round < 30; round++) {
    net.propose('a', `s${round}`)
    net.tickAll(1)
  }
  t.ok(net.core('a').snapshotIndex > 0, 'the leader truncated what c lacks')
  net.isolated.delete('c')
  net.tickAll(10)
  t.ok(net.snapshots.get('c') !== undefined, 'c installed a snapshot')
  net.propose('a', 'after')
  net.tickAll(5)
  t.same(net.applied.get('c'), net.applied.get('a'))
  t.equal(net.applied.get('c')!.at(-1), 'after')

  const restarted = net.start('c')
  t.equal(restarted.commitIndex, net.snapshots.get('c')!.index, 'a restart resumes from the stored snapshot')
  net.tickAll(10)
  t.same(net.applied.get('c'), net.applied.get('a'), 'and catches up the slots after it')
})

t.test('a candidate behind an acceptor’s snapshot gets the snapshot instead of a promise', async (t) => {
  const net = new CoreNet(THREE)
  net.autoSnapshot = true
  net.elect('a')
  net.isolated.add('c')
  for (let round = 0; round < 30; round++) {
    net.propose('a', `s${round}`)
    net.tickAll(1)
  }
  net.isolated.add('a')
  // Long enough that b no longer holds to a as a fresh leader (it may campaign, unheard).
  net.tick('b', SMALL_CORE_OPTIONS.electionTimeoutMinTicks!)
  net.isolated.delete('c')
  net.tick('c', SMALL_CORE_OPTIONS.electionTimeoutMaxTicks! + 1)
  net.deliverAll()
  t.not(net.core('c').role, 'leader', 'b did not promise to a candidate missing truncated slots')
  t.ok(net.snapshots.get('c') !== undefined, 'c got b’s snapshot')
  net.tickAll(60)
  const leader = ['b', 'c'].find((id) => net.core(id).isLeader)
  t.ok(leader !== undefined, 'b and c elect a leader')
  net.propose(leader!, 'later')
  net.tickAll(5)
  t.same(net.applied.get('c'), net.applied.get('b'))
})

t.test('a single replica commits alone', async (t) => {
  const net = new CoreNet(['solo'])
  net.elect('solo')
  net.propose('solo', 'one', 'two')
  t.same(net.applied.get('solo'), ['one', 'two'])
})

t.test('proposals past maxPendingCommands are refused as overloaded', async (t) => {
  const net = new CoreNet(THREE, { ...SMALL_CORE_OPTIONS, maxPendingCommands: 4 })
  net.elect('a')
  const results = Array.from({ length: 6 }, (_, index) => net.core('a').propose(`p${index}`))
  t.same(results, ['queued', 'queued', 'queued', 'queued', 'overloaded', 'overloaded'])
})

t.test('every message type round-trips through the codec', async (t) => {
  const b = ballot(3, 'a')
  const messages: PaxosMessage<Command, AppSnapshot>[] = [
    { type: 'paxos.prepare', ballot: b, commitIndex: 4, snapshotIndex: 2 },
    { type: 'paxos.promise', ballot: b, entries: [{ slot: 5, ballot: ballot(2, 'b'), commands: ['x'], chosen: false }] },
    { type: 'paxos.accept', ballot: b, firstSlot: 5, values: [['x', 'y'], []], commitIndex: 4 },
    { type: 'paxos.accepted', ballot: b, firstSlot: 5, count: 2 },
    { type: 'paxos.nack', ballot: b, promised: ballot(4, 'c') },
    { type: 'paxos.heartbeat', ballot: b, commitIndex: 6 },
    { type: 'paxos.heartbeat-reply', ballot: b, sentAtMs: 12.5 },
    { type: 'paxos.catch-up-request', commitIndex: 2 },
    { type: 'paxos.catch-up', firstSlot: 3, entries: [{ ballot: b, commands: ['z'] }] },
    { type: 'paxos.snapshot', index: 9, snapshot: { applied: ['a', 'b'] } },
  ]
  for (const message of messages) t.same(codec.decode(codec.encode(message)), message, message.type)
})

t.test('options are validated with errors that name the option', async (t) => {
  const base = { self: 'a', peers: THREE, random: () => 0 }
  t.throws(() => new MultiPaxos({ ...base, peers: ['b', 'c'] }), { code: 'ERR_INVALID_OPTION', message: /peers/ })
  t.throws(() => new MultiPaxos({ ...base, peers: ['a', 'a'] }), { code: 'ERR_INVALID_OPTION', message: /peers/ })
  t.throws(() => new MultiPaxos({ ...base, heartbeatTicks: 30 }), { code: 'ERR_INVALID_OPTION', message: /heartbeatTicks/ })
  t.throws(() => new MultiPaxos({ ...base, electionTimeoutMinTicks: 9, electionTimeoutMaxTicks: 5, heartbeatTicks: 1 }), {
    code: 'ERR_INVALID_OPTION',
    message: /electionTimeoutMaxTicks/,
  })
  t.throws(() => new MultiPaxos({ ...base, maxBatch: 0 }), { code: 'ERR_INVALID_OPTION', message: /maxBatch/ })
  t.throws(() => new MultiPaxos({ ...base, maxLogSlots: 8 }), { code: 'ERR_INVALID_OPTION', message: /maxLogSlots/ })
})

/** Three cores with 80 ms leases on a clock the test moves. */
function leasedNet(): { clock: { ms: number }; net: CoreNet } {
  const clock = { ms: 0 }
  return { clock, net: new CoreNet(THREE, { ...SMALL_CORE_OPTIONS, lease: { now: () => clock.ms, durationMs: 80 } }) }
}

/** Ticks every replica until one leads (replicas with leases promise nothing for their first election timeout); returns it. */
function electAny(net: CoreNet): string {
  for (let round = 0; round < 100 && THREE.every((id) => net.core(id).role !== 'leader'); round++) net.tickAll(1)
  return THREE.find((id) => net.core(id).role === 'leader')!
}

t.test('leases: the leader reads alone while a majority has acknowledged a recent heartbeat, and not once it is older than the lease', async (t) => {
  const { clock, net } = leasedNet()
  const leader = electAny(net)
  t.ok(leader !== undefined, 'a leader was elected')
  const core = net.core(leader)
  net.propose(leader, 'x')
  net.deliverAll()
  const applied = net.lastIndex.get(leader)!
  t.ok(core.canReadLocally(applied), 'a majority acknowledged the heartbeat stamped at 0: reads are local at 0')
  clock.ms = 79
  t.ok(core.canReadLocally(applied), 'and until just before 0 + 80 ms')
  clock.ms = 80
  t.notOk(core.canReadLocally(applied), 'not at 80 ms: the followers may have stopped refusing other candidates')
  net.tick(leader, SMALL_CORE_OPTIONS.heartbeatTicks!)
  net.deliverAll()
  t.ok(core.canReadLocally(applied), 'a heartbeat acknowledged by a majority renews it')
  const followers = THREE.filter((id) => id !== leader)
  net.isolated.add(followers[0]!)
  net.isolated.add(followers[1]!)
  clock.ms = 120
  net.tick(leader, SMALL_CORE_OPTIONS.heartbeatTicks!)
  net.deliverAll()
  t.ok(core.canReadLocally(applied), 'cut off: still within the lease of the heartbeat stamped at 80')
  clock.ms = 160
  t.notOk(core.canReadLocally(applied), 'cut off past the lease: heartbeats nobody acknowledged extend nothing')
  t.notOk(net.core(followers[0]!).canReadLocally(applied), 'a follower never reads alone')
})

t.test('leases: a new leader reads alone only once the slots of its election are applied', async (t) => {
  const { clock, net } = leasedNet()
  const old = electAny(net)
  // Accepted by one follower but not committed: the next leader re-proposes it, and its barrier covers it.
  const follower = THREE.find((id) => id !== old)!
  net.propose(old, 'y')
  net.deliverAll((inFlight) => inFlight.to === follower && inFlight.message.type === 'paxos.accept')
  net.takeQueued()
  net.isolated.add(old)
  clock.ms = 1000
  const successor = (): string | undefined => THREE.find((id) => id !== old && net.core(id).role === 'leader')
  for (let round = 0; round < 100 && successor() === undefined; round++) net.tickAll(1)
  const next = successor()!
  t.ok(next !== undefined, 'the other two elect a leader')
  const core = net.core(next)
  const applied = net.lastIndex.get(next)!
  t.ok(net.applied.get(next)!.includes('y'), 'it found the slot accepted by one follower and committed it again')
  t.notOk(core.canReadLocally(applied - 1), 'not before that slot is applied')
  t.ok(core.canReadLocally(applied), 'and once it is')
})

t.test('leases: a restarted replica promises nothing for a minimum election timeout (it forgot when it heard the leader)', async (t) => {
  const { net } = leasedNet()
  const restarted = net.start('c')
  const prepare: PaxosMessage<Command, AppSnapshot> = { type: 'paxos.prepare', ballot: ballot(50, 'b'), commitIndex: 0, snapshotIndex: 0 }
  restarted.step('b', prepare)
  net.collect('c')
  t.same(net.takeQueued().filter((inFlight) => inFlight.message.type === 'paxos.promise'), [], 'no promise right after the restart')
  net.tick('c', SMALL_CORE_OPTIONS.electionTimeoutMinTicks! - 1)
  net.takeQueued()
  restarted.step('b', prepare)
  net.collect('c')
  t.same(net.takeQueued().filter((inFlight) => inFlight.message.type === 'paxos.promise'), [], 'nor one tick before the timeout')
  net.tick('c')
  net.takeQueued()
  restarted.step('b', prepare)
  net.collect('c')
  t.equal(net.takeQueued().filter((inFlight) => inFlight.message.type === 'paxos.promise').length, 1, 'then it promises')
  const plain = new CoreNet(THREE)
  plain.core('c').step('b', prepare)
  plain.collect('c')
  t.equal(plain.takeQueued().filter((inFlight) => inFlight.message.type === 'paxos.promise').length, 1, 'without leases a fresh replica promises at once')
})

t.test('lease options are checked, naming the bad one', async (t) => {
  const base = { self: 'a', peers: THREE, random: () => 0.5 }
  t.throws(() => new MultiPaxos({ ...base, lease: { now: () => 0, durationMs: 0 } }), { code: 'ERR_INVALID_OPTION', message: /lease\.durationMs/ })
  t.throws(() => new MultiPaxos({ ...base, lease: { now: 5 as unknown as () => number, durationMs: 10 } }), { code: 'ERR_INVALID_OPTION', message: /lease\.now/ })
})
