import { Worker } from 'node:worker_threads'
import t from 'tap'
import { createLaneBuffer, Lane } from '../../src/runtime/lane.js'
import {
  createDoorbellBuffer,
  Inbox,
  MAX_MESSAGE_BYTES,
  Outbox,
  type MessageHandler,
} from '../../src/runtime/mailbox.js'
import type { ProducerTask } from './fixtures/producer.js'
import { buildMessage, checkMessage, seededRandom } from './fixtures/producer-messages.js'

const PRODUCER_URL = new URL('./fixtures/producer.js', import.meta.url)
const WAIT_SLICE_MS = 20

/** A producer worker and what became of it. */
interface Producer {
  readonly worker: Worker
  readonly exited: Promise<number>
  error: Error | undefined
}

function startProducer(task: ProducerTask): Producer {
  // No inherited execArgv: the test runner's loader hooks would slow each worker's start by seconds.
  const worker = new Worker(PRODUCER_URL, { workerData: task, execArgv: [] })
  const producer: Producer = {
    worker,
    exited: new Promise((resolve) => worker.once('exit', resolve)),
    error: undefined,
  }
  worker.once('error', (error) => (producer.error = error))
  return producer
}

/**
 * Receiver-side check of self-checking messages: per producer, seqs must run
 * 0, 1, 2, ... with no gap, duplicate or damaged byte. Counts problems
 * instead of asserting per message so four million messages stay cheap.
 */
class SequenceChecker {
  /** Next expected seq by sender address; an array because Map costs show at millions of messages. */
  readonly nextSeq: number[] = []
  problems = 0
  firstProblem: string | undefined
  received = 0

  readonly onMessage: MessageHandler = (from, bytes) => {
    this.received++
    const parsed = checkMessage(bytes)
    if (typeof parsed === 'string') return this.problem(parsed)
    if (parsed.producerId !== from) return this.problem(`message of producer ${parsed.producerId} on lane ${from}`)
    const expected = this.nextSeq[from] ?? 0
    if (parsed.seq !== expected) return this.problem(`producer ${from}: seq ${parsed.seq}, expected ${expected}`)
    this.nextSeq[from] = expected + 1
  }

  private problem(description: string): void {
    this.problems++
    this.firstProblem ??= description
  }
}

/** Drains and waits (asynchronously, so worker events are seen) until `done`, a producer fails, or the deadline. */
async function receiveUntil(
  inbox: Inbox,
  onMessage: MessageHandler,
  done: () => boolean,
  producers: readonly Producer[],
  deadlineMs: number,
): Promise<string | undefined> {
  const giveUpAt = performance.now() + deadlineMs
  for (;;) {
    inbox.drain(onMessage)
    if (done()) return undefined
    const failed = producers.find((producer) => producer.error !== undefined)
    if (failed !== undefined) return `producer failed: ${failed.error?.message}`
    if (performance.now() > giveUpAt) return `gave up after ${deadlineMs} ms`
    await inbox.waitAsync(WAIT_SLICE_MS)
  }
}

/** Delivers everything the lanes hold, however many drains it takes (bounded). */
function drainAll(inbox: Inbox, outboxes: readonly Outbox[], onMessage: MessageHandler, maxMessages?: number): void {
  for (let round = 0; round < 1_000_000; round++) {
    const allFlushed = outboxes.every((outbox) => outbox.flush())
    const delivered = inbox.drain(onMessage, maxMessages)
    if (allFlushed && delivered === 0 && !inbox.hasPending()) return
  }
  throw new Error('drainAll did not converge')
}

function randomBytes(seed: number, lengthBytes: number): Uint8Array {
  const random = seededRandom(seed)
  const bytes = new Uint8Array(lengthBytes)
  for (let index = 0; index < lengthBytes; index++) bytes[index] = Math.floor(random() * 256)
  return bytes
}

function sameBytes(actual: Uint8Array, expected: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(actual), Buffer.from(expected)) === 0
}

/** A mailbox with one sender wired in, all in this thread. */
function localMailbox(capacityBytes: number, outboxOptions = {}): { inbox: Inbox; outbox: Outbox; lane: SharedArrayBuffer } {
  const doorbell = createDoorbellBuffer()
  const lane = createLaneBuffer(capacityBytes)
  const inbox = new Inbox(doorbell)
  inbox.addLane(7, lane)
  return { inbox, outbox: new Outbox(lane, doorbell, outboxOptions), lane }
}

