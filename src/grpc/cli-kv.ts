/**
 * `shardkv get|put|append|del KEY [VALUE]`: one call to a running `shardkv
 * serve`. Text values are printed as they are; a value stored as bytes is
 * printed in base64 (and `--json` says so with "encoding": "base64").
 */
import type { ArgsCommand } from '../cli.js'
import { UsageError, type FlagSpecs, type FlagValues } from '../cli-flags.js'
import type { Value } from '../client/kv-client.js'
import { operandCommand } from './cli-command.js'
import { CLIENT_FLAGS, EXIT_CODES, EXIT_CODES_HELP, withClient, type Outcome } from './cli-client.js'

const KEY = { name: 'KEY', description: 'The key (a non-empty string; after "--" it may start with "-").' }
const VALUE = { name: 'VALUE', description: 'The value, stored as text (or as bytes with --base64).' }

const WRITE_FLAGS = {
  ...CLIENT_FLAGS,
  base64: { kind: 'boolean', description: 'VALUE is base64: store the decoded bytes.' },
} as const satisfies FlagSpecs

const getCommand = operandCommand({
  name: 'get',
  summary: 'Print the value of KEY (bytes in base64).',
  operands: [KEY],
  flags: CLIENT_FLAGS,
  epilog: EXIT_CODES_HELP,
  run: (values, [key], io, path) =>
    withClient(values, io, path, async (client) => {
      const value = await client.get(key!)
      if (value === undefined) return { exitCode: EXIT_CODES.notFound, text: '', json: { key, found: false }, note: 'key not found' }
      return { exitCode: EXIT_CODES.ok, text: printable(value), json: { key, found: true, ...jsonValue(value) } }
    }),
})

/** put and append differ only in the call they make. */
function writeCommand(name: 'put' | 'append', summary: string) {
  return operandCommand({
    name,
    summary,
    operands: [KEY, VALUE],
    flags: WRITE_FLAGS,
    epilog: EXIT_CODES_HELP,
    run: (values, [key, text], io, path) => {
      const value = valueOf(text!, values, path)
      return withClient(values, io, path, async (client) => {
        await client[name](key!, value)
        return written(key!)
      })
    },
  })
}

const putCommand = writeCommand('put', 'Set KEY to VALUE.')
const appendCommand = writeCommand('append', 'Append VALUE to the value of KEY (text onto text, bytes onto bytes).')

const delCommand = operandCommand({
  name: 'del',
  summary: 'Delete KEY (exit code 3 when it had no value).',
  operands: [KEY],
  flags: CLIENT_FLAGS,
  epilog: EXIT_CODES_HELP,
  run: (values, [key], io, path) =>
    withClient(values, io, path, async (client) => {
      const deleted = await client.delete(key!)
      return deleted
        ? { exitCode: EXIT_CODES.ok, text: '', json: { key, deleted: true } }
        : { exitCode: EXIT_CODES.notFound, text: '', json: { key, deleted: false }, note: 'key not found' }
    }),
})

export const keyValueCommands: readonly ArgsCommand[] = [getCommand, putCommand, appendCommand, delCommand]

function written(key: string): Outcome {
  return { exitCode: EXIT_CODES.ok, text: '', json: { key } }
}

function printable(value: Value): string {
  return typeof value === 'string' ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')
}

function jsonValue(value: Value): Record<string, unknown> {
  return typeof value === 'string' ? { text: true, value } : { text: false, encoding: 'base64', value: printable(value) }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

function valueOf(text: string, values: FlagValues<typeof WRITE_FLAGS>, path: string): Value {
  if (!values.base64) return text
  if (!BASE64.test(text)) throw new UsageError(`${path}: VALUE is not base64 (--base64 was given)`)
  return new Uint8Array(Buffer.from(text, 'base64'))
}
