import { type ClassType, Field, ObjectType } from 'type-graphql';
import type { Edge as PageEdge, Page } from '../domain/pagination.js';

@ObjectType({ simpleResolvers: true, description: 'Where a page ends, for fetching the next one with `after`.' })
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true, description: 'Cursor of the last edge; pass it as `after`.' })
  endCursor!: string | null;
}

export interface ConnectionShape<T> {
  /** Each edge's cursor is computed when the field resolves (domain/pagination.ts lazyEdges). */
  edges: PageEdge<T>[];
  pageInfo: PageInfo;
  /** What a `totalCount` field resolver needs to count the whole connection; never sent. */
  countKey?: unknown;
}

/** Builds the `XConnection` / `XEdge` pair for a node type (Relay cursor connection shape). */
export function connectionType<T extends object>(name: string, node: ClassType<T>) {
  @ObjectType(`${name}Edge`, { simpleResolvers: true })
  class Edge {
    @Field(() => String)
    cursor!: string;

    @Field(() => node)
    node!: T;
  }

  @ObjectType(`${name}Connection`, { simpleResolvers: true })
  class Connection implements ConnectionShape<T> {
    @Field(() => [Edge])
    edges!: Edge[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;
  }
  return Connection;
}

/** endCursor is the last edge's cursor: the only one computed unless `cursor` is selected. */
export function toConnection<T>(page: Page<T>, countKey?: unknown): ConnectionShape<T> {
  return {
    countKey,
    edges: page.items,
    pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.items.at(-1)?.cursor ?? null },
  };
}
