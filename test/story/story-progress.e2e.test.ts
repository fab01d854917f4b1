import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chest } from '../../src/db/entities/index.js';
import { FileType } from '../../src/db/enums.js';
import { CHANNEL } from '../../src/events/postgres.events.js';
import { apiClient, eventually, type GqlResponse } from '../support/client.js';
import { makeAssets } from '../support/factories.js';
import { type FakeOpenAi, startFakeOpenAi } from '../support/fake-openai.js';
import { startTestServer, type TestServer } from '../support/server.js';

interface Progress {
  storyProgress: { status: 'GENERATING' | 'READY' | 'FAILED'; narrative: string; error: string | null };
}
const PROGRESS = `subscription($s: ID!) { storyProgress(storyId: $s) { status narrative error } }`;
const STORY = `query($s: ID!) { story(id: $s) { status content error paragraphs { text } } }`;
const finished = (all: GqlResponse<Progress>[]) => all.some((r) => r.data?.storyProgress.status !== 'GENERATING');
const events = (all: GqlResponse<Progress>[]) =>
  all.map((r) => {
    if (!r.data) throw new Error(`subscription error: ${JSON.stringify(r.errors)}`);
    return r.data.storyProgress;
  });

/** A story whose narrative is far over NOTIFY's 8000-byte limit, citing the given memories. */
function longStory(assetIds: string[]): { json: string; narrative: string } {
  const paragraphs = Array.from({ length: 30 }, (_, i) => ({
    text: `Chapter ${i + 1}. ${'She tended the roses by the old stone wall and sang to the bees while the kettle warmed. '.repeat(5).trim()}`,
    assetIds: [assetIds[i % assetIds.length]!],
  }));
  return {
    json: JSON.stringify({ title: 'A long life', paragraphs, timeline: [], themes: [] }),
    narrative: paragraphs.map((p) => p.text).join('\n\n'),
  };
}

/**
 * Served mode as deployed: real PostgreSQL, the LISTEN/NOTIFY event bus between the worker's
 * writer and the API's subscriptions, the real `openai` provider against the loopback fake.
 * Memories are made as rows (processing is not what this is about), the rest goes over HTTP and
 * websockets.
 */
