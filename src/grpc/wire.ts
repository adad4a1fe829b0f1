/**
 * The messages of proto/shardkv.proto as @grpc/proto-loader hands them to
 * JavaScript (camelCase fields, uint64/int64 as numbers, bytes as Buffer, a
 * oneof's case name in its own field) and the method table of both services.
 *
 * Every field is optional: the loader runs with `defaults: false`, so a field
 * the sender left out is undefined, and a proto3 scalar at its default value
 * (0, false, "") may be undefined too. Readers say what absent means.
 */

export interface WireValue {
  readonly data?: Uint8Array
  readonly text?: boolean
}

export interface GetRequest {
  readonly key?: string
}
export interface GetResponse {
  readonly found?: boolean
  readonly value?: WireValue
}
/** See RequestId in shardkv.proto: what makes a retried mutation safe. */
export interface WireRequestId {
  readonly client?: string
  readonly seq?: number
  readonly ackedBelow?: number
}

export interface PutRequest {
  readonly key?: string
  readonly value?: WireValue
  readonly id?: WireRequestId
}
export type PutResponse = Record<string, never>
export interface AppendRequest {
  readonly key?: string
  readonly value?: WireValue
  readonly id?: WireRequestId
}
export type AppendResponse = Record<string, never>
export interface DeleteRequest {
  readonly key?: string
  readonly id?: WireRequestId
}
export interface DeleteResponse {
  readonly deleted?: boolean
}

export type PipelineOp = 'get' | 'put' | 'append' | 'delete'

export interface PipelineRequest {
  readonly tag?: number
  readonly op?: PipelineOp
  readonly get?: GetRequest
  readonly put?: PutRequest
  readonly append?: AppendRequest
  readonly delete?: DeleteRequest
  /** Non-empty: this message carries these requests and nothing else. */
  readonly batch?: readonly PipelineRequest[]
}

export interface WireError {
  readonly status?: number
  readonly code?: string
  readonly message?: string
}

export interface PipelineResponse {
  readonly tag?: number
  readonly result?: PipelineOp | 'error'
  readonly get?: GetResponse
  readonly put?: PutResponse
  readonly append?: AppendResponse
  readonly delete?: DeleteResponse
  readonly error?: WireError
  /** Non-empty: this message carries these responses and nothing else. */
  readonly batch?: readonly PipelineResponse[]
}

export interface JoinRequest {
  readonly replicas?: number
}
export interface JoinResponse {
  readonly gid?: number
}
export interface LeaveRequest {
  readonly gid?: number
}
export type LeaveResponse = Record<string, never>
export interface MoveRequest {
  readonly shard?: number
  readonly gid?: number
}
export type MoveResponse = Record<string, never>
export interface QueryRequest {
  readonly num?: number
}
export interface WireConfig {
  readonly num?: number
  readonly shards?: readonly number[]
  readonly groups?: Readonly<Record<string, { readonly actors?: readonly string[] }>>
}
export interface QueryResponse {
  readonly config?: WireConfig
}
export type ActorsRequest = Record<string, never>
export interface WireActor {
  readonly id?: string
  readonly kind?: string
  readonly gid?: number
  readonly role?: string
  readonly restarts?: number
}
export interface ActorsResponse {
  readonly actors?: readonly WireActor[]
}
export type StatsRequest = Record<string, never>
export interface StatsResponse {
  readonly json?: string
}

/** Request and response of every unary method, by service and method name. */
export interface UnaryMethods {
  'KeyValue/Get': [GetRequest, GetResponse]
  'KeyValue/Put': [PutRequest, PutResponse]
  'KeyValue/Append': [AppendRequest, AppendResponse]
  'KeyValue/Delete': [DeleteRequest, DeleteResponse]
  'Admin/Join': [JoinRequest, JoinResponse]
  'Admin/Leave': [LeaveRequest, LeaveResponse]
  'Admin/Move': [MoveRequest, MoveResponse]
  'Admin/Query': [QueryRequest, QueryResponse]
  'Admin/Actors': [ActorsRequest, ActorsResponse]
  'Admin/Stats': [StatsRequest, StatsResponse]
}

export type UnaryMethod = keyof UnaryMethods

export const PIPELINE_METHOD = 'KeyValue/Pipeline'
