/**
 * grpc-js options both ends of shardkv's gRPC set besides the message limits.
 *
 * Channelz off: grpc-js otherwise keeps channelz statistics (counters and
 * timestamps per call and per message) that only a channelz service could
 * read, and shardkv serves none.
 */
export const COMMON_CHANNEL_OPTIONS = { 'grpc.enable_channelz': 0 } as const
