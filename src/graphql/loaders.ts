import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Contribution, Story } from '../db/entities/index.js';
import { ChestExport, Contribution as ContributionEntity, Story as StoryEntity } from '../db/entities/index.js';
import { type AssetFilter, type AssetPageKey, countAssets, loadAssetPages, loadVisibleAssetsById } from '../domain/asset/asset.queries.js';
import { type ChildPageKey, loadChildPages } from '../domain/child-pages.js';
import { loadChestStats, loadRecentAssets } from '../domain/chest/chest.summary.js';
import { SettledCache } from '../domain/actor.js';
import { curationLoaders } from './curation-loaders.js';
import { type ContributorNameKey, loadContributorNames } from '../domain/duplicates/contributors.js';
import { loadDuplicateGroups } from '../domain/duplicates/duplicate-groups.queries.js';
import { loadMembers } from '../domain/membership/membership.service.js';
import { loadHiddenFaces } from '../domain/people/redaction.js';
import { hiddenNamesOfChests, nameScrubber } from '../domain/story/hidden-names.js';
import { loadPublishedStories } from '../domain/story/published-stories.js';
import { loadContributionsById, loadStoriesById } from '../domain/search/search-nodes.js';
import { loadTimelines, type TimelineKey } from '../domain/chest/timeline.js';
import {
  countFaces,
  loadCovers,
  loadFacesByAsset,
  loadPeopleById,
  loadPeoplePages,
  loadPersonAssetPages,
  type PeoplePageKey,
  type PersonAssetPageKey,
} from '../domain/people/people.queries.js';

/**
 * Per-request batch loaders: nested fields ask these instead of the database, so a query costs a
 * number of statements that grows with its depth, not with the number of rows it returns.
 * Chest ids given to them come from Chest objects that already passed the access service.
 */
export function createLoaders(em: EntityManager) {
  const byJson = { cacheKeyFn: (k: unknown) => JSON.stringify(k) };
  const scrubbers = new SettledCache<string, (text: string) => string>();
  return {
    ...curationLoaders(em),
    assetPages: new DataLoader((keys: readonly AssetPageKey[]) => loadAssetPages(em, keys), byJson),
    assetCounts: new DataLoader((keys: readonly { chestId: string; filter: AssetFilter }[]) => countAssets(em, keys), byJson),
    assetsById: new DataLoader((ids: readonly string[]) => loadVisibleAssetsById(em, ids)),
    storyPages: new DataLoader((keys: readonly ChildPageKey[]) => loadChildPages<Story>(em, StoryEntity, 'story', keys), byJson),
    /** Chest.exports: owners' archives of each chest, newest first. */
    exportPages: new DataLoader((keys: readonly ChildPageKey[]) => loadChildPages<ChestExport>(em, ChestExport, 'chest_export', keys), byJson),
    contributionPages: new DataLoader(
      (keys: readonly ChildPageKey[]) => loadChildPages<Contribution>(em, ContributionEntity, 'contribution', keys),
      byJson,
    ),
    /** Published stories by id (Chest.publishedStory); unpublished ids answer null. */
    publishedStories: new DataLoader((ids: readonly string[]) => loadPublishedStories(em, ids)),
    chestStats: new DataLoader((ids: readonly string[]) => loadChestStats(em, ids)),
    /** ChestSummary.recentAssets, by chest id: read only when the field is selected. */
    recentAssets: new DataLoader((ids: readonly string[]) => loadRecentAssets(em, ids)),
    members: new DataLoader((ids: readonly string[]) => loadMembers(em, ids)),
    /** Chest.duplicateGroups: every group of copies of each chest (the resolver pages them). */
    duplicateGroups: new DataLoader((ids: readonly string[]) => loadDuplicateGroups(em, ids)),
    /** Asset.contributors: guests' and members' names. */
    contributorNames: new DataLoader((keys: readonly ContributorNameKey[]) => loadContributorNames(em, keys), byJson),
    peoplePages: new DataLoader((keys: readonly PeoplePageKey[]) => loadPeoplePages(em, keys), byJson),
    peopleById: new DataLoader((ids: readonly string[]) => loadPeopleById(em, ids)),
    faceCounts: new DataLoader((ids: readonly string[]) => countFaces(em, ids)),
    covers: new DataLoader((ids: readonly string[]) => loadCovers(em, ids)),
    personAssetPages: new DataLoader((keys: readonly PersonAssetPageKey[]) => loadPersonAssetPages(em, keys), byJson),
    facesByAsset: new DataLoader((ids: readonly string[]) => loadFacesByAsset(em, ids)),
    hiddenFaces: new DataLoader((ids: readonly string[]) => loadHiddenFaces(em, ids)),
    /** Per chest: rewrites the names of its hidden people (stories are scrubbed as they are read). */
    storiesById: new DataLoader((ids: readonly string[]) => loadStoriesById(em, ids)),
    contributionsById: new DataLoader((ids: readonly string[]) => loadContributionsById(em, ids)),
    timelines: new DataLoader((keys: readonly TimelineKey[]) => loadTimelines(em, keys), byJson),
    nameScrubbers: new DataLoader(async (ids: readonly string[]) => (await hiddenNamesOfChests(em, ids)).map(nameScrubber), { cacheMap: scrubbers }),
    /** The scrubber nameScrubbers has already answered for this chest, without a promise; undefined while it has not. */
    knownScrubber: (chestId: string) => scrubbers.settled(chestId),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
