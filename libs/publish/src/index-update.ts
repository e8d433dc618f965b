import { join } from 'node:path';
import { type ArtifactIndex, INDEX_FILE, readIndexFile, replaceIndexFile } from '@cpy/artifact';
import type { SigningKey } from '@cpy/signing';
import type { GitHubClient } from './github.js';
import { publishIndex, type IndexEvent, type IndexTrust, type PublishIndexResult } from './index-release.js';

/** The steps of an index update, as publishArtifact and pruneReleases report them. */
export type IndexUpdateEvent =
  /** The update of the index on the cpy-index release starts; its steps follow as `index` events. */
  | { readonly type: 'index-updating' }
  | { readonly type: 'index'; readonly event: IndexEvent }
  /** The index on the cpy-index release is updated (or was already as it should be). */
  | { readonly type: 'index-updated'; readonly url: string; readonly entries: number; readonly signatureUrl: string | null }
  /**
   * The register folder was written: `path` is its `index.json`, with `ARTIFACTS.md` beside it;
   * `signatureRemoved`, the signature that was beside it (signed by hand: cpy signs only the index
   * on the release), which no longer signed it and was removed; null when there was none.
   */
  | { readonly type: 'register-updated'; readonly path: string; readonly signatureRemoved: string | null }
  | { readonly type: 'register-unchanged'; readonly path: string };

export interface IndexUpdateOptions {
  readonly github: GitHubClient;
  /** Update the index on the cpy-index release (publishIndex). */
  readonly release: boolean;
  /** A folder whose `index.json` (empty when missing) is changed the same way, and written with `ARTIFACTS.md`. */
  readonly register?: string | undefined;
  readonly signingKey?: SigningKey | undefined;
  readonly indexTrust?: IndexTrust | undefined;
  readonly emit: (event: IndexUpdateEvent) => void;
}

/** Applies one change to the index on the cpy-index release, then to the register folder, each when asked. */
export async function updateIndexes(
  change: (index: ArtifactIndex) => ArtifactIndex,
  options: IndexUpdateOptions,
): Promise<{ index: PublishIndexResult | null; register: string | null }> {
  const { emit } = options;
  let index: PublishIndexResult | null = null;
  if (options.release) {
    emit({ type: 'index-updating' });
    index = await publishIndex({
      github: options.github,
      change,
      ...(options.signingKey ? { signingKey: options.signingKey, indexTrust: options.indexTrust } : {}),
      onEvent: (event) => emit({ type: 'index', event }),
    });
    emit({ type: 'index-updated', url: index.url, entries: index.index.artifacts.length, signatureUrl: index.signatureUrl });
  }
  let register: string | null = null;
  if (options.register) {
    register = join(options.register, INDEX_FILE);
    // A signature beside it (signed by hand) signs the bytes before the change: removed, said.
    // One that already says it all (a re-run) is left as it is, with its signature (it was
    // rewritten, and its signature removed, with nothing changed).
    const before = await readIndexFile(register);
    const after = change(before);
    if (after === before) {
      emit({ type: 'register-unchanged', path: register });
    } else {
      const { signatureRemoved } = await replaceIndexFile(register, after);
      emit({ type: 'register-updated', path: register, signatureRemoved });
    }
  }
  return { index, register };
}