t.test('options are validated and name the bad option', async (t) => {
  const doorbell = createDoorbellBuffer()
  const lane = createLaneBuffer(256)
  t.throws(() => new Inbox(doorbell, { spinMicros: 10_001 }), { code: 'ERR_INVALID_OPTION', message: /spinMicros/ })
  t.throws(() => new Inbox(doorbell, { spinMicros: -1 }), { code: 'ERR_INVALID_OPTION', message: /spinMicros/ })
  t.throws(() => new Inbox(new SharedArrayBuffer(8)), { code: 'ERR_INVALID_OPTION', message: /doorbell/ })
  t.throws(() => new Outbox(lane, doorbell, { maxQueuedBytes: -1 }), { code: 'ERR_INVALID_OPTION', message: /maxQueuedBytes/ })
  t.throws(() => new Outbox(lane, doorbell, { maxQueuedMessages: 1.5 }), {
    code: 'ERR_INVALID_OPTION',
    message: /maxQueuedMessages/,
  })
  t.throws(() => new Inbox(doorbell).addLane(-1, lane), { code: 'ERR_INVALID_OPTION', message: /from/ })
  t.throws(() => new Inbox(doorbell).waitSync(Number.NaN), { code: 'ERR_INVALID_OPTION', message: /timeoutMs/ })
})

t.test('small messages arrive whole, in order, as views valid during onMessage', async (t) => {
  const { inbox, outbox } = localMailbox(1024)
  for (let seq = 0; seq < 20; seq++) outbox.send(buildMessage(new Uint8Array(64), 7, seq, 12 + seq))
  const checker = new SequenceChecker()
  t.equal(inbox.drain(checker.onMessage), 20)
  t.equal(checker.problems, 0, checker.firstProblem ?? 'no problem')
  t.same(inbox.stats, { messages: 20, bytes: 20 * 12 + 190, discardedPartials: 0 })
})

t.test('a chunked message larger than the lane reassembles byte-exact', async (t) => {
  const { inbox, outbox } = localMailbox(1024)
  const seed = 0xc0ffee
  const message = randomBytes(seed, 1024 * 1024 + 3)
  outbox.send(message)
  t.ok(outbox.queuedMessages === 1 && outbox.queuedBytes < message.length, 'the rest waits in the outbox')
  const received: Uint8Array[] = []
  drainAll(inbox, [outbox], (_from, bytes) => received.push(bytes.slice()))
  t.equal(received.length, 1)
  t.ok(sameBytes(received[0] ?? new Uint8Array(0), message), `byte-exact (seed ${seed})`)
  t.equal(outbox.queuedBytes, 0)
  t.equal(inbox.stats.discardedPartials, 0)
})

t.test('messages of every size around the chunk boundaries reassemble byte-exact', async (t) => {
  const { inbox, outbox } = localMailbox(256)
  const maxFrameBytes = new Lane(createLaneBuffer(256)).maxFrameBytes
  const sizes = [0, 1, 2, 3, 4, 5]
  for (let delta = -6; delta <= 6; delta++) {
    for (const chunks of [1, 2, 3, 7]) sizes.push(Math.max(0, chunks * (maxFrameBytes - 1) + delta))
  }
  const seed = 42
  const sent = sizes.map((size, index) => randomBytes(seed + index, size))
  const received: Uint8Array[] = []
  for (const message of sent) outbox.send(message)
  drainAll(inbox, [outbox], (_from, bytes) => received.push(bytes.slice()))
  t.equal(received.length, sent.length)
  const mismatched = sent.filter((message, index) => !sameBytes(received[index] ?? new Uint8Array(1), message))
  t.same(mismatched.map((message) => message.length), [], `all sizes byte-exact (seed ${seed})`)
})

