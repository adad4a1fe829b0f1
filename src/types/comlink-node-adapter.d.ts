// comlink ships its Node adapter as an ES module without a .d.mts beside it;
// this declares the one default export we use.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink'
  import type { MessagePort } from 'node:worker_threads'
  export default function nodeEndpoint(port: MessagePort): Endpoint
}
