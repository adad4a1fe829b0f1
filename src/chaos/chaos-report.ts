/**
 * What `shardkv chaos` reports, as one JSON-ready object, and its text form.
 */
import type { FaultCounts } from './fault-runner.js'

export type Verdict = 'yes' | 'no' | 'unknown'

export interface OperationCounts {
  readonly total: number
  readonly ok: number
  /** Certainly without effect (rejected before sending). */
  readonly failed: number
  /** Timed out or cut short: may or may not have taken effect. */
  readonly unknown: number
}

export interface ChaosReport {
  readonly seed: number
  readonly durationMs: number
  readonly faultIntervalMs: number
  readonly cluster: {
    readonly groups: number
    /** Storage nodes per group, as the cluster runs them. */
    readonly replicas: number
    readonly masters: number
    readonly shards: number
    readonly opTimeoutMs: number
  }
  readonly workload: { readonly clients: number; readonly inflightPerClient: number; readonly keys: number }
  /** The workload's operations (the final reads are counted apart). */
  readonly operations: OperationCounts
  /** Of the workload's gets, those answered from a leader's read view (the rest asked a leader). */
  readonly viewReads: number
  readonly faults: {
    readonly injected: FaultCounts
    readonly total: number
    /** Planned but not injected: the domain was already at its minority budget, live. */
    readonly skipped: FaultCounts
    readonly restarts: number
    readonly escalations: number
  }
  readonly settle: { readonly settled: boolean; readonly waitedMs: number }
  readonly finalReads: { readonly keys: number; readonly read: number; readonly attempts: number }
  readonly linearizable: Verdict
  /** describeViolation's text when not linearizable; the undecided keys when unknown. */
  readonly linearizabilityDetail: string | null
  readonly lostWrites: { readonly lost: number; readonly checked: number; readonly unchecked: number; readonly examples: readonly string[] }
  readonly notes: readonly string[]
  /** Linearizable, no acknowledged write lost, every key read back. */
  readonly passed: boolean
}

export function formatChaosReport(report: ChaosReport): string {
  const { cluster, workload, operations, faults, finalReads, lostWrites } = report
  const kinds = Object.entries(faults.injected).map(([kind, count]) => `${count} ${kind}`).join(', ')
  const skipped = Object.values(faults.skipped).reduce((sum, count) => sum + count, 0)
  const lines = [
    `shardkv chaos: seed ${report.seed}, ${report.durationMs / 1000} s, fault every ${report.faultIntervalMs} ms`,
    `cluster       ${cluster.groups} groups x ${cluster.replicas} replicas, ${cluster.masters} masters, ${cluster.shards} shards, op timeout ${cluster.opTimeoutMs} ms`,
    `workload      ${workload.clients} clients x ${workload.inflightPerClient} in flight over ${workload.keys} keys`,
    `operations    ${operations.total} run: ${operations.ok} ok, ${operations.failed} failed, ${operations.unknown} unknown (timed out); ${report.viewReads} gets answered from read views`,
    `faults        ${faults.total} injected: ${kinds}; ${skipped} skipped at budget; ${faults.restarts} restarts, ${faults.escalations} escalations`,
    `settle        ${report.settle.settled ? 'settled' : 'NOT settled'} after ${Math.round(report.settle.waitedMs)} ms`,
    `final reads   ${finalReads.read}/${finalReads.keys} keys read (${finalReads.attempts} attempts)`,
    `linearizable  ${report.linearizable}`,
    ...(report.linearizabilityDetail === null ? [] : indent(report.linearizabilityDetail)),
    `lost writes   ${lostWrites.lost} (${lostWrites.checked} acknowledged writes checked, ${lostWrites.unchecked} unchecked)`,
    ...lostWrites.examples.flatMap(indent),
    ...report.notes.map((note) => `note: ${note}`),
    `${report.passed ? 'PASS' : 'FAIL'} (seed ${report.seed})`,
  ]
  return `${lines.join('\n')}\n`
}

function indent(text: string): string[] {
  return text.split('\n').map((line) => `  ${line}`)
}
