import { z } from 'zod';
import { badInput } from './errors.js';
import { storableInstant } from './validation.js';

/** Arguments of every connection. */
export interface PageArgs {
  /** How many items at most; 1..maxPageSize. */
  first?: number | null;
  /** The cursor of the last item already seen. */
  after?: string | null;
}

export interface Page<T> {
  items: Edge<T>[];
  hasNextPage: boolean;
}

/** One item of a page; its cursor may be computed only when read. */
export interface Edge<T> {
  readonly node: T;
  readonly cursor: string;
}

/**
 * An edge whose cursor is encoded when it is read (the `cursor` field resolves, or
 * `pageInfo.endCursor` takes the last one), not for every node of every page: most queries
 * never select it, and encoding is dates to ISO strings, JSON and base64 per node.
 */
class LazyEdge<T> implements Edge<T> {
  constructor(
    readonly node: T,
    private readonly cursorOf: (node: T) => string,
  ) {}

  get cursor(): string {
    return this.cursorOf(this.node);
  }
}

/** The first `limit` nodes as edges with lazy cursors. */
export function lazyEdges<T>(nodes: readonly T[], limit: number, cursorOf: (node: T) => string): Edge<T>[] {
  const edges: Edge<T>[] = [];
  for (let i = 0; i < nodes.length && i < limit; i++) edges.push(new LazyEdge(nodes[i]!, cursorOf));
  return edges;
}

export const DEFAULT_PAGE_SIZE = 20;

export function pageSize(first: number | null | undefined, max: number): number {
  if (first == null) return Math.min(DEFAULT_PAGE_SIZE, max);
  if (!Number.isInteger(first) || first < 1 || first > max) {
    throw badInput('first', `first: must be between 1 and ${max}`);
  }
  return first;
}

/**
 * Cursors are opaque to clients: base64url of a small JSON tuple of the sort keys. They are
 * validated on the way in, so a forged or truncated cursor is a clear BAD_USER_INPUT rather than
 * an SQL error.
 */
export function encodeCursor(keys: CursorKeys): string {
  return Buffer.from(JSON.stringify(keys)).toString('base64url');
}

// A forged cursor's dates reach SQL as parameters: outside the storable years they would be a database error.
const isoDate = z
  .string()
  .datetime({ offset: true })
  .refine((s) => storableInstant(Date.parse(s)));
const cursorSchema = z.object({
  d: isoDate.nullable().optional(),
  c: isoDate,
  i: z.string().uuid(),
});
export type CursorKeys = z.infer<typeof cursorSchema>;

export function decodeCursor(cursor: string | null | undefined, field = 'after'): CursorKeys | undefined {
  if (cursor == null) return undefined;
  try {
    const parsed = cursorSchema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through: not base64 JSON
  }
  throw badInput(field, `${field}: malformed cursor`);
}
