/**
 * shardkv's public surface. Until the store lands (createCluster, connect),
 * this is the actor runtime it is built on.
 */
export { ShardKVError, ERROR_CODES, type ErrorCode } from './errors.js'
export type { Actor, ActorContext, ActorModule, Message, StableStorage, TimerId } from './runtime/actor.js'
export { ActorSystem, type ActorSpec, type ActorSystemOptions, type ActorInfo, type SystemStats } from './runtime/system.js'
export { Endpoint, type EndpointDescriptor } from './runtime/endpoint.js'
export type { Strategy, SupervisorOptions, RestartEvent, EscalateEvent } from './runtime/supervisor.js'
export type { UnreliableOptions } from './runtime/faults.js'
export { Simulator, type SimulatorOptions } from './runtime/simulator.js'
