import { CpyError, KEEP_BUILDS } from '@cpy/core';
import { INDEX_RELEASE_TAG } from '@cpy/artifact';
import type { SigningKey } from '@cpy/signing';
import type { GitHubClient } from './github.js';
import { updateIndexes, type IndexUpdateEvent } from './index-update.js';
import { readPublishedIndex, readPublishedIndexIfValid, type IndexTrust, type PublishIndexResult } from './index-release.js';
import { markPrunedBuilds, planPrune, type PrunePlan } from './retention.js';
import { RELEASE_TAG_PREFIX, releaseTag } from './tag.js';

export interface PruneOptions {
  readonly github: GitHubClient;
  /** Builds kept per release line (default KEEP_BUILDS, 3). */
  readonly keep?: number | undefined;
  /** Delete the releases the plan removes (default false: a dry run, which changes nothing). */
  readonly apply?: boolean | undefined;
  /** Mark the deleted builds removed in the index on the cpy-index release, when there is one (default true). */
  readonly index?: boolean | undefined;
  /** And in the index kept in this folder (`index.json`, `ARTIFACTS.md`). */
  readonly register?: string | undefined;
  /** Signs the updated index (see publishIndex); unset: it is published unsigned. */
  readonly signingKey?: SigningKey | undefined;
  /** With `signingKey`: what the signed index update trusts besides an index that key signed (IndexTrust). */
  readonly indexTrust?: IndexTrust | undefined;
  readonly onEvent?: ((event: PruneEvent) => void) | undefined;
}

export type PruneEvent =
  /** The release `tag` and its tag are deleted now. */
  | { readonly type: 'deleting'; readonly tag: string }
  /** The tag `tag`, which no release has (PrunePlan.strayTags), is deleted now. */
  | { readonly type: 'deleting-tag'; readonly tag: string }
  /** The repository has no cpy-index release: there is no index to mark the deleted builds in. */
  | { readonly type: 'no-index-release' }
  | IndexUpdateEvent;

export interface PruneResult {
  readonly plan: PrunePlan;
  /** Whether the plan was applied (`apply`): its `remove` releases and its `strayTags` are deleted. */
  readonly applied: boolean;
  /** The index on the cpy-index release, when it was updated. */
  readonly index: PublishIndexResult | null;
  /** The register's `index.json`, when it was updated. */
  readonly register: string | null;
}

/**
 * Retention (BR-005): keeps the newest `keep` builds of each release line and platform (planPrune) and, with
 * `apply`, deletes the older cpy releases with their tags. The deleted builds stay in the index,
 * marked removed (installers skip them), before their releases are deleted: on the cpy-index
 * release when the repository has one (unless `index: false`), and in `register`. Drafts and
 * releases that are not cpy's are never touched. Tags a prune left without their release (killed
 * between the two deletions) are found again by the next prune (PrunePlan.strayTags). Without
 * `apply` nothing is changed: the plan says what would be deleted.
 */
export async function pruneReleases(options: PruneOptions): Promise<PruneResult> {
  const { github } = options;
  const emit = options.onEvent ?? (() => undefined);
  const apply = options.apply ?? false;
  const releases = await github.listReleases();
  const wantIndex = options.index ?? true;
  // Retention counts the builds as the index does: a release it does not list is left out.
  const published = wantIndex ? await readPublishedIndex(github, releases) : null;
  const plan = planPrune(releases, options.keep ?? KEEP_BUILDS, await github.listTags(RELEASE_TAG_PREFIX), published);
  const gone = [...plan.remove.map((r) => r.tag_name), ...plan.strayTags];
  const hasIndexRelease = releases.some((r) => r.tag_name === INDEX_RELEASE_TAG);
  // Told to leave the index alone, it must not be left listing as active a build whose release goes.
  // A dry run says so too: it shows what --yes does.
  if (!wantIndex && hasIndexRelease && gone.length > 0) {
    // (An index that is not one tells installers nothing either: --no-index leaves it alone. One
    // that could not be downloaded is an error: deleting on an index not read deleted builds it lists.)
    const index = await readPublishedIndexIfValid(github, releases);
    const listed = index?.artifacts.filter((e) => e.state !== 'removed' && gone.includes(releaseTag(e.version, e.build))) ?? [];
    if (listed.length > 0) {
      throw new CpyError('CPY_PUBLISH_INDEX_WOULD_DISAGREE', `the index on the ${INDEX_RELEASE_TAG} release still lists ${listed.map((e) => `${e.file} (${e.state})`).join(', ')}: deleting ${listed.length === 1 ? 'its release' : 'their releases'} without marking them removed there (--no-index) leaves installers builds they cannot download`, {
        hint: 'drop --no-index: prune marks them removed in the index first, then deletes the releases; nothing was deleted',
      });
    }
  }
  if (!apply || gone.length === 0) return { plan, applied: apply, index: null, register: null };
  // The index first, then the releases: installers skip a build marked removed, so no index ever
  // lists as active a build whose release is gone. (Deleted first, a prune that failed or was
  // killed before the index update left those entries active for good: its re-run found nothing
  // left to delete and returned before the index.)
  if (wantIndex && !hasIndexRelease) emit({ type: 'no-index-release' });
  const { index, register } = await updateIndexes(markPrunedBuilds(gone), {
    github,
    release: wantIndex && hasIndexRelease,
    register: options.register,
    signingKey: options.signingKey,
    indexTrust: options.indexTrust,
    emit,
  });
  for (const r of plan.remove) {
    emit({ type: 'deleting', tag: r.tag_name });
    await github.deleteRelease(r.id);
    await github.deleteTag(r.tag_name);
  }
  for (const tag of plan.strayTags) {
    emit({ type: 'deleting-tag', tag });
    await github.deleteTag(tag);
  }
  return { plan, applied: apply, index, register };
}
