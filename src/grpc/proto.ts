/**
 * Loads proto/shardkv.proto at run time with @grpc/proto-loader, once per
 * process. The file ships in the package's `proto/` folder, found relative to
 * this module both when it runs compiled (dist/src/grpc/) and from the
 * sources (src/grpc/).
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { PIPELINE_METHOD, type PipelineRequest, type PipelineResponse, type UnaryMethod, type UnaryMethods } from './wire.js'

export const PROTO_PACKAGE = 'shardkv.v1'

/** Where the .proto may sit relative to this module: dist/src/grpc/ first, then src/grpc/. */
const PROTO_CANDIDATES = ['../../../proto/shardkv.proto', '../../proto/shardkv.proto']

export interface ShardKvProto {
  readonly keyValue: ServiceDefinition
  readonly admin: ServiceDefinition
}

let loaded: ShardKvProto | undefined

/** The absolute path of shardkv.proto. */
export function protoPath(): string {
  for (const candidate of PROTO_CANDIDATES) {
    const path = fileURLToPath(new URL(candidate, import.meta.url))
    if (existsSync(path)) return path
  }
  throw new Error(`shardkv.proto not found next to ${fileURLToPath(import.meta.url)} (looked at ${PROTO_CANDIDATES.join(', ')}); is the package's proto/ folder installed?`)
}

export function shardKvProto(): ShardKvProto {
  if (loaded !== undefined) return loaded
  const definition = loadSync(protoPath(), { keepCase: false, longs: Number, enums: String, defaults: false, oneofs: true })
  loaded = {
    keyValue: definition[`${PROTO_PACKAGE}.KeyValue`] as ServiceDefinition,
    admin: definition[`${PROTO_PACKAGE}.Admin`] as ServiceDefinition,
  }
  return loaded
}

/** The definition (path, serializers) of a unary method, e.g. 'KeyValue/Get'. */
export function unaryMethod<M extends UnaryMethod>(name: M): MethodDefinition<UnaryMethods[M][0], UnaryMethods[M][1]> {
  return methodOf(name) as MethodDefinition<UnaryMethods[M][0], UnaryMethods[M][1]>
}

export function pipelineMethod(): MethodDefinition<PipelineRequest, PipelineResponse> {
  return methodOf(PIPELINE_METHOD) as MethodDefinition<PipelineRequest, PipelineResponse>
}

function methodOf(name: string): MethodDefinition<object, object> {
  const [service, method] = name.split('/') as [string, string]
  const proto = shardKvProto()
  const definition = service === 'Admin' ? proto.admin : proto.keyValue
  const found = definition[method]
  if (found === undefined) throw new Error(`shardkv.proto has no method ${name}`)
  return found as MethodDefinition<object, object>
}