describe('storyProgress in served mode (PostgreSQL event bus, openai provider)', () => {
  let fake: FakeOpenAi;
  let server: TestServer;
  let api: ReturnType<typeof apiClient>;
  let token: string;
  let chestId: string;
  let assetIds: string[];
  // Every NOTIFY on the database, as sent: what each process's listener receives.
  let listener: pg.Client;
  const notified: string[] = [];

  beforeAll(async () => {
    fake = await startFakeOpenAi();
    // No retries anywhere: a temporary AI failure goes straight to the dead-letter step.
    server = await startTestServer(
      { AI_PROVIDERS: 'openai', OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: 'sk-test-key', AI_MAX_RETRIES: '0', JOB_RETRY_LIMIT: '0' },
      { worker: true },
    );
    listener = new pg.Client({ connectionString: server.db.url });
    await listener.connect();
    listener.on('notification', (msg) => void (msg.channel === CHANNEL && msg.payload && notified.push(msg.payload)));
    await listener.query(`listen ${CHANNEL}`);
    api = apiClient(server.app.url());
    token = await api.signUp('rose.stories@example.com');
    chestId = await api.createChest(token);
    const em = server.db.orm.em.fork();
    assetIds = (await makeAssets(em, em.getReference(Chest, chestId), 3, (i) => ({ fileType: FileType.DOCUMENT, extractedText: `Letter ${i} about the garden.` }))).map((a) => a.id);
  }, 120_000);
  afterAll(async () => {
    await listener?.end();
    await server?.stop();
    await fake?.close();
  });

  /** The story signals seen on the bus for one story, parsed. */
  const signals = (storyId: string) =>
    notified.map((n) => JSON.parse(n) as { t: string; p: Record<string, unknown> }).filter((e) => e.t === `story.${storyId}.progress`);

  async function generate(): Promise<string> {
    const { generateStory } = await api.must(`mutation($c: ID!) { generateStory(input: { chestId: $c, style: COMPREHENSIVE }) { id } }`, { c: chestId }, token);
    return generateStory.id as string;
  }

  it('streams a story longer than 8000 bytes: growing GENERATING narratives, then READY with the stored content', { timeout: 90_000 }, async () => {
    const story = longStory(assetIds);
    expect(Buffer.byteLength(story.narrative)).toBeGreaterThan(12_000);
    // Slow enough (≥ 2.5 s of stream) for several 250 ms progress writes.
    fake.script({ content: story.json, chunkCodePoints: 100, chunkDelayMs: 20 });
    const ws = api.ws(token);
    try {
      const storyId = await generate();
      const early = api.collect<Progress>(ws, PROGRESS, { s: storyId }, finished);
      // A second subscriber arrives once the narrative has begun: its first event is the narrative so far.
      await eventually(async () => (events(early.results).some((e) => e.narrative.length > 0) ? true : undefined), 60_000, 20);
      const late = api.collect<Progress>(ws, PROGRESS, { s: storyId }, finished);
      const [seen, lateSeen] = [events(await early.done), events(await late.done)];
      const { story: stored } = await api.must(STORY, { s: storyId }, token);

      expect(stored).toMatchObject({ status: 'READY', content: story.narrative, error: null });
      const ready = seen.at(-1)!;
      expect(ready).toEqual({ status: 'READY', narrative: stored.content, error: null });
      const generating = seen.slice(0, -1);
      expect(generating.every((e) => e.status === 'GENERATING' && e.error === null)).toBe(true);
      // Each narrative is a strict prefix of the next, and a prefix of the finished story (the last
      // one may already be all of it: the writer saves the whole narrative before it says READY).
      const narratives = generating.map((e) => e.narrative);
      for (const [i, n] of narratives.entries()) {
        const next = narratives[i + 1];
        if (next !== undefined) expect(next.startsWith(n) && next.length > n.length).toBe(true);
        expect(stored.content.startsWith(n)).toBe(true);
      }
      expect(narratives.filter((n) => n.length > 0).length).toBeGreaterThanOrEqual(2);
      // Progress past NOTIFY's limit still arrives (the text is read from the row, not sent).
      expect(narratives.some((n) => Buffer.byteLength(n) > 8000)).toBe(true);

      expect(lateSeen[0]!.narrative.length).toBeGreaterThan(0);
      expect(stored.content.startsWith(lateSeen[0]!.narrative)).toBe(true);
      expect(lateSeen.at(-1)).toEqual(ready);

      // On the bus: small signals, never the narrative.
      const sent = await eventually(async () => {
        const s = signals(storyId);
        return s.some((e) => e.p['status'] === 'READY') ? s : undefined;
      }, 10_000, 20);
      expect(sent.length).toBeGreaterThanOrEqual(3);
      for (const e of sent) expect(Object.keys(e.p).sort()).toEqual(['chestId', 'length', 'status', 'storyId']);
      expect(sent.at(-1)!.p).toEqual({ storyId, chestId, status: 'READY', length: stored.content.length });
    } finally {
      await ws.dispose();
    }
  });

  it.each([
    { why: 'the server refuses the key (HTTP 401)', behaviour: { status: 401 }, error: 'The AI service refused the API key' },
    { why: 'the output breaks the schema', behaviour: { content: '{"title":"A life","paragraphs":"not a list"}' }, error: 'The story model returned malformed output' },
  ])('ends FAILED with a readable error when $why', { timeout: 60_000 }, async ({ behaviour, error }) => {
    fake.script(behaviour);
    const ws = api.ws(token);
    try {
      const storyId = await generate();
      const seen = events(await api.collect<Progress>(ws, PROGRESS, { s: storyId }, finished).done);
      expect(seen.at(-1)).toEqual({ status: 'FAILED', narrative: '', error });
      const { story } = await api.must(STORY, { s: storyId }, token);
      expect(story).toEqual({ status: 'FAILED', content: '', error, paragraphs: [] });
      // The fake echoes the Authorization header into its error bodies; none of it reaches people.
      expect(story.error).not.toContain('sk-test-key');
      const failed = await eventually(async () => signals(storyId).find((e) => e.p['status'] === 'FAILED'), 10_000, 20);
      expect(failed.p).toEqual({ storyId, chestId, status: 'FAILED', length: 0 });
    } finally {
      await ws.dispose();
    }
  });

  it('ends FAILED through the dead-letter step when the writer keeps failing temporarily', { timeout: 60_000 }, async () => {
    // HTTP 500 is retryable; with no retries left the job goes to story.generate.failed.
    fake.script({ status: 500 });
    const ws = api.ws(token);
    try {
      const storyId = await generate();
      const seen = events(await api.collect<Progress>(ws, PROGRESS, { s: storyId }, finished).done);
      const error = 'The AI service could not be reached after several attempts; try again later';
      expect(seen.at(-1)).toEqual({ status: 'FAILED', narrative: '', error });
      const { story } = await api.must(STORY, { s: storyId }, token);
      expect(story).toMatchObject({ status: 'FAILED', error });
    } finally {
      await ws.dispose();
    }
  });
});
