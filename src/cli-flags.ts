/**
 * A small, typed flag parser for the `shardkv` command and its subcommands.
 *
 * A command declares its flags once, as an object of specs keyed by the
 * camelCase name its code uses (`durationMs`); on the command line the flag
 * is the kebab-case form (`--duration-ms`). The spec carries the default, the
 * accepted range or choices and the help text, so parsing, validation and
 * `--help` output cannot drift apart. Declare specs `as const satisfies
 * FlagSpecs` and `parseFlags` returns a typed object: a flag with a default
 * is always set, one without may be undefined.
 *
 * Accepted forms: `--name value`, `--name=value`; a boolean flag takes no
 * value (or `=true` / `=false`). `--` ends the flags. Every mistake (unknown
 * flag, missing or bad value, a flag given twice, a stray argument) is a
 * UsageError naming the flag, which the CLI turns into exit code 2.
 */

/** Exit code of a command-line usage mistake (as in BSD sysexits' EX_USAGE tradition of "2 = misuse"). */
export const USAGE_EXIT_CODE = 2

export class UsageError extends Error {
  readonly exitCode = USAGE_EXIT_CODE

  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

interface FlagSpecBase {
  /** One line for `--help`. */
  readonly description: string
  /** For a flag without a fixed default: what happens when it is not given, for `--help`. */
  readonly defaultText?: string
}

/** A whole number within [min, max]. */
export interface IntegerFlagSpec extends FlagSpecBase {
  readonly kind: 'integer'
  readonly min: number
  readonly max: number
  readonly default?: number
  /** Shown in help and errors, e.g. "ms". */
  readonly unit?: string
}

/** A finite decimal number within [min, max]. */
export interface NumberFlagSpec extends FlagSpecBase {
  readonly kind: 'number'
  readonly min: number
  readonly max: number
  readonly default?: number
  readonly unit?: string
}

/** Present or absent; never has a default other than false. */
export interface BooleanFlagSpec extends FlagSpecBase {
  readonly kind: 'boolean'
}

/** A string, optionally restricted to `choices`. */
export interface StringFlagSpec extends FlagSpecBase {
  readonly kind: 'string'
  readonly choices?: readonly string[]
  readonly default?: string
}

export type FlagSpec = IntegerFlagSpec | NumberFlagSpec | BooleanFlagSpec | StringFlagSpec

export type FlagSpecs = Readonly<Record<string, FlagSpec>>

type FlagValue<S extends FlagSpec> = S extends BooleanFlagSpec
  ? boolean
  : S extends IntegerFlagSpec | NumberFlagSpec
    ? S extends { readonly default: number }
      ? number
      : number | undefined
    : S extends { readonly default: string }
      ? string
      : string | undefined

export type FlagValues<S extends FlagSpecs> = { [K in keyof S]: FlagValue<S[K]> }

/** `durationMs` -> `--duration-ms`. */
export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`
}

/** True when `args` ask for help (`--help` or `-h` before any `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false
    if (arg === '--help' || arg === '-h') return true
  }
  return false
}

/**
 * Parses `args` against `specs`. `command` names the command in error
 * messages ("shardkv bench runtime"). Throws UsageError on any mistake.
 */
export function parseFlags<S extends FlagSpecs>(specs: S, args: readonly string[], command: string): FlagValues<S> {
  const byName = new Map<string, string>(Object.keys(specs).map((key) => [flagName(key), key]))
  const given = new Map<string, unknown>()
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!
    if (arg === '--') {
      if (index + 1 < args.length) throw usage(command, `unexpected argument "${args[index + 1]}"`)
      break
    }
    if (!arg.startsWith('--')) throw usage(command, `unexpected argument "${arg}"`)
    const equals = arg.indexOf('=')
    const name = equals < 0 ? arg : arg.slice(0, equals)
    const key = byName.get(name)
    if (key === undefined) throw usage(command, `unknown flag ${name}`)
    if (given.has(key)) throw usage(command, `${name} is given more than once`)
    const spec = specs[key]!
    let text: string | undefined = equals < 0 ? undefined : arg.slice(equals + 1)
    if (text === undefined && spec.kind !== 'boolean') {
      const next = args[index + 1]
      if (next === undefined || next.startsWith('--')) throw usage(command, `${name} needs a value (${describeExpected(spec)})`)
      text = next
      index++
    }
    given.set(key, parseValue(spec, name, text, command))
  }
  const values: Record<string, unknown> = {}
  for (const [key, spec] of Object.entries(specs)) {
    values[key] = given.has(key) ? given.get(key) : defaultOf(spec)
  }
  return values as FlagValues<S>
}

