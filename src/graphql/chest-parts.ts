import type { Chest } from '../db/entities/index.js';
import type { AssetFilter, AssetPageKey } from '../domain/asset/asset.queries.js';
import type { ChildPageKey } from '../domain/child-pages.js';
import { pageSize } from '../domain/pagination.js';
import type { AssetsArgs, ContributionsArgs, PageArgsGql } from './chest.types.js';

/**
 * The page requests of a chest's nested lists, from their GraphQL arguments: one definition for
 * the field resolvers (chest.resolver.ts, through the batch loaders) and the compiled read
 * (compiled/chest-read.ts, in one statement), so both read the same page.
 */
export interface PartInput<A> {
  chest: Pick<Chest, 'id'>;
  args: A;
  maxPageSize: number;
}

export function assetPageKey({ chest, args, maxPageSize, properties }: PartInput<AssetsArgs> & { properties: string[] | null }): {
  key: AssetPageKey;
  /** What AssetConnection.totalCount counts. */
  countKey: { chestId: string; filter: AssetFilter };
} {
  const filter: AssetFilter = { fileTypes: args.types ?? null, statuses: args.statuses ?? null };
  const limit = pageSize(args.first, maxPageSize);
  return { key: { chestId: chest.id, limit, after: args.after ?? null, filter, properties }, countKey: { chestId: chest.id, filter } };
}

export function storyPageKey({ chest, args, maxPageSize, publishedOnly }: PartInput<PageArgsGql> & { publishedOnly: boolean }): ChildPageKey {
  return { chestId: chest.id, limit: pageSize(args.first, maxPageSize), after: args.after ?? null, publishedOnly };
}

export function contributionPageKey({ chest, args, maxPageSize }: PartInput<ContributionsArgs>): ChildPageKey {
  return { chestId: chest.id, limit: pageSize(args.first, maxPageSize), after: args.after ?? null, status: args.status ?? null };
}

/** Story fields read through the chest's name scrubber (story.resolver.ts). */
const SCRUBBED_STORY_FIELDS: ReadonlySet<string> = new Set(['title', 'content', 'paragraphs', 'timeline', 'themes']);

/** Whether the fields asked of each story read its text: then the chest's hidden names are loaded with the page. */
export function asksStoryText(fields: Iterable<string>): boolean {
  for (const field of fields) if (SCRUBBED_STORY_FIELDS.has(field)) return true;
  return false;
}
