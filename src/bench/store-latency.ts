/**
 * Latency recording for the store benchmark: an HdrHistogram
 * (hdr-histogram-js) of nanoseconds, 3 significant digits, so every
 * operation is recorded (no sampling) with at most 0.1 % error per value and
 * a fixed footprint. Client threads send theirs to the main thread encoded
 * (compressed base64, the HdrHistogram interchange format); the main thread
 * adds them up. The JSON report carries the encoding, so a script can
 * re-read the full distribution.
 */
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js'

export type { Histogram }

/** Longest latency the histogram tracks: 60 s. A slower op is recorded as 60 s. */
export const HIGHEST_TRACKABLE_NS = 60_000_000_000

export function newHistogram(): Histogram {
  return build({ numberOfSignificantValueDigits: 3, lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_TRACKABLE_NS, autoResize: false })
}

/** Records a latency given in milliseconds (performance.now() differences). */
export function recordMs(histogram: Histogram, latencyMs: number): void {
  histogram.recordValue(Math.min(HIGHEST_TRACKABLE_NS, Math.max(1, Math.round(latencyMs * 1_000_000))))
}

export function encodeHistogram(histogram: Histogram): string {
  return encodeIntoCompressedBase64(histogram)
}

/** The sum of encoded histograms. */
export function mergeEncoded(encoded: readonly string[]): Histogram {
  const total = newHistogram()
  for (const text of encoded) total.add(decodeFromCompressedBase64(text))
  return total
}

export interface LatencyPercentiles {
  /** Operations recorded. */
  readonly count: number
  readonly p50Us: number
  readonly p95Us: number
  readonly p99Us: number
  readonly p999Us: number
  readonly maxUs: number
  readonly meanUs: number
}

/** Percentiles in µs; null for an empty histogram. */
export function percentilesOf(histogram: Histogram): LatencyPercentiles | null {
  if (histogram.totalCount === 0) return null
  const us = (ns: number): number => ns / 1000
  return {
    count: histogram.totalCount,
    p50Us: us(histogram.getValueAtPercentile(50)),
    p95Us: us(histogram.getValueAtPercentile(95)),
    p99Us: us(histogram.getValueAtPercentile(99)),
    p999Us: us(histogram.getValueAtPercentile(99.9)),
    maxUs: us(histogram.maxValue),
    meanUs: us(histogram.mean),
  }
}