/** Help lines for `specs`, aligned: `  --duration-ms <ms>   Measurement window. (default 2000, 50..600000)`. */
export function formatFlagHelp(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([key, spec]) => [flagSynopsis(key, spec), describeFlag(spec)] as const)
  rows.push(['--help, -h', 'Show this help.'])
  const width = Math.max(...rows.map(([synopsis]) => synopsis.length))
  return rows.map(([synopsis, text]) => `  ${synopsis.padEnd(width)}   ${text}`).join('\n')
}

function parseValue(spec: FlagSpec, name: string, text: string | undefined, command: string): unknown {
  switch (spec.kind) {
    case 'boolean':
      if (text === undefined || text === 'true') return true
      if (text === 'false') return false
      throw usage(command, `${name} takes no value (or =true / =false), got "${text}"`)
    case 'integer':
    case 'number': {
      const value = parseNumber(spec.kind, text!)
      if (value === undefined || value < spec.min || value > spec.max) {
        throw usage(command, `${name} must be ${describeExpected(spec)}, got "${text}"`)
      }
      return value
    }
    case 'string':
      if (spec.choices !== undefined && !spec.choices.includes(text!)) {
        throw usage(command, `${name} must be ${describeExpected(spec)}, got "${text}"`)
      }
      return text
    default: {
      const never: never = spec
      throw new Error(`unknown flag kind ${JSON.stringify(never)}`)
    }
  }
}

function parseNumber(kind: 'integer' | 'number', text: string): number | undefined {
  const pattern = kind === 'integer' ? /^-?\d+$/ : /^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i
  if (!pattern.test(text)) return undefined
  const value = Number(text)
  return Number.isFinite(value) && (kind === 'number' || Number.isSafeInteger(value)) ? value : undefined
}

function defaultOf(spec: FlagSpec): unknown {
  return spec.kind === 'boolean' ? false : spec.default
}

function describeExpected(spec: FlagSpec): string {
  switch (spec.kind) {
    case 'boolean':
      return 'no value'
    case 'integer':
    case 'number': {
      const unit = spec.unit === undefined ? '' : ` ${spec.unit}`
      return `${spec.kind === 'integer' ? 'an integer' : 'a number'} in ${spec.min}..${spec.max}${unit}`
    }
    case 'string':
      return spec.choices === undefined ? 'a string' : `one of ${spec.choices.join(', ')}`
    default: {
      const never: never = spec
      throw new Error(`unknown flag kind ${JSON.stringify(never)}`)
    }
  }
}

function flagSynopsis(key: string, spec: FlagSpec): string {
  if (spec.kind === 'boolean') return flagName(key)
  const placeholder = spec.kind === 'string' ? (spec.choices?.join('|') ?? 'text') : (spec.unit ?? 'n')
  return `${flagName(key)} <${placeholder}>`
}

function describeFlag(spec: FlagSpec): string {
  if (spec.kind === 'boolean') return spec.description
  const facts: string[] = []
  if (spec.default !== undefined) facts.push(`default ${spec.default}`)
  else if (spec.defaultText !== undefined) facts.push(`default: ${spec.defaultText}`)
  if (spec.kind !== 'string') facts.push(`${spec.min}..${spec.max}`)
  return facts.length === 0 ? spec.description : `${spec.description} (${facts.join(', ')})`
}

function usage(command: string, problem: string): UsageError {
  return new UsageError(`${command}: ${problem}. Run "${command} --help" for usage.`)
}