t.test('a slow consumer never loses a frame: the outbox queues and flushes later, in order', async (t) => {
  const { inbox, outbox } = localMailbox(1024)
  const seed = 1234
  const random = seededRandom(seed)
  const scratch = new Uint8Array(4000)
  const checker = new SequenceChecker()
  let peakQueuedMessages = 0
  for (let seq = 0; seq < 20_000; seq++) {
    const lengthBytes = random() < 0.05 ? 12 + Math.floor(random() * 3988) : 12 + Math.floor(random() * 40)
    outbox.send(buildMessage(scratch, 7, seq, lengthBytes))
    peakQueuedMessages = Math.max(peakQueuedMessages, outbox.queuedMessages)
    // The consumer takes at most 3 messages per 10 sent.
    if (seq % 10 === 0) inbox.drain(checker.onMessage, 3)
  }
  t.ok(peakQueuedMessages > 1000, `backlog built up (${peakQueuedMessages} messages)`)
  drainAll(inbox, [outbox], checker.onMessage, 3)
  t.equal(checker.problems, 0, `${checker.firstProblem ?? 'no problem'} (seed ${seed})`)
  t.equal(checker.nextSeq[7], 20_000, 'every message, once, in order')
  t.equal(outbox.queuedMessages, 0)
})

t.test('an outbox past its message bound throws ERR_OVERLOADED and queues nothing of that message', async (t) => {
  const { inbox, outbox, lane } = localMailbox(256, { maxQueuedMessages: 4 })
  const checker = new SequenceChecker()
  const scratch = new Uint8Array(64)
  let seq = 0
  while (outbox.queuedMessages < 4) outbox.send(buildMessage(scratch, 7, seq++, 40))
  const queuedBytes = outbox.queuedBytes
  t.throws(() => outbox.send(buildMessage(scratch, 7, 999, 40)), { code: 'ERR_OVERLOADED' })
  t.equal(outbox.queuedMessages, 4)
  t.equal(outbox.queuedBytes, queuedBytes)
  t.ok(new Lane(lane).usedBytes() > 0)
  drainAll(inbox, [outbox], checker.onMessage)
  t.equal(checker.problems, 0, checker.firstProblem ?? 'no problem')
  t.equal(checker.nextSeq[7], seq, 'everything accepted arrived, the refused message did not')
})

t.test('an outbox past its byte bound refuses a chunked message before writing any of it', async (t) => {
  const { inbox, outbox, lane } = localMailbox(256, { maxQueuedBytes: 300 })
  t.throws(() => outbox.send(new Uint8Array(301)), { code: 'ERR_OVERLOADED', message: /300/ })
  t.equal(new Lane(lane).usedBytes(), 0, 'no frame of it in the lane')
  t.equal(outbox.queuedMessages, 0)
  outbox.send(new Uint8Array(300))
  t.equal(inbox.drain(() => undefined), 0, 'the first chunks are in, the message is not complete')
  drainAll(inbox, [outbox], () => undefined)
  t.same(inbox.stats, { messages: 1, bytes: 300, discardedPartials: 0 })
})

t.test('a message larger than MAX_MESSAGE_BYTES is refused with ERR_FRAME_TOO_LARGE', async (t) => {
  const { outbox } = localMailbox(256)
  // Zero-filled and never written, so the OS only maps the pages.
  t.throws(() => outbox.send(new Uint8Array(MAX_MESSAGE_BYTES + 1)), { code: 'ERR_FRAME_TOO_LARGE' })
  t.equal(outbox.queuedMessages, 0)
})

t.test('broken chunk sequences are discarded and counted, never delivered, never fatal', async (t) => {
  const doorbell = createDoorbellBuffer()
  const buffer = createLaneBuffer(256)
  const inbox = new Inbox(doorbell)
  inbox.addLane(1, buffer)
  const lane = new Lane(buffer)
  const frame = (...bytes: number[]): void => {
    t.ok(lane.write(Uint8Array.from(bytes)))
  }
  const delivered: number[][] = []
  const collect: MessageHandler = (_from, bytes) => {
    delivered.push([...bytes])
  }

  frame(2, 9, 9) // continuation without a start: its sender restarted mid-message
  frame(3, 9) //   ... and its end
  frame(1, 4, 0, 0, 0, 1, 2) // FIRST of 4 bytes, then a WHOLE before it ends
  frame(0, 5)
  inbox.drain(collect)
  t.same(delivered, [[5]])
  t.equal(inbox.stats.discardedPartials, 2)

  frame(1, 3, 0, 0, 0, 1, 2) // parts add up to more than announced
  frame(3, 3, 4)
  frame(1, 0xff, 0xff, 0xff, 0xff, 1) // announced larger than MAX_MESSAGE_BYTES
  frame(2, 1)
  frame(3, 1)
  frame(1, 3, 0, 0, 0, 6) // parts add up to less than announced
  frame(3, 7)
  frame(1, 3, 0, 0, 0, 6) // a good one
  frame(3, 7, 8)
  inbox.drain(collect)
  t.same(delivered, [[5], [6, 7, 8]])
  t.equal(inbox.stats.discardedPartials, 5)
})

