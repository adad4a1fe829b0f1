/**
 * shardkv's public surface: the embedded store (createCluster, connect, the
 * client and cluster types, ShardKVError) and the actor runtime it is built on.
 */
export { ShardKVError, ERROR_CODES, type ErrorCode } from './errors.js'
export {
  createCluster,
  type Cluster,
  type ClusterOptions,
  type JoinOptions,
  type ClusterConfig,
  type ClusterActor,
  type ActorRole,
  type ClusterEvents,
  type LeaderEvent,
  type ClusterStats,
} from './cluster.js'
export { connect, type ClusterEndpoint } from './client/connect.js'
export type { KvClient, Value, ClientStats } from './client/kv-client.js'
export type { Actor, ActorContext, ActorModule, Message, StableStorage, TimerId } from './runtime/actor.js'
export { ActorSystem, type ActorSpec, type ActorSystemOptions, type ActorInfo, type SystemStats } from './runtime/system.js'
export { Endpoint, type EndpointDescriptor } from './runtime/endpoint.js'
export type { Strategy, SupervisorOptions, RestartEvent, EscalateEvent } from './runtime/supervisor.js'
export type { UnreliableOptions } from './runtime/faults.js'
export { Simulator, type SimulatorOptions } from './runtime/simulator.js'
export { connectGrpc, GrpcShardKVError, type GrpcClient, type GrpcAdmin, type GrpcPipeline, type GrpcClientOptions, type CallOptions, type KeyValueStore } from './grpc/client.js'
