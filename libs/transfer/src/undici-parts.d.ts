// The modules of undici that a download uses, loaded by their paths (see loadUndici in
// transfer.ts), typed with undici's own declarations. undici 7 has no `exports` map, so these
// paths resolve. These declarations hold whatever is on disk: a version that moves the files
// fails the CLI's bundle, not tsc, and the unbundled library then loads undici's index.
declare module 'undici/lib/dispatcher/agent.js' {
  import type { Agent } from 'undici';
  const value: typeof Agent;
  export default value;
}
declare module 'undici/lib/dispatcher/proxy-agent.js' {
  import type { ProxyAgent } from 'undici';
  const value: typeof ProxyAgent;
  export default value;
}
declare module 'undici/lib/interceptor/redirect.js' {
  import type { interceptors } from 'undici';
  const value: typeof interceptors.redirect;
  export default value;
}
declare module 'undici/lib/dispatcher/dispatcher.js' {
  import type { Dispatcher } from 'undici';
  const value: typeof Dispatcher;
  export default value;
}
declare module 'undici/lib/api/index.js' {
  /** request, stream, pipeline, upgrade, connect: what undici's index puts on Dispatcher.prototype. */
  const value: Record<string, unknown>;
  export default value;
}