t.test('replacing or removing a lane drops its partial message and counts it', async (t) => {
  const doorbell = createDoorbellBuffer()
  const inbox = new Inbox(doorbell)
  const first = createLaneBuffer(256)
  inbox.addLane(3, first)
  new Lane(first).write(Uint8Array.from([1, 9, 0, 0, 0, 1]))
  inbox.drain(() => t.fail('nothing is complete'))
  const second = createLaneBuffer(256)
  inbox.addLane(3, second)
  t.equal(inbox.stats.discardedPartials, 1)
  new Lane(second).write(Uint8Array.from([1, 9, 0, 0, 0, 1]))
  inbox.drain(() => t.fail('nothing is complete'))
  inbox.removeLane(3)
  t.equal(inbox.stats.discardedPartials, 2)
  t.notOk(inbox.hasPending())
})

t.test('a busy sender does not starve the others', async (t) => {
  const doorbell = createDoorbellBuffer()
  const inbox = new Inbox(doorbell)
  const busyLane = createLaneBuffer(65536)
  const quietLane = createLaneBuffer(256)
  inbox.addLane(1, busyLane)
  inbox.addLane(2, quietLane)
  const busySender = new Outbox(busyLane, doorbell)
  const quietSender = new Outbox(quietLane, doorbell)
  for (let seq = 0; seq < 1000; seq++) busySender.send(buildMessage(new Uint8Array(16), 1, seq, 16))
  quietSender.send(buildMessage(new Uint8Array(16), 2, 0, 16))
  const order: number[] = []
  inbox.drain((from) => order.push(from))
  t.equal(order.length, 1001)
  t.ok(order.indexOf(2) < 100, `the quiet sender's message came at position ${order.indexOf(2)}, within the first turn`)
})

t.test('drain with maxMessages stops there and leaves the rest pending', async (t) => {
  const { inbox, outbox } = localMailbox(4096)
  for (let seq = 0; seq < 10; seq++) outbox.send(buildMessage(new Uint8Array(16), 7, seq, 16))
  const checker = new SequenceChecker()
  t.equal(inbox.drain(checker.onMessage, 4), 4)
  t.ok(inbox.hasPending())
  t.equal(inbox.drain(checker.onMessage), 6)
  t.notOk(inbox.hasPending())
  t.equal(checker.problems, 0, checker.firstProblem ?? 'no problem')
})

t.test('the idle receiver sleeps until the timeout, at about zero CPU', async (t) => {
  const inbox = new Inbox(createDoorbellBuffer())
  const timeoutMs = 200
  const startedMs = performance.now()
  const cpuBefore = process.cpuUsage()
  inbox.waitSync(timeoutMs)
  const cpu = process.cpuUsage(cpuBefore)
  const elapsedMs = performance.now() - startedMs
  t.ok(elapsedMs >= timeoutMs * 0.9, `slept ${elapsedMs.toFixed(1)} ms of ${timeoutMs}`)
  const cpuMs = (cpu.user + cpu.system) / 1000
  t.ok(cpuMs < elapsedMs / 2, `used ${cpuMs.toFixed(1)} ms of CPU while waiting ${elapsedMs.toFixed(1)} ms`)
})

t.test('waitSync returns at once when something arrived since the last drain', async (t) => {
  const { inbox, outbox } = localMailbox(1024)
  inbox.drain(() => undefined)
  outbox.send(new Uint8Array(8))
  outbox.ring()
  const startedMs = performance.now()
  inbox.waitSync(10_000)
  t.ok(performance.now() - startedMs < 10_000, 'did not sleep to the timeout')
  t.equal(inbox.drain(() => undefined), 1)
})

t.test('a send from another thread wakes a receiver sleeping in waitSync', async (t) => {
  const doorbell = createDoorbellBuffer()
  const lane = createLaneBuffer(1024)
  const inbox = new Inbox(doorbell)
  inbox.addLane(5, lane)
  const signal = new Int32Array(new SharedArrayBuffer(4))
  const producer = startProducer({ mode: 'wake', lane, doorbell, producerId: 5, signal: signal.buffer as SharedArrayBuffer })
  Atomics.store(signal, 0, 1)
  Atomics.notify(signal, 0)
  const timeoutMs = 10_000
  const startedMs = performance.now()
  let delivered = 0
  while (delivered === 0 && performance.now() - startedMs < timeoutMs) {
    inbox.waitSync(timeoutMs)
    delivered = inbox.drain(() => undefined)
  }
  t.equal(delivered, 1, 'the message arrived')
  t.ok(performance.now() - startedMs < timeoutMs, 'woken before the timeout')
  t.equal(await producer.exited, 0)
})

