/**
 * When a Replica snapshots: a snapshot costs as much as the whole state, so
 * it waits until the log has outgrown the last one, and half the log's slot
 * bound forces one anyway. A lone replica in the simulator hosts a machine
 * that keeps the last few strings it was given beside a ballast that sets
 * its size.
 */
import t, { type Test } from 'tap'
import { Replica, type ReplicatedMachine } from '../../src/actors/replica.js'
import type { Actor, ActorContext, Message } from '../../src/runtime/actor.js'
import { Simulator } from '../../src/runtime/simulator.js'

interface ListState {
  readonly ballast: string
  readonly applied: number
  readonly items: readonly string[]
}

/** Items the machine keeps: its state stays the ballast and this many items, however many it applies. */
const KEEP = 4

const SELF = 'r1'
const PAXOS = { snapshotEvery: 4, maxLogSlots: 64 }

class ListActor implements Actor, ReplicatedMachine<string, ListState> {
  items: string[] = []
  applied = 0
  snapshotsTaken = 0
  private readonly replica: Replica<string, ListState>

  constructor(private readonly ballast: string) {
    this.replica = new Replica(this, { peers: [SELF], tickMs: 10, paxos: { ...PAXOS, electionTimeoutMinTicks: 3, electionTimeoutMaxTicks: 3 } })
  }

  get isLeader(): boolean {
    return this.replica.isLeader
  }

  start(ctx: ActorContext): void {
    this.replica.start(ctx)
  }

  receive(message: Message, ctx: ActorContext): void {
    if (this.replica.handle(message, ctx)) return
    if (message.type !== 'add') return
    this.replica.propose((message as Message & { readonly item: string }).item)
    this.replica.flush(ctx)
  }

  apply(command: string): void {
    this.applied++
    this.items.push(command)
    if (this.items.length > KEEP) this.items.shift()
  }

  snapshot(): ListState {
    this.snapshotsTaken++
    return { ballast: this.ballast, applied: this.applied, items: [...this.items] }
  }

  restore(snapshot: ListState): void {
    this.applied = snapshot.applied
    this.items = [...snapshot.items]
  }
}

/** Adds `count` items of `itemBytes` one at a time (one slot each); `actor` gives the current incarnation. */
function run(ballastBytes: number, count: number, itemBytes: number, storageCapacityBytes?: number): { actor: () => ListActor; sim: Simulator; expected: string[] } {
  const sim = new Simulator({ seed: 5, minDelayMs: 1, maxDelayMs: 1, ...(storageCapacityBytes === undefined ? {} : { storageCapacityBytes }) })
  let current: ListActor | undefined
  sim.spawn(SELF, () => (current = new ListActor('b'.repeat(ballastBytes))))
  const client = sim.endpoint('client', () => {})
  const actor = (): ListActor => current!
  if (!sim.runUntil(() => actor().isLeader, 1000)) throw new Error('the lone replica did not elect itself')
  const expected: string[] = []
  for (let index = 0; index < count; index++) {
    const item = `${index}:`.padEnd(itemBytes, 'x')
    expected.push(item)
    client.send(SELF, { type: 'add', item })
    if (!sim.runUntil(() => actor().applied === expected.length, 1000)) throw new Error(`item ${index} was not applied`)
  }
  return { actor, sim, expected }
}

/** Restarts the replica and checks it rebuilds the state from its snapshot and log. */
function checkRestart(t: Test, sim: Simulator, actor: () => ListActor, expected: readonly string[]): void {
  sim.crash(SELF)
  sim.restart(SELF)
  t.ok(sim.runUntil(() => actor().applied === expected.length, 1000), 'a restart rebuilds the state from the snapshot and the log')
  t.same(actor().items, expected.slice(-KEEP))
}

t.test('a large state with small writes snapshots when half the log bound is reached, not every snapshotEvery slots', async (t) => {
  const { actor, sim, expected } = run(16_384, 200, 20)
  const taken = actor().snapshotsTaken
  // 200 slots of ~40 bytes log 8 KB, less than the 16 KB state: only the slot bound (32 of 64) forces snapshots.
  t.ok(taken >= 4 && taken <= 200 / (PAXOS.maxLogSlots / 2) + 1, `${taken} snapshots for 200 slots (every 4 slots would be 50)`)
  checkRestart(t, sim, actor, expected)
})

t.test('a small state with large writes snapshots once the log outweighs it', async (t) => {
  const { actor, sim, expected } = run(16, 200, 1024)
  const taken = actor().snapshotsTaken
  // The state is 4 items of 1 KB; each slot logs one: a snapshot once twice that is logged, every 8 or 9 slots.
  t.ok(taken >= 200 / 12 && taken <= 200 / 6, `${taken} snapshots for 200 slots`)
  checkRestart(t, sim, actor, expected)
})

t.test('stable storage half full forces a snapshot, so the log never fills it', async (t) => {
  // A 16 KB state and 1 KB slots in 40 KB of storage: waiting for a log of twice the state would need 48 KB.
  const { actor, sim, expected } = run(16_384, 100, 1024, 40_960)
  t.equal(actor().applied, 100, 'every item applied without the replica running out of storage')
  t.ok(actor().snapshotsTaken >= 10, `${actor().snapshotsTaken} snapshots`)
  checkRestart(t, sim, actor, expected)
})
