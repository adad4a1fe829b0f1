import t from 'tap'
import { LoadRun, ReservoirSampler, type LoadPlan } from '../../src/bench/load.js'

const plan = (overrides: Partial<LoadPlan>): LoadPlan => ({
  mode: 'ping-pong',
  inflight: 1,
  warmupMs: 10,
  durationMs: 100,
  sampleCapacity: 1000,
  ...overrides,
})

/** Answers every outstanding request `rttMs` later, until the run is done; returns the clock at the end. */
function play(run: LoadRun, rttMs: number): number {
  let nowMs = 0
  let outstanding = run.begin(nowMs)
  while (!run.done) {
    nowMs += rttMs
    let sent = 0
    for (let reply = 0; reply < outstanding; reply++) sent += run.reply(nowMs)
    outstanding = sent
  }
  return nowMs
}

t.test('ping-pong keeps one request in flight and samples round trips only inside the window', async (t) => {
  const run = new LoadRun(plan({}), Math.random)
  const endMs = play(run, 2)
  const result = run.result()
  t.equal(endMs, 110, 'the first reply at or after the deadline ends the run')
  t.equal(result.completed, 50, 'replies at 10, 12, ..., 108')
  t.equal(result.roundTrips, 50)
  t.same([...new Set(result.roundTripSamplesUs)], [2000], 'every round trip took 2 ms = 2000 µs')
  t.equal(result.elapsedMs, 100)
})

t.test('pipelined keeps `inflight` outstanding, counts replies in the window, and drains before done', async (t) => {
  const run = new LoadRun(plan({ mode: 'pipelined', inflight: 8, warmupMs: 0, durationMs: 10 }), Math.random)
  t.equal(run.begin(0), 8)
  for (let reply = 0; reply < 8; reply++) t.equal(run.reply(1), 1, 'inside the window each reply is replaced')
  t.equal(run.reply(10), 0, 'at the deadline no more requests')
  t.notOk(run.done, 'seven still outstanding')
  for (let reply = 0; reply < 7; reply++) run.reply(11)
  t.ok(run.done)
  t.equal(run.result().completed, 8)
  t.equal(run.result().roundTrips, 0, 'pipelined runs do not sample latency')
})

t.test('a run refuses a reply it did not ask for and a result before it is done', async (t) => {
  const run = new LoadRun(plan({}), Math.random)
  t.throws(() => run.reply(0), /no request outstanding/)
  run.begin(0)
  t.throws(() => run.result(), /only when done/)
})

t.test('the reservoir keeps at most its capacity and everything below it', async (t) => {
  const small = new ReservoirSampler(10, Math.random)
  for (let value = 0; value < 5; value++) small.add(value)
  t.same([...small.samples()], [0, 1, 2, 3, 4])
  const full = new ReservoirSampler(10, Math.random)
  for (let value = 0; value < 10_000; value++) full.add(value)
  t.equal(full.samples().length, 10)
  t.equal(full.count, 10_000)
  t.ok(full.samples().every((value) => value >= 0 && value < 10_000))
})
