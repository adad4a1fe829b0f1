import t from 'tap'
import { minorityBudget, planFaults, type FailureDomain, type FaultPlanOptions, type FaultStep } from '../../src/chaos/fault-plan.js'
import { Prng } from '../../src/runtime/prng.js'

const members = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, index) => `${prefix}-n${index + 1}`)

const DOMAINS: FailureDomain[] = [
  { name: 'masters', members: members('master', 3) },
  { name: 'group 1', members: members('g1', 3) },
  { name: 'group 2', members: members('g2', 5) },
  { name: 'group 3', members: members('g3', 1) },
]

const OPTIONS: FaultPlanOptions = { durationMs: 60_000, faultIntervalMs: 200, domains: DOMAINS }

/** Who each step leaves down, by the plan's own accounting: kills for downForMs, pauses for ms, the isolated side until the next heal. */
function downAt(steps: readonly FaultStep[]): { atMs: number; down: Set<string> }[] {
  const until = new Map<string, number>()
  let isolated: readonly string[] = []
  const snapshots: { atMs: number; down: Set<string> }[] = []
  for (const step of steps) {
    for (const [id, endMs] of until) if (endMs <= step.atMs) until.delete(id)
    const { action } = step
    if (action.type === 'kill') until.set(action.id, step.atMs + action.downForMs)
    if (action.type === 'pause') until.set(action.id, step.atMs + action.ms)
    if (action.type === 'partition') isolated = action.isolated
    if (action.type === 'heal') isolated = []
    snapshots.push({ atMs: step.atMs, down: new Set([...until.keys(), ...isolated]) })
  }
  return snapshots
}

t.test('the plan never has more than a minority of any group or of the masters down at once', async (t) => {
  for (let seed = 1; seed <= 50; seed++) {
    const steps = planFaults(new Prng(seed), OPTIONS)
    for (const { atMs, down } of downAt(steps)) {
      for (const domain of DOMAINS) {
        const count = domain.members.filter((id) => down.has(id)).length
        if (count > minorityBudget(domain.members.length)) t.fail(`seed ${seed}: ${domain.name} has ${count} down at ${atMs} ms`)
      }
    }
  }
  t.pass('50 seeds checked')
})

t.test('a domain of one member is never faulted', async (t) => {
  const steps = planFaults(new Prng(42), OPTIONS)
  const touched = steps.flatMap(({ action }) => (action.type === 'kill' || action.type === 'pause' ? [action.id] : action.type === 'partition' ? action.isolated : []))
  t.notOk(touched.includes('g3-n1'))
})

t.test('the same seed plans the same faults; another seed plans others', async (t) => {
  const plan = (seed: number): string => JSON.stringify(planFaults(new Prng(seed), OPTIONS))
  t.equal(plan(42), plan(42))
  t.not(plan(43), plan(42))
})

t.test('a minute of faults draws every kind and keeps within the run', async (t) => {
  const steps = planFaults(new Prng(42), OPTIONS)
  const kinds = new Set(steps.map((step) => step.action.type))
  t.same([...kinds].sort(), ['heal', 'kill', 'partition', 'pause', 'reliable', 'unreliable'])
  t.ok(steps.every((step, index) => step.atMs < OPTIONS.durationMs && (index === 0 || steps[index - 1]!.atMs <= step.atMs)), 'in time order, within the duration')
})

t.test('a cluster of single-member domains plans only an unreliable transport', async (t) => {
  const single = [{ name: 'masters', members: ['master-1'] }, { name: 'group 1', members: ['g1-n1'] }]
  const steps = planFaults(new Prng(1), { ...OPTIONS, domains: single })
  t.ok(steps.length > 0)
  t.ok(steps.every((step) => step.action.type === 'unreliable' || step.action.type === 'reliable'))
})
