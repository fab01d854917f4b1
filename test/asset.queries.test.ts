import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Asset, Chest } from '../src/db/entities/index.js';
import { ContributionStatus, FileType, ProcessingStatus } from '../src/db/enums.js';
import { assetPagesQuery, type AssetFilter, countAssets, loadAssetPages, loadVisibleAssetsById } from '../src/domain/asset/asset.queries.js';
import { loadChestStats, loadRecentAssets } from '../src/domain/chest/chest.summary.js';
import { executeParameterised } from '../src/db/parameterised.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAsset, makeAssets, makeChest, makeContribution } from './support/factories.js';

const noFilter: AssetFilter = { fileTypes: null, statuses: null };

/** Walks every page of a chest's assets, returning ids in the order served. */
async function walk(em: () => EntityManager, chestId: string, limit: number, filter: AssetFilter = noFilter): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  for (;;) {
    const [page] = await loadAssetPages(em(), [{ chestId, limit, after, filter }]);
    ids.push(...page!.items.map((i) => i.node.id));
    if (!page!.hasNextPage) return ids;
    after = page!.items.at(-1)!.cursor;
  }
}

describe.each(BACKENDS)('asset reads on %s', (backend) => {
  let db: TestDatabase;
  const em = (): EntityManager => db.orm.em.fork();
  let chest: Chest;
  let assets: Asset[];

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    const e = em();
    chest = await makeChest(e);
    const base = Date.parse('2020-01-01T00:00:00Z');
    // 11 assets: dated ones with a tie on dateTaken, undated ones with a tie on createdAt.
    assets = await makeAssets(e, chest, 11, (i) => ({
      dateTaken: i < 6 ? new Date(base - (i % 3) * 86_400_000) : null,
      createdAt: new Date(base + (i < 9 ? i : 9) * 1000),
      fileType: i % 2 ? FileType.AUDIO : FileType.IMAGE,
      status: i === 10 ? ProcessingStatus.FAILED : ProcessingStatus.COMPLETE,
      size: 100 * (i + 1),
    }));
  });
  afterAll(async () => {
    await db?.close();
  });

  /** The order the API promises, computed independently in JS. */
  function expectedOrder(list: Asset[]): string[] {
    return [...list]
      .sort(
        (a, b) =>
          (a.dateTaken === null ? 1 : 0) - (b.dateTaken === null ? 1 : 0) ||
          (b.dateTaken?.getTime() ?? 0) - (a.dateTaken?.getTime() ?? 0) ||
          b.createdAt.getTime() - a.createdAt.getTime() ||
          (a.id < b.id ? 1 : -1),
      )
      .map((a) => a.id);
  }

  it('orders by date taken (undated last), then by date added, then id; every page size agrees', async () => {
    const want = expectedOrder(assets);
    for (const limit of [1, 2, 3, 5, 11, 50]) expect(await walk(em, chest.id, limit)).toEqual(want);
  });

  it('filters by type and status, paging and counting within the filter', async () => {
    const audio = { fileTypes: [FileType.AUDIO], statuses: null };
    expect(await walk(em, chest.id, 2, audio)).toEqual(expectedOrder(assets.filter((a) => a.fileType === FileType.AUDIO)));
    const failed = { fileTypes: null, statuses: [ProcessingStatus.FAILED] };
    expect(await walk(em, chest.id, 2, failed)).toEqual([assets[10]!.id]);
    const counts = await countAssets(em(), [
      { chestId: chest.id, filter: noFilter },
      { chestId: chest.id, filter: audio },
      { chestId: chest.id, filter: failed },
    ]);
    expect(counts).toEqual([11, 5, 1]);
  });

  it('serves many chests in one statement per distinct argument set', async () => {
    const e = em();
    const others = [await makeChest(e), await makeChest(e), await makeChest(e)];
    for (const [i, c] of others.entries()) await makeAssets(e, c, i + 1);
    db.queries.length = 0;
    const pages = await loadAssetPages(em(), [
      ...others.map((c) => ({ chestId: c.id, limit: 2, after: null, filter: noFilter })),
      { chestId: chest.id, limit: 3, after: null, filter: noFilter },
    ]);
    expect(db.queries).toHaveLength(2); // limit 2 group + limit 3 group
    expect(pages.map((p) => p.items.length)).toEqual([1, 2, 2, 3]);
    expect(pages.map((p) => p.hasNextPage)).toEqual([false, false, true, true]);
  });

  it('hides memories of contributions that are not approved, everywhere', async () => {
    const e = em();
    const c = await makeChest(e);
    const visible = await makeAsset(e, c, { size: 10 });
    const pending = await makeContribution(e, c);
    const rejected = await makeContribution(e, c, { status: ContributionStatus.REJECTED });
    const approved = await makeContribution(e, c, { status: ContributionStatus.APPROVED });
    const hiddenA = await makeAsset(e, c, { contribution: pending, size: 1000 });
    const hiddenB = await makeAsset(e, c, { contribution: rejected, size: 1000 });
    const shown = await makeAsset(e, c, { contribution: approved, size: 20 });
    const deleted = await makeAsset(e, c, { deletedAt: new Date(), size: 1000 });

    expect((await walk(em, c.id, 10)).sort()).toEqual([visible.id, shown.id].sort());
    expect(await countAssets(em(), [{ chestId: c.id, filter: noFilter }])).toEqual([2]);
    const [stats] = await loadChestStats(em(), [c.id]);
    expect(stats).toMatchObject({ totalAssets: 2, totalBytes: 30 });
    const [recent] = await loadRecentAssets(em(), [c.id]);
    expect(recent!.map((a) => a.id).sort()).toEqual([visible.id, shown.id].sort());
    const byId = await loadVisibleAssetsById(em(), [hiddenA.id, hiddenB.id, deleted.id, shown.id]);
    expect(byId.map((a) => a?.id ?? null)).toEqual([null, null, null, shown.id]);
  });

  it('summarises per type and status, with the 10 newest additions', async () => {
    const e = em();
    const c = await makeChest(e);
    const empty = await makeChest(e);
    const kinds = [FileType.IMAGE, FileType.IMAGE, FileType.VIDEO, FileType.AUDIO, FileType.DOCUMENT, FileType.DOCUMENT];
    const statuses = [ProcessingStatus.COMPLETE, ProcessingStatus.PENDING, ProcessingStatus.PROCESSING, ProcessingStatus.FAILED];
    const made = await makeAssets(e, c, 12, (i) => ({
      fileType: kinds[i % kinds.length],
      status: statuses[i % statuses.length],
      size: 2 ** 33 + i, // past 32 bits: bigint columns must survive
      createdAt: new Date(Date.UTC(2021, 0, 1, 0, 0, i)),
    }));
    const [stats, none] = await loadChestStats(em(), [c.id, empty.id]);
    expect(stats).toMatchObject({
      totalAssets: 12,
      images: 4,
      videos: 2,
      audio: 2,
      documents: 4,
      processed: 3,
      pending: 6,
      failed: 3,
      totalBytes: 12 * 2 ** 33 + 66,
    });
    expect(none).toMatchObject({ chestId: empty.id, totalAssets: 0, totalBytes: 0 });
    const [recent, noneRecent] = await loadRecentAssets(em(), [c.id, empty.id]);
    expect(recent!.map((a) => a.id)).toEqual(made.slice(2).reverse().map((a) => a.id));
    expect(noneRecent).toEqual([]);
  });
});

