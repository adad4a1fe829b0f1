/**
 * Cluster-shape flags shared by the commands that start an embedded cluster
 * (`bench store`, `serve`): one definition, so their defaults follow
 * createCluster's together. Each command keeps its own `--groups`, whose
 * lower bound differs (a server may start with no group and join later).
 */
import type { FlagSpecs } from './cli-flags.js'

export const CLUSTER_SHAPE_FLAGS = {
  replicas: { kind: 'integer', description: 'Storage nodes per group (odd).', default: 3, min: 1, max: 7 },
  masters: { kind: 'integer', description: 'Shard-master replicas (odd).', default: 3, min: 1, max: 7 },
  shards: { kind: 'integer', description: 'Hash slots.', default: 64, min: 1, max: 4096 },
} as const satisfies FlagSpecs
