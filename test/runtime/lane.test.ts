import t from 'tap'
import { ShardKVError } from '../../src/errors.js'
import {
  createLaneBuffer,
  DEFAULT_LANE_CAPACITY_BYTES,
  Lane,
  LANE_HEADER_BYTES,
  MAX_LANE_CAPACITY_BYTES,
  MIN_LANE_CAPACITY_BYTES,
} from '../../src/runtime/lane.js'
import { seededRandom } from './fixtures/producer-messages.js'

/** Payload of `lengthBytes` whose bytes depend on `id`, so any mix-up shows. */
function payload(id: number, lengthBytes: number): Uint8Array {
  const bytes = new Uint8Array(lengthBytes)
  for (let index = 0; index < lengthBytes; index++) bytes[index] = (id * 17 + index * 3 + 1) & 0xff
  return bytes
}

/** Frame size on the ring: Int32 length plus payload padded to 4. */
function frameBytes(payloadBytes: number): number {
  return 4 + Math.ceil(payloadBytes / 4) * 4
}

function sameBytes(actual: Uint8Array | undefined, expected: Uint8Array): boolean {
  return actual !== undefined && Buffer.compare(Buffer.from(actual), Buffer.from(expected)) === 0
}

t.test('createLaneBuffer sizes the buffer as header plus stated capacity', async (t) => {
  t.equal(createLaneBuffer().byteLength, LANE_HEADER_BYTES + DEFAULT_LANE_CAPACITY_BYTES)
  const lane = new Lane(createLaneBuffer(1024))
  t.equal(lane.capacityBytes, 1024)
  t.equal(lane.maxFrameBytes, 1024 / 2 - 4)
  t.ok(lane.isEmpty())
  t.equal(lane.usedBytes(), 0)
})

t.test('createLaneBuffer rejects capacities off the bounds, naming them', async (t) => {
  for (const capacityBytes of [0, 100, MIN_LANE_CAPACITY_BYTES - 8, 260, 1000.5, MAX_LANE_CAPACITY_BYTES + 8, Number.NaN]) {
    t.throws(
      () => createLaneBuffer(capacityBytes),
      { code: 'ERR_INVALID_OPTION', message: /multiple of 8 in 256\.\.67108864/ },
      `capacity ${capacityBytes}`,
    )
  }
  t.throws(() => new Lane(new SharedArrayBuffer(LANE_HEADER_BYTES + 100)), { code: 'ERR_INVALID_OPTION' })
})

t.test('frames come out in order with their exact content', async (t) => {
  const lane = new Lane(createLaneBuffer(1024))
  for (let id = 0; id < 10; id++) t.ok(lane.write(payload(id, id * 7)))
  for (let id = 0; id < 10; id++) t.ok(sameBytes(lane.read(), payload(id, id * 7)), `frame ${id}`)
  t.equal(lane.read(), undefined)
  t.ok(lane.isEmpty())
})

t.test('wrap-around writes a skip marker and the frame at offset 0, for every size and start offset', async (t) => {
  const capacityBytes = 256
  let checkedFrames = 0
  let failures = 0
  let sawSkip = false
  for (let payloadBytes = 0; payloadBytes <= 124; payloadBytes++) {
    const buffer = createLaneBuffer(capacityBytes)
    const words = new Int32Array(buffer, LANE_HEADER_BYTES)
    const producer = new Lane(buffer)
    const consumer = new Lane(buffer)
    // Two sizes in turn so the tail visits every 4-byte offset and must wrap from each.
    for (let id = 0; id < 200; id++) {
      const lengthBytes = id % 2 === 0 ? payloadBytes : 9
      const expected = payload(id, lengthBytes)
      if (!producer.write(expected)) failures++
      if (!sameBytes(consumer.read(), expected)) failures++
      checkedFrames++
    }
    if (words.includes(-1)) sawSkip = true
  }
  t.equal(failures, 0, `${checkedFrames} frames written and read back byte-exact`)
  t.ok(sawSkip, 'a skip marker was written')
})

