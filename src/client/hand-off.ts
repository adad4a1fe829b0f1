/**
 * Waiting for a departing group to hand off its shards. After a Leave, the
 * group's nodes apply the new configuration, push each shard to its new
 * owner and delete it once acknowledged; only then may their actors stop,
 * or the data would go with them. We ask the members for their status
 * (StatusRequest) until one has applied configuration `leftNum` (or a later
 * one) and holds no shard. One is enough: a node applies only committed
 * commands, so what one member has applied the group's log holds for good,
 * and members that are down or behind need not be waited for.
 */
import { performance } from 'node:perf_hooks'
import type { StatusReply, StatusRequest } from '../actors/messages.js'
import { ShardKVError } from '../errors.js'
import { isSendFailure, sleep, type RpcChannel } from './rpc.js'

const STATUS_ATTEMPT_MS = 250
const POLL_INTERVAL_MS = 20

/** Resolves once a member has handed off; ERR_TIMEOUT at `deadlineMs`, naming what is still held. */
export async function awaitHandOff(rpc: RpcChannel, gid: number, members: readonly string[], leftNum: number, deadlineMs: number): Promise<void> {
  /** Each member's latest answer, for the timeout message. */
  const lastSeen = new Map<string, StatusReply>()
  for (;;) {
    const replies = await Promise.all(members.map(async (member) => [member, await askStatus(rpc, member, deadlineMs)] as const))
    for (const [member, reply] of replies) {
      if (reply === undefined) continue
      lastSeen.set(member, reply)
      if (isHandedOff(reply, leftNum)) return
    }
    const leftMs = deadlineMs - performance.now()
    if (leftMs <= 0) throw handOffTimeout(gid, leftNum, members, lastSeen)
    await sleep(Math.min(POLL_INTERVAL_MS, leftMs))
  }
}

function isHandedOff(reply: StatusReply, leftNum: number): boolean {
  return reply.configNum >= leftNum && reply.shardsHeld.length === 0
}

async function askStatus(rpc: RpcChannel, member: string, deadlineMs: number): Promise<StatusReply | undefined> {
  const leftMs = deadlineMs - performance.now()
  if (leftMs <= 0 || !rpc.has(member)) return undefined
  const request: StatusRequest = { type: 'status', seq: rpc.controlSeq() }
  try {
    return await rpc.call(member, request, 'statusr', Math.min(STATUS_ATTEMPT_MS, leftMs))
  } catch (error) {
    if (isSendFailure(error)) return undefined
    throw error
  }
}

function handOffTimeout(gid: number, leftNum: number, members: readonly string[], lastSeen: Map<string, StatusReply>): ShardKVError {
  const details = members.map((member) => {
    const reply = lastSeen.get(member)
    if (reply === undefined) return `${member} did not answer`
    const held = reply.shardsHeld.length === 0 ? 'no shard' : `shards ${reply.shardsHeld.join(',')}`
    return `${member} at configuration ${reply.configNum} (the departure is ${leftNum}) holds ${held}`
  })
  return new ShardKVError('ERR_TIMEOUT', `group ${gid} has not finished handing off its shards (${details.join('; ')}); call leave(${gid}) again to keep waiting`)
}