t.test('waitAsync sleeps without blocking the event loop, and a send wakes it', async (t) => {
  const doorbell = createDoorbellBuffer()
  const lane = createLaneBuffer(1024)
  const inbox = new Inbox(doorbell)
  inbox.addLane(5, lane)
  const signal = new Int32Array(new SharedArrayBuffer(4))
  const producer = startProducer({ mode: 'wake', lane, doorbell, producerId: 5, signal: signal.buffer as SharedArrayBuffer })
  // Only a timer on this thread's event loop tells the producer to send:
  // if waitAsync blocked the loop, nothing would wake it before the timeout.
  setTimeout(() => {
    Atomics.store(signal, 0, 1)
    Atomics.notify(signal, 0)
  }, 50)
  const timeoutMs = 10_000
  const startedMs = performance.now()
  let delivered = 0
  while (delivered === 0 && performance.now() - startedMs < timeoutMs) {
    await inbox.waitAsync(timeoutMs)
    delivered = inbox.drain(() => undefined)
  }
  t.equal(delivered, 1, 'the message arrived')
  t.ok(performance.now() - startedMs < timeoutMs, 'woken before the timeout')
  t.equal(await producer.exited, 0)
})

t.test('waitAsync keeps an otherwise idle thread alive until it returns', async (t) => {
  const done = new Int32Array(new SharedArrayBuffer(4))
  const worker = new Worker(new URL('./fixtures/lane-idle-wait.js', import.meta.url), {
    workerData: { doorbell: createDoorbellBuffer(), done: done.buffer, timeoutMs: 100 },
    execArgv: [],
  })
  const exitCode = await new Promise((resolve) => worker.once('exit', resolve))
  t.equal(exitCode, 0)
  t.equal(Atomics.load(done, 0), 1, 'the wait returned before the thread exited')
})

t.test('4 producer threads x 1,000,000 messages into one mailbox: exact counts, per-producer order', async (t) => {
  const producerCount = 4
  const messagesPerProducer = 1_000_000
  const doorbell = createDoorbellBuffer()
  const inbox = new Inbox(doorbell)
  const producers: Producer[] = []
  for (let producerId = 1; producerId <= producerCount; producerId++) {
    const lane = createLaneBuffer()
    inbox.addLane(producerId, lane)
    producers.push(startProducer({ mode: 'sequence', lane, doorbell, producerId, count: messagesPerProducer }))
  }
  const checker = new SequenceChecker()
  const startedMs = performance.now()
  const total = producerCount * messagesPerProducer
  const failure = await receiveUntil(inbox, checker.onMessage, () => checker.received >= total, producers, 60_000)
  const elapsedMs = performance.now() - startedMs
  t.equal(failure, undefined)
  t.same(await Promise.all(producers.map((producer) => producer.exited)), [0, 0, 0, 0])
  inbox.drain(checker.onMessage)
  t.equal(checker.problems, 0, checker.firstProblem ?? 'no lost, duplicated, reordered or damaged message')
  t.equal(checker.received, total, 'exact count, nothing extra')
  for (let producerId = 1; producerId <= producerCount; producerId++) {
    t.equal(checker.nextSeq[producerId], messagesPerProducer, `producer ${producerId} complete`)
  }
  t.comment(`${total} messages in ${elapsedMs.toFixed(0)} ms: ${Math.round(total / (elapsedMs / 1000))} msgs/s`)
})

t.test('throughput of one lane, worker to main thread (informative)', async (t) => {
  const count = 2_000_000
  const doorbell = createDoorbellBuffer()
  const lane = createLaneBuffer()
  const inbox = new Inbox(doorbell)
  inbox.addLane(1, lane)
  const checker = new SequenceChecker()
  let firstMs = 0
  const timed: MessageHandler = (from, bytes) => {
    if (firstMs === 0) firstMs = performance.now()
    checker.onMessage(from, bytes)
  }
  const producer = startProducer({ mode: 'sequence', lane, doorbell, producerId: 1, count })
  const failure = await receiveUntil(inbox, timed, () => checker.received >= count, [producer], 60_000)
  const elapsedMs = performance.now() - firstMs
  t.equal(failure, undefined)
  t.equal(checker.problems, 0, checker.firstProblem ?? 'no problem')
  t.equal(await producer.exited, 0)
  const perSecond = Math.round(count / (elapsedMs / 1000))
  t.comment(`one lane: ${count} messages of 12..32 bytes in ${elapsedMs.toFixed(0)} ms: ${perSecond} msgs/s`)
})

