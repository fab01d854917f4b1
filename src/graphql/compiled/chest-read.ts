import { getArgumentValues } from 'graphql';
import { Contribution, Story } from '../../db/entities/index.js';
import { assetPagesQuery } from '../../domain/asset/asset.queries.js';
import type { Query } from '../../domain/batch.js';
import { getChest } from '../../domain/chest/chest.service.js';
import { assertMaySeeContributions, storiesPublishedOnly } from '../../domain/chest/chest.nested.js';
import { chestStatsQuery } from '../../domain/chest/chest.summary.js';
import { childPagesQuery } from '../../domain/child-pages.js';
import { runAsOne } from '../../domain/one-statement.js';
import { hiddenNamesQuery, nameScrubber } from '../../domain/story/hidden-names.js';
import { assetPropertiesOf } from '../asset-properties.js';
import { asksStoryText, assetPageKey, contributionPageKey, storyPageKey } from '../chest-parts.js';
import type { AssetsArgs, ContributionsArgs, PageArgsGql } from '../chest.types.js';
import { toConnection } from '../connection.js';
import type { Context } from '../context.js';
import { type ChestPlan, type FieldPlan, namesAt, type PartName } from './chest-plan.js';
import { completeValue, type Run } from './complete.js';

export interface CompiledReadInput {
  plan: ChestPlan;
  ctx: Context;
  /** The operation's variables, coerced (graphql-js getVariableValues). */
  variables: Record<string, unknown>;
}

/**
 * A planned chest query answered with two statements whatever it asks of the chest's lists: the
 * chest with the caller's role (the access check, getChest, first as in every use case), then its
 * summary, memories, stories, contributions and the names its stories must not show, together
 * (one-statement.ts). The same domain decisions as the field resolvers (chest.resolver.ts) in the
 * same order, the same page keys (chest-parts.ts); each field then resolves through its own
 * resolver or property (complete.ts). Any error is thrown: the caller lets graphql-js answer.
 */
export async function readChest({ plan, ctx, variables }: CompiledReadInput): Promise<Record<string, unknown>> {
  const { id } = getArgumentValues(plan.root.field, plan.root.node, variables) as { id: string };
  const chest = await getChest(ctx.em, ctx.actor, id);
  const maxPageSize = ctx.config.maxPageSize;
  const argsOf = <A>(part: FieldPlan) => getArgumentValues(part.field, part.node, variables) as A;
  const queries: Record<string, Query<unknown>> = {};
  const shape = new Map<PartName, (results: Record<string, unknown>) => unknown>();

  const summary = plan.parts.get('summary');
  if (summary) {
    queries.summary = chestStatsQuery([chest.id]);
    shape.set('summary', (r) => (r.summary as unknown[])[0]);
  }
  const assets = plan.parts.get('assets');
  if (assets) {
    const properties = assetPropertiesOf(namesAt(assets, ['edges', 'node']));
    const { key, countKey } = assetPageKey({ chest, args: argsOf<AssetsArgs>(assets), maxPageSize, properties });
    queries.assets = assetPagesQuery(ctx.em, [key]);
    shape.set('assets', (r) => toConnection((r.assets as Map<unknown, never>).get(key)!, countKey));
  }
  const stories = plan.parts.get('stories');
  if (stories) {
    const key = storyPageKey({ chest, args: argsOf<PageArgsGql>(stories), maxPageSize, publishedOnly: await storiesPublishedOnly(ctx.actor, chest) });
    queries.stories = childPagesQuery({ em: ctx.em, entity: Story, table: 'story', group: [key] });
    shape.set('stories', (r) => toConnection((r.stories as Map<unknown, never>).get(key)!));
    if (asksStoryText(namesAt(stories, ['edges', 'node']))) queries.hiddenNames = hiddenNamesQuery([chest.id]);
  }
  const contributions = plan.parts.get('contributions');
  if (contributions) {
    await assertMaySeeContributions(ctx.actor, chest);
    const key = contributionPageKey({ chest, args: argsOf<ContributionsArgs>(contributions), maxPageSize });
    queries.contributions = childPagesQuery({ em: ctx.em, entity: Contribution, table: 'contribution', group: [key] });
    shape.set('contributions', (r) => toConnection((r.contributions as Map<unknown, never>).get(key)!));
  }

  const results = await runAsOne(ctx.em, queries);
  if (results.hiddenNames) {
    // As Chest.stories does: the scrubber settled before the titles resolve, so each is a plain value.
    ctx.loaders.nameScrubbers.prime(chest.id, nameScrubber((results.hiddenNames as never[])[0]!));
    await ctx.loaders.nameScrubbers.load(chest.id);
  }
  const parts = new Map<PartName, unknown>();
  for (const [part, of] of shape) parts.set(part, of(results));
  const run: Run = { ctx, parts, chest };
  return { [plan.root.key]: await completeValue(plan.root, chest, run) };
}