t.test('a frame that does not fit before the end is preceded by a skip marker', async (t) => {
  const buffer = createLaneBuffer(512)
  const lane = new Lane(buffer)
  const words = new Int32Array(buffer, LANE_HEADER_BYTES)
  t.ok(lane.write(payload(1, 244)), 'frame of 248 bytes at offset 0')
  t.ok(lane.write(payload(2, 244)), 'frame of 248 bytes at offset 248')
  t.ok(sameBytes(lane.read(), payload(1, 244)))
  t.ok(sameBytes(lane.read(), payload(2, 244)))
  t.ok(lane.write(payload(3, 60)), 'frame of 64 bytes does not fit in the last 16')
  t.equal(words[496 / 4], -1, 'skip marker at offset 496')
  t.equal(words[0], 60, 'frame length at offset 0')
  t.equal(lane.usedBytes(), 16 + 64, 'the skipped end counts as used until read')
  t.ok(sameBytes(lane.read(), payload(3, 60)))
  t.equal(lane.usedBytes(), 0)
})

t.test('a full lane refuses writes and never overwrites unread frames', async (t) => {
  const lane = new Lane(createLaneBuffer(1024))
  let written = 0
  while (lane.write(payload(written, 28))) written++
  t.equal(written, 1024 / frameBytes(28), 'frames of 32 bytes fill 1024 exactly')
  for (const lengthBytes of [0, 1, 20, 100, lane.maxFrameBytes]) {
    t.notOk(lane.write(payload(999, lengthBytes)), `write of ${lengthBytes} refused`)
  }
  for (let id = 0; id < written; id++) t.ok(sameBytes(lane.read(), payload(id, 28)), `frame ${id} intact`)
  t.equal(lane.read(), undefined)
})

t.test('a frame that fits neither before the end nor before the head is refused, unread frames intact', async (t) => {
  const lane = new Lane(createLaneBuffer(256))
  t.ok(lane.write(payload(1, 100)), 'frame 1 at 0..104')
  t.ok(lane.write(payload(2, 100)), 'frame 2 at 104..208')
  t.ok(sameBytes(lane.read(), payload(1, 100)))
  // 152 bytes are free, but in two pieces (48 at the end, 104 at the start) and the frame needs 120.
  t.notOk(lane.write(payload(3, 116)))
  t.equal(lane.usedBytes(), 104, 'the refused write left no trace')
  t.ok(sameBytes(lane.read(), payload(2, 100)))
  t.ok(lane.write(payload(3, 116)), 'fits at offset 0 once frame 2 is read')
  t.ok(sameBytes(lane.read(), payload(3, 116)))
})

t.test('a frame larger than maxFrameBytes is rejected with ERR_FRAME_TOO_LARGE', async (t) => {
  const lane = new Lane(createLaneBuffer(256))
  t.throws(() => lane.write(new Uint8Array(lane.maxFrameBytes + 1)), { code: 'ERR_FRAME_TOO_LARGE' })
  t.throws(() => lane.write(new Uint8Array(1000)), ShardKVError)
  t.ok(lane.isEmpty(), 'nothing written')
})

t.test('a frame of maxFrameBytes fits an empty lane wherever the tail is', async (t) => {
  const buffer = createLaneBuffer(256)
  const lane = new Lane(buffer)
  for (let offset = 0; offset < 256; offset += 4) {
    if (offset > 0) {
      t.ok(lane.write(new Uint8Array(0)), 'advance the tail by 4')
      lane.read()
    }
    const expected = payload(offset, lane.maxFrameBytes)
    t.ok(lane.write(expected), `max frame from offset ${offset + 4}`)
    t.ok(sameBytes(lane.read(), expected))
  }
})

t.test('exact fill: frames summing to the capacity all fit, then nothing does', async (t) => {
  const lane = new Lane(createLaneBuffer(256))
  t.ok(lane.write(payload(1, lane.maxFrameBytes)))
  t.ok(lane.write(payload(2, lane.maxFrameBytes)))
  t.equal(lane.usedBytes(), 256)
  t.notOk(lane.write(new Uint8Array(0)), 'not even an empty frame')
  t.ok(sameBytes(lane.read(), payload(1, lane.maxFrameBytes)))
  t.ok(lane.write(payload(3, lane.maxFrameBytes)), 'room again after one read')
  t.ok(sameBytes(lane.read(), payload(2, lane.maxFrameBytes)))
  t.ok(sameBytes(lane.read(), payload(3, lane.maxFrameBytes)))

  for (let count = 0; count < 64; count++) t.ok(lane.write(new Uint8Array(0)), `empty frame ${count}`)
  t.equal(lane.usedBytes(), 256)
  t.notOk(lane.write(new Uint8Array(0)))
})