/** A plan node of EXPLAIN (FORMAT JSON), with what it read. */
interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}
const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];

describe('asset pages read the timeline index and stop at the limit (postgres)', () => {
  let db: TestDatabase;
  let chest: Chest;
  let others: Chest[];

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const em = db.orm.em.fork();
    chest = await makeChest(em);
    others = [await makeChest(em), await makeChest(em)];
    // 600 memories, a sixth undated, so pages after a dated cursor reach the undated ones.
    const dated = (i: number) => (i % 6 ? new Date(Date.UTC(1950, 0, 1 + i)) : null);
    await makeAssets(em, chest, 600, (i) => ({ dateTaken: dated(i) }));
    for (const c of others) await makeAssets(em, c, 300, (i) => ({ dateTaken: dated(i) }));
    await em.execute('analyze asset');
  });
  afterAll(async () => {
    await db?.close();
  });

  /**
   * Runs one page request, then EXPLAIN ANALYZEs the statement it ran, planned as the app's
   * connections plan it (parameters apart, generically: db/prepared-statements.ts): the rows each
   * index scan read, and whether anything sorted them.
   */
  async function readsOf(keys: Parameters<typeof loadAssetPages>[1]) {
    const em = db.orm.em.fork();
    db.queries.length = 0;
    const pages = await loadAssetPages(em, keys);
    expect(db.queries).toHaveLength(1);
    const { sql, params } = assetPagesQuery(em, keys);
    const explained = await executeParameterised<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(em, `explain (analyze, format json) ${sql}`, params);
    const all = nodes(explained[0]!['QUERY PLAN'][0]!.Plan);
    // The reads of asset (not the visibility check's look-ups of contributions).
    const scans = all.filter((n) => n['Node Type'].includes('Scan') && n['Relation Name'] === 'asset');
    return {
      pages,
      indexes: [...new Set(scans.map((n) => n['Index Name'] ?? n['Node Type']))],
      /** Rows read per loop (parent) by each scan of asset (kept plus filtered out). */
      rowsRead: scans.map((n) => n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0)),
      /** Rows any Sort node below the top one sorted. */
      sortedBelowTop: all.slice(1).filter((n) => n['Node Type'].includes('Sort')).map((n) => n['Actual Rows']),
    };
  }

  it('a first page reads limit + 1 rows per chest from asset_chest_timeline_idx, sorting nothing', async () => {
    const r = await readsOf([chest, ...others].map((c) => ({ chestId: c.id, limit: 20, after: null, filter: noFilter })));
    expect(r.pages.map((p) => [p.items.length, p.hasNextPage])).toEqual([[20, true], [20, true], [20, true]]);
    expect(r.indexes).toEqual(['asset_chest_timeline_idx']);
    expect(r.rowsRead).toEqual([21]); // per loop (chest): 21 of 600 and of 300
    expect(r.sortedBelowTop).toEqual([]);
  });

  it('a page after a dated cursor reads index ranges from the cursor on, not the chest from its start', async () => {
    const [first] = await loadAssetPages(db.orm.em.fork(), [{ chestId: chest.id, limit: 400, after: null, filter: noFilter }]);
    const after = first!.items.at(-1)!.cursor;
    const r = await readsOf([{ chestId: chest.id, limit: 50, after, filter: noFilter }]);
    expect(r.pages[0]!.items).toHaveLength(50);
    expect(r.indexes).toEqual(['asset_chest_timeline_idx']);
    // The dated range after the cursor and the undated range: each at most limit + 1 rows.
    expect(r.rowsRead.every((n) => n <= 51)).toBe(true);
    expect(r.sortedBelowTop).toEqual([]);
  });
});
