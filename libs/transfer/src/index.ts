// displayUrl lives in @cpy/core (the installer's light path shows locations without loading this library).
export { displayUrl } from '@cpy/core';
export {
  createHttpClient,
  DEFAULT_RETRY,
  downloadToFile,
  httpMissing,
  TransferError,
} from './transfer.js';
export { bypassesProxy } from './no-proxy.js';
export type {
  DownloadOptions,
  HttpClient,
  HttpClientOptions,
  RetryPolicy,
  TransferEvents,
  TransferProgress,
} from './transfer.js';