t.test('readWith hands a view of the frame and consumes it even when the callback throws', async (t) => {
  const lane = new Lane(createLaneBuffer(256))
  t.notOk(lane.readWith(() => t.fail('no frame to see')))
  lane.write(payload(1, 10))
  lane.write(payload(2, 10))
  let seen: Uint8Array | undefined
  t.ok(lane.readWith((view) => (seen = view.slice())))
  t.ok(sameBytes(seen, payload(1, 10)))
  t.throws(() => lane.readWith(() => { throw new Error('handler failed') }), /handler failed/)
  t.ok(lane.isEmpty(), 'the frame whose handler threw is gone')
})

t.test('a lane rebuilt on the same buffer resumes at the published positions', async (t) => {
  const buffer = createLaneBuffer(256)
  const firstProducer = new Lane(buffer)
  firstProducer.write(payload(1, 50))
  firstProducer.write(payload(2, 50))
  // A producer that dies between beginWrite and endWrite leaves nothing visible.
  const at = firstProducer.beginWrite(50)
  new Uint8Array(buffer, LANE_HEADER_BYTES).fill(0xee, at, at + 50)
  const consumer = new Lane(buffer)
  t.ok(sameBytes(consumer.read(), payload(1, 50)))
  const restartedProducer = new Lane(buffer)
  t.ok(restartedProducer.write(payload(3, 50)))
  t.ok(sameBytes(consumer.read(), payload(2, 50)))
  t.ok(sameBytes(consumer.read(), payload(3, 50)))
  t.equal(consumer.read(), undefined)
})

t.test('random interleavings of writes and reads match a FIFO model', async (t) => {
  const seeds = Array.from({ length: 40 }, (_, index) => 0x5eed + index * 7919)
  for (const seed of seeds) {
    const failure = runRandomLaneScenario(seed)
    if (failure !== undefined) {
      t.fail(`seed ${seed}: ${failure}`)
      return
    }
  }
  t.pass(`${seeds.length} seeded scenarios (first seed ${seeds[0]})`)
})

/** One seeded scenario; returns what went wrong, if anything. */
function runRandomLaneScenario(seed: number): string | undefined {
  const random = seededRandom(seed)
  const capacityBytes = 256 + 8 * Math.floor(random() * 200)
  const lane = new Lane(createLaneBuffer(capacityBytes))
  const model: Uint8Array[] = []
  let modelFrameBytes = 0
  let nextId = 0
  for (let step = 0; step < 3000; step++) {
    if (random() < 0.55) {
      const lengthBytes = Math.floor(random() ** 2 * (lane.maxFrameBytes + 1))
      const expected = payload(nextId++, lengthBytes)
      const usedBefore = lane.usedBytes()
      const written = lane.write(expected)
      const frame = frameBytes(lengthBytes)
      // Whatever the wrap point, twice the frame size of free space always suffices.
      if (!written && usedBefore + 2 * frame <= capacityBytes) {
        return `step ${step}: refused ${lengthBytes} bytes with room`
      }
      if (!written && model.length === 0) return `step ${step}: refused ${lengthBytes} bytes on an empty lane`
      if (written) {
        model.push(expected)
        modelFrameBytes += frame
      }
    } else {
      const expected = model.shift()
      const actual = lane.read()
      if (expected === undefined) {
        if (actual !== undefined) return `step ${step}: read a frame from an empty lane`
        continue
      }
      if (!sameBytes(actual, expected)) return `step ${step}: frame content or order differs`
      modelFrameBytes -= frameBytes(expected.length)
    }
    // Used space is the frames plus at most one skipped end, which is shorter than a frame.
    const usedBytes = lane.usedBytes()
    if (usedBytes < modelFrameBytes || usedBytes >= modelFrameBytes + frameBytes(lane.maxFrameBytes)) {
      return `step ${step}: usedBytes ${usedBytes} out of range`
    }
  }
  return undefined
}
