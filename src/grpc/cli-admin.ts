/**
 * `shardkv admin join|leave|move|query|actors|stats`: the shard
 * configuration of a running `shardkv serve`, over the Admin service.
 */
import type { GroupCommand } from '../cli.js'
import { UsageError, type FlagSpecs } from '../cli-flags.js'
import type { ClusterActor, ClusterConfig } from '../cluster.js'
import { operandCommand } from './cli-command.js'
import { CLIENT_FLAGS, EXIT_CODES, EXIT_CODES_HELP, withClient, type Outcome } from './cli-client.js'

const JOIN_FLAGS = {
  ...CLIENT_FLAGS,
  replicas: { kind: 'integer', description: 'Storage nodes of the new group.', defaultText: "the server's", min: 1, max: 64 },
} as const satisfies FlagSpecs

const join = operandCommand({
  name: 'join',
  summary: 'Start a new replica group and join it; prints its gid.',
  operands: [],
  flags: JOIN_FLAGS,
  epilog: EXIT_CODES_HELP,
  run: (values, _operands, io, path) =>
    withClient(values, io, path, async (client) => {
      const gid = await client.admin.join(values.replicas === undefined ? {} : { replicas: values.replicas })
      return done(String(gid), { gid })
    }),
})

const leave = operandCommand({
  name: 'leave',
  summary: 'Hand off every shard of group GID, then stop its nodes.',
  operands: [{ name: 'GID', description: 'The group (see "shardkv admin query").' }],
  flags: CLIENT_FLAGS,
  epilog: EXIT_CODES_HELP,
  run: (values, [gidText], io, path) => {
    const gid = integerOperand('GID', gidText!, path)
    return withClient(values, io, path, async (client) => {
      await client.admin.leave(gid)
      return done('', { gid })
    })
  },
})

const move = operandCommand({
  name: 'move',
  summary: 'Give SHARD to group GID (until the next join or leave rebalances).',
  operands: [
    { name: 'SHARD', description: 'The shard, 0..shards-1.' },
    { name: 'GID', description: 'The group that gets it.' },
  ],
  flags: CLIENT_FLAGS,
  epilog: EXIT_CODES_HELP,
  run: (values, [shardText, gidText], io, path) => {
    const shard = integerOperand('SHARD', shardText!, path)
    const gid = integerOperand('GID', gidText!, path)
    return withClient(values, io, path, async (client) => {
      await client.admin.move(shard, gid)
      return done('', { shard, gid })
    })
  },
})

const query = operandCommand({
  name: 'query',
  summary: 'Print configuration NUM (default: the latest): its groups and their shards.',
  operands: [{ name: 'NUM', description: 'Configuration number; absent or negative: the latest.', optional: true }],
  flags: CLIENT_FLAGS,
  epilog: EXIT_CODES_HELP,
  run: (values, [numText], io, path) => {
    const num = numText === undefined ? undefined : integerOperand('NUM', numText, path, true)
    return withClient(values, io, path, async (client) => {
      const config = await client.admin.query(num)
      return done(formatConfig(config), { config })
    })
  },
})

const actors = operandCommand({
  name: 'actors',
  summary: 'List the actors (threads) of the cluster: id, kind, group, role, restarts.',
  operands: [],
  flags: CLIENT_FLAGS,
  epilog: EXIT_CODES_HELP,
  run: (values, _operands, io, path) =>
    withClient(values, io, path, async (client) => {
      const list = await client.admin.actors()
      return done(formatActors(list), { actors: list })
    }),
})

const stats = operandCommand({
  name: 'stats',
  summary: "Print the cluster's stats (JSON).",
  operands: [],
  flags: CLIENT_FLAGS,
  epilog: EXIT_CODES_HELP,
  run: (values, _operands, io, path) =>
    withClient(values, io, path, async (client) => {
      const document = await client.admin.stats()
      return done(JSON.stringify(document, null, 2), { stats: document })
    }),
})

export const adminCommand: GroupCommand = {
  name: 'admin',
  summary: 'Shard configuration of a running server: join, leave, move, query, actors, stats.',
  subcommands: [join, leave, move, query, actors, stats],
}

function done(text: string, json: Record<string, unknown>): Outcome {
  return { exitCode: EXIT_CODES.ok, text, json }
}

function integerOperand(name: string, text: string, path: string, allowNegative = false): number {
  const pattern = allowNegative ? /^-?\d{1,10}$/ : /^\d{1,10}$/
  if (!pattern.test(text)) throw new UsageError(`${path}: ${name} must be ${allowNegative ? 'an' : 'a non-negative'} integer, got "${text}"`)
  return Number(text)
}

/** "configuration 3", then one line per group: its members and shard ranges; then the unassigned shards. */
export function formatConfig(config: ClusterConfig): string {
  const lines = [`configuration ${config.num}`]
  const gids = Object.keys(config.groups).map(Number).sort((a, b) => a - b)
  for (const gid of gids) {
    const shards = config.shards.flatMap((owner, shard) => (owner === gid ? [shard] : []))
    lines.push(`group ${gid} (${config.groups[gid]!.join(', ')}): ${shards.length} shards ${ranges(shards)}`.trimEnd())
  }
  const unassigned = config.shards.flatMap((owner, shard) => (owner === 0 ? [shard] : []))
  if (unassigned.length > 0) lines.push(`unassigned: ${unassigned.length} shards ${ranges(unassigned)}`)
  return lines.join('\n')
}

function ranges(sorted: readonly number[]): string {
  const parts: string[] = []
  for (let start = 0; start < sorted.length; ) {
    let end = start
    while (end + 1 < sorted.length && sorted[end + 1] === sorted[end]! + 1) end++
    parts.push(end === start ? `${sorted[start]}` : `${sorted[start]}-${sorted[end]}`)
    start = end + 1
  }
  return parts.join(',')
}

function formatActors(list: readonly ClusterActor[]): string {
  const rows = list.map((actor) => [actor.id, actor.kind, actor.gid === undefined ? '-' : `g${actor.gid}`, actor.role, `restarts ${actor.restarts}`])
  const widths = [0, 1, 2, 3].map((column) => Math.max(...rows.map((row) => row[column]!.length)))
  return rows.map((row) => row.map((cell, column) => (column < 4 ? cell.padEnd(widths[column]!) : cell)).join('  ')).join('\n')
}
