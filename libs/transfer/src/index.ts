export {
  createHttpClient,
  DEFAULT_RETRY,
  displayUrl,
  downloadToFile,
  TransferError,
} from './transfer.js';
export type {
  DownloadOptions,
  HttpClient,
  HttpClientOptions,
  RetryPolicy,
  TransferEvents,
  TransferProgress,
} from './transfer.js';
