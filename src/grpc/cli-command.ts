/**
 * Commands with operands (`shardkv get KEY`, `shardkv admin move SHARD GID`)
 * on top of the CLI's typed flag parser: split the arguments into flags
 * (parsed by parseFlags against the same specs) and operands, check the
 * operand count, print help. Operands may come before, between or after the
 * flags; after `--` everything is an operand (a key that starts with "-").
 */
import type { ArgsCommand, CliIo } from '../cli.js'
import { flagName, formatFlagHelp, parseFlags, UsageError, wantsHelp, type FlagSpecs, type FlagValues } from '../cli-flags.js'

export interface OperandSpec {
  /** Upper case in help: KEY, VALUE, GID. */
  readonly name: string
  readonly description: string
  readonly optional?: boolean
}

export interface OperandCommandSpec<S extends FlagSpecs> {
  readonly name: string
  readonly summary: string
  readonly operands: readonly OperandSpec[]
  readonly flags: S
  /** Help text after the flags: exit codes, examples. */
  readonly epilog?: string
  run(values: FlagValues<S>, operands: readonly string[], io: CliIo, path: string): Promise<number>
}

export function operandCommand<S extends FlagSpecs>(spec: OperandCommandSpec<S>): ArgsCommand {
  return {
    name: spec.name,
    summary: spec.summary,
    async runArgs(args, path, io) {
      if (wantsHelp(args)) {
        io.out(helpOf(spec, path))
        return 0
      }
      const { flagArgs, operands } = splitArguments(spec.flags, args)
      const values = parseFlags(spec.flags, flagArgs, path)
      checkOperandCount(spec.operands, operands, path)
      return spec.run(values, operands, io, path)
    },
  }
}

/** Flags (with their values) apart from operands, using the specs to know which flags take a value. */
export function splitArguments(specs: FlagSpecs, args: readonly string[]): { flagArgs: string[]; operands: string[] } {
  const takesValue = new Set(Object.entries(specs).filter(([, spec]) => spec.kind !== 'boolean').map(([key]) => flagName(key)))
  const flagArgs: string[] = []
  const operands: string[] = []
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!
    if (arg === '--') {
      operands.push(...args.slice(index + 1))
      break
    }
    if (!arg.startsWith('--')) {
      operands.push(arg)
      continue
    }
    flagArgs.push(arg)
    if (!arg.includes('=') && takesValue.has(arg) && index + 1 < args.length) flagArgs.push(args[++index]!)
  }
  return { flagArgs, operands }
}

function checkOperandCount(specs: readonly OperandSpec[], operands: readonly string[], path: string): void {
  const required = specs.filter((spec) => spec.optional !== true).length
  if (operands.length >= required && operands.length <= specs.length) return
  const problem = operands.length < required ? `missing ${specs[operands.length]!.name}` : `unexpected argument "${operands[specs.length]}"`
  throw new UsageError(`${path}: ${problem}. Usage: ${synopsis(specs, path)}. Run "${path} --help" for usage.`)
}

function synopsis(specs: readonly OperandSpec[], path: string): string {
  const operands = specs.map((spec) => (spec.optional === true ? `[${spec.name}]` : spec.name))
  return [path, ...operands, '[flags]'].join(' ')
}

function helpOf<S extends FlagSpecs>(spec: OperandCommandSpec<S>, path: string): string {
  const width = Math.max(0, ...spec.operands.map((operand) => operand.name.length))
  const operands = spec.operands.map((operand) => `  ${operand.name.padEnd(width)}   ${operand.description}${operand.optional === true ? ' (optional)' : ''}`)
  const sections = [`Usage: ${synopsis(spec.operands, path)}`, spec.summary]
  if (operands.length > 0) sections.push(`Operands:\n${operands.join('\n')}`)
  sections.push(`Flags:\n${formatFlagHelp(spec.flags)}`)
  if (spec.epilog !== undefined) sections.push(spec.epilog)
  return `${sections.join('\n\n')}\n`
}
