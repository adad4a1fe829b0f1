// comlink ships its Node adapter as an ES module without a .d.mts beside it;
// this declares the one default export we use.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink'
  import type { MessagePort, Worker } from 'node:worker_threads'
  /** Takes anything with postMessage and on/off('message'): a MessagePort or a Worker. */
  export default function nodeEndpoint(port: MessagePort | Worker): Endpoint
}