t.test('a producer killed mid chunked message does not wedge the receiver; the partial is discarded', async (t) => {
  const doorbell = createDoorbellBuffer()
  const lane = createLaneBuffer(4096)
  const inbox = new Inbox(doorbell)
  inbox.addLane(9, lane)
  const signal = new Int32Array(new SharedArrayBuffer(4))
  const wholeCount = 100
  const stalled = startProducer({
    mode: 'stall-mid-message',
    lane,
    doorbell,
    producerId: 9,
    wholeCount,
    largeMessageBytes: 50_000,
    signal: signal.buffer as SharedArrayBuffer,
  })
  const checker = new SequenceChecker()
  const started = () => checker.received >= wholeCount && Atomics.load(signal, 0) === 1
  t.equal(await receiveUntil(inbox, checker.onMessage, started, [stalled], 30_000), undefined)
  // The large message's first chunk was written before the signal: this drain takes it in.
  inbox.drain(checker.onMessage)
  await stalled.worker.terminate()
  drainAll(inbox, [], checker.onMessage)
  t.equal(checker.received, wholeCount, 'only whole messages arrived')
  t.equal(checker.problems, 0, checker.firstProblem ?? 'no problem')

  const restarted = startProducer({ mode: 'sequence', lane, doorbell, producerId: 9, count: 1000 })
  const fresh = new SequenceChecker()
  const all = () => fresh.received >= 1000
  t.equal(await receiveUntil(inbox, fresh.onMessage, all, [restarted], 30_000), undefined, 'the lane still works')
  t.equal(fresh.problems, 0, fresh.firstProblem ?? 'no problem')
  t.equal(inbox.stats.discardedPartials, 1, 'the cut-off message was discarded and counted')
  t.equal(await restarted.exited, 0)
})

t.test('producers killed at random moments never expose a torn or partial message', async (t) => {
  for (let round = 0; round < 6; round++) {
    const seed = 0xdead + round * 104729
    const failure = await killProducerMidStream(seed, 50 + round * 40)
    if (failure !== undefined) {
      t.fail(`seed ${seed}: ${failure}`)
      return
    }
  }
  t.pass('6 seeded kills')
})

/** Runs a random-size producer, kills it after `killAfter` messages, restarts it on the same lane. */
async function killProducerMidStream(seed: number, killAfter: number): Promise<string | undefined> {
  const doorbell = createDoorbellBuffer()
  const lane = createLaneBuffer(4096)
  const inbox = new Inbox(doorbell)
  inbox.addLane(4, lane)
  const victim = startProducer({ mode: 'forever', lane, doorbell, producerId: 4, seed, maxMessageBytes: 20_000 })
  const checker = new SequenceChecker()
  const failure = await receiveUntil(inbox, checker.onMessage, () => checker.received >= killAfter, [victim], 30_000)
  if (failure !== undefined) return failure
  // Keep draining while the kill lands, so the producer is busy writing when it dies.
  const killed = victim.worker.terminate()
  let terminated = false
  void killed.then(() => (terminated = true))
  while (!terminated) {
    inbox.drain(checker.onMessage)
    await new Promise((resolve) => setImmediate(resolve))
  }
  drainAll(inbox, [], checker.onMessage)
  if (checker.problems > 0) return `before restart: ${checker.firstProblem}`

  const restarted = startProducer({ mode: 'sequence', lane, doorbell, producerId: 4, count: 500 })
  const fresh = new SequenceChecker()
  const restartFailure = await receiveUntil(inbox, fresh.onMessage, () => fresh.received >= 500, [restarted], 30_000)
  if (restartFailure !== undefined) return `after restart: ${restartFailure}`
  if (fresh.problems > 0) return `after restart: ${fresh.firstProblem}`
  if (inbox.stats.discardedPartials > 1) return `${inbox.stats.discardedPartials} partials discarded, at most 1 expected`
  await restarted.exited
  return undefined
}
