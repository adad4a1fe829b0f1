/**
 * The handlers of both services over one Cluster. Every handler first checks
 * the token (TokenCheck), then runs; a thrown ShardKVError becomes its gRPC
 * status (status.ts). Deadlines are gRPC's own: when a client's deadline
 * passes, grpc-js answers DEADLINE_EXCEEDED and drops the late result.
 */
import type { handleBidiStreamingCall, handleUnaryCall, sendUnaryData, ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js'
import type { Cluster, ClusterActor, ClusterConfig } from '../cluster.js'
import type { TokenCheck } from './auth.js'
import type { KvPool } from './kv-pool.js'
import { runAppend, runDelete, runGet, runPut } from './operations.js'
import type { RequestLedger } from './request-ledger.js'
import { PipelineSession } from './pipeline-session.js'
import { statusObjectOf, summarizeError } from './status.js'
import type { PipelineRequest, PipelineResponse, UnaryMethods, WireActor, WireConfig } from './wire.js'

export interface ServiceContext {
  readonly cluster: Cluster
  readonly pool: KvPool
  /** Request ids of mutations, shared by unary calls and Pipeline streams. */
  readonly ledger: RequestLedger
  readonly tokens: TokenCheck
  /** Sees every error that is not a ShardKVError (a bug); the client gets INTERNAL. */
  readonly onBug: (error: unknown) => void
  /** Open Pipeline streams, so a shutdown can drain them. */
  readonly sessions: Set<PipelineSession>
  /** Byte bound of a Pipeline response batch (pipeline-batch.ts), from the server's message limit. */
  readonly batchBytes: number
}

type Handler<M extends keyof UnaryMethods> = (request: UnaryMethods[M][0]) => Promise<UnaryMethods[M][1]>

export function keyValueService(context: ServiceContext): UntypedServiceImplementation {
  return {
    Get: unary<'KeyValue/Get'>(context, (request) => runGet(context, request)),
    Put: unary<'KeyValue/Put'>(context, (request) => runPut(context, request)),
    Append: unary<'KeyValue/Append'>(context, (request) => runAppend(context, request)),
    Delete: unary<'KeyValue/Delete'>(context, (request) => runDelete(context, request)),
    Pipeline: pipeline(context),
  }
}

export function adminService(context: ServiceContext): UntypedServiceImplementation {
  const { cluster } = context
  return {
    Join: unary<'Admin/Join'>(context, async (request) => {
      const replicas = request.replicas ?? 0
      return { gid: await cluster.join(replicas === 0 ? {} : { replicas }) }
    }),
    Leave: unary<'Admin/Leave'>(context, async (request) => {
      await cluster.leave(request.gid ?? 0)
      return {}
    }),
    Move: unary<'Admin/Move'>(context, async (request) => {
      await cluster.move(request.shard ?? 0, request.gid ?? 0)
      return {}
    }),
    Query: unary<'Admin/Query'>(context, async (request) => ({ config: toWireConfig(await cluster.query(request.num)) })),
    Actors: unary<'Admin/Actors'>(context, async () => ({ actors: cluster.actors().map(toWireActor) })),
    Stats: unary<'Admin/Stats'>(context, async () => ({ json: JSON.stringify(await cluster.stats()) })),
  }
}

function unary<M extends keyof UnaryMethods>(context: ServiceContext, handler: Handler<M>): handleUnaryCall<UnaryMethods[M][0], UnaryMethods[M][1]> {
  return (call, callback: sendUnaryData<UnaryMethods[M][1]>) => {
    const refusal = context.tokens.refusal(call.metadata)
    if (refusal !== undefined) {
      callback(refusal)
      return
    }
    handler(call.request).then(
      (response) => callback(null, response),
      (error: unknown) => callback(statusObjectOf(summarizeError(error, context.onBug))),
    )
  }
}

function pipeline(context: ServiceContext): handleBidiStreamingCall<PipelineRequest, PipelineResponse> {
  return (call: ServerDuplexStream<PipelineRequest, PipelineResponse>) => {
    const refusal = context.tokens.refusal(call.metadata)
    if (refusal !== undefined) {
      call.emit('error', refusal)
      return
    }
    const session: PipelineSession = new PipelineSession(call, context, context.onBug, () => context.sessions.delete(session), context.batchBytes)
    context.sessions.add(session)
  }
}

function toWireConfig(config: ClusterConfig): WireConfig {
  const groups: Record<string, { actors: string[] }> = {}
  for (const [gid, actors] of Object.entries(config.groups)) groups[gid] = { actors }
  return { num: config.num, shards: config.shards, groups }
}

function toWireActor(actor: ClusterActor): WireActor {
  return { id: actor.id, kind: actor.kind, gid: actor.gid ?? 0, role: actor.role, restarts: actor.restarts }
}
