import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { Asset } from '../../db/entities/index.js';
import { FileType } from '../../db/enums.js';
import type { Thumbnail } from '../../db/entities/asset.types.js';
import type { FaceBox } from '../../db/entities/face.types.js';
import type { JobQueue } from '../../jobs/jobs.port.js';
import type { Logger } from '../../logger.js';
import { MAX_INPUT_PIXELS } from '../../media/image.pipeline.js';
import { DEFAULT_PARSE_LIMITS, type ParseLimits } from '../../media/sandbox/limits.js';
import type { RedactResult, RedactTask } from '../../media/sandbox/redact.worker.js';
import { runInSandbox, workerEntry } from '../../media/sandbox/sandbox.js';
import type { StorageBackend } from '../../storage/storage.port.js';
import type { Actor } from '../actor.js';
import { pgArray } from '../batch.js';
import { derivativePrefix, derivativeSink } from '../processing/derivatives.js';
import type { Maybe } from '../access/access.service.js';
import { seesEveryone, seesEveryoneNow } from './people.nested.js';

/**
 * Consent in pictures: in the thumbnails people outside the family receive, the faces of hidden
 * people are blurred. A photo showing a hidden person gets blurred copies of its thumbnails
 * ("1024-blurred-…", ...), and a video of one blurred copies of its posters ("poster-1024-blurred-…";
 * faces found on the poster-1024 frame are blurred there; those found only in its other sampled
 * frames, Face.atSeconds, are not on the posters and withhold the film only), made by the worker in the sandbox
 * (media/sandbox/redact.worker.ts) and recorded on the asset with a signature of what they
 * blurred: the hidden faces (ids and boxes) and the processing run whose thumbnails they copy,
 * with the ThumbHash of the largest copy. Non-members get the copies and that placeholder only
 * while the signature still matches; in between (a person just hidden, a face just moved) they
 * get no picture and no placeholder of that memory at all. A video's moving pictures are not
 * blurred: outside the family its preview is withheld (fail closed). Members always get the
 * thumbnails, placeholder and preview themselves.
 */

const REDACT_WORKER = workerEntry(import.meta.url, '../../media/sandbox/redact.worker');
/** Blurred copies are named for what they blur ("1024-blurred-<12 hex of the signature>"): a copy made for other faces is never served for these. */
const BLURRED = /-blurred-[0-9a-f]{12}$/;

export interface HiddenFace {
  id: string;
  box: FaceBox;
  /** A film's face seen only in a frame other than its poster (Face.atSeconds): not on the posters, so nothing of it is blurred there. */
  atSeconds: number | null;
}

/** The faces of hidden people in each photo or film. */
export async function loadHiddenFaces(em: EntityManager, assetIds: readonly string[]): Promise<HiddenFace[][]> {
  const rows = await em.execute<{ asset_id: string; id: string; box: FaceBox; at_seconds: number | null }[]>(
    'select f.asset_id, f.id, f.box, f.at_seconds from face f join person p on p.id = f.person_id where p.hidden and f.asset_id = any(?::uuid[]) order by f.id',
    [pgArray(assetIds)],
  );
  const byAsset = new Map<string, HiddenFace[]>();
  for (const r of rows) byAsset.set(r.asset_id, [...(byAsset.get(r.asset_id) ?? []), { id: r.id, box: r.box, atSeconds: r.at_seconds }]);
  return assetIds.map((id) => byAsset.get(id) ?? []);
}

/** The hidden faces on the picture its thumbnails show: a photo's, a film's poster frame. */
const onThePicture = (hidden: readonly HiddenFace[]): HiddenFace[] => hidden.filter((f) => f.atSeconds === null);

/**
 * What a set of blurred copies was made for; null when nothing in the thumbnails needs blurring
 * (a film whose hidden person is only in other frames: its posters are served as they are, its
 * film and original still withheld).
 */
export function redactionSignature(asset: Pick<Asset, 'processedAt'>, all: readonly HiddenFace[]): string | null {
  const hidden = onThePicture(all);
  if (hidden.length === 0) return null;
  const faces = [...hidden].sort((a, b) => a.id.localeCompare(b.id)).map((f) => [f.id, f.box.x, f.box.y, f.box.width, f.box.height]);
  return createHash('sha256').update(JSON.stringify([asset.processedAt?.toISOString() ?? null, faces])).digest('hex');
}

/**
 * The thumbnails this reader may receive: the thumbnails themselves for the chest's members and
 * for photos with no hidden person; for everyone else the blurred copies, or none while they are
 * not made for the photo's hidden faces as they are now.
 */
export function thumbnailsFor(actor: Actor, asset: Asset, hiddenFaces: (assetId: string) => Promise<HiddenFace[]>): Maybe<Thumbnail[]> {
  // Members' answer needs no look-up: given at once when their role is known (the chest was authorised).
  if (asset.thumbnails.length === 0 || seesEveryoneNow(actor, asset.chest.id) === true) return asset.thumbnails;
  return redactedThumbnails(actor, asset, hiddenFaces);
}

async function redactedThumbnails(actor: Actor, asset: Asset, hiddenFaces: (assetId: string) => Promise<HiddenFace[]>): Promise<Thumbnail[]> {
  if (await seesEveryone(actor, asset.chest.id)) return asset.thumbnails;
  const signature = redactionSignature(asset, await hiddenFaces(asset.id));
  if (signature === null) return asset.thumbnails;
  return asset.redaction?.signature === signature ? asset.redaction.thumbnails : [];
}

/**
 * The placeholder (ThumbHash) this reader may receive: the memory's own for members and for
 * memories with no hidden person; for everyone else the one made from the blurred copy, or none
 * while the copies do not match (and for records made before they carried one).
 */
export function placeholderFor(actor: Actor, asset: Asset, hiddenFaces: (assetId: string) => Promise<HiddenFace[]>): Maybe<string | null> {
  if (asset.placeholder === null || seesEveryoneNow(actor, asset.chest.id) === true) return asset.placeholder;
  return redactedPlaceholder(actor, asset, hiddenFaces);
}

async function redactedPlaceholder(actor: Actor, asset: Asset, hiddenFaces: (assetId: string) => Promise<HiddenFace[]>): Promise<string | null> {
  if (await seesEveryone(actor, asset.chest.id)) return asset.placeholder;
  const signature = redactionSignature(asset, await hiddenFaces(asset.id));
  if (signature === null) return asset.placeholder;
  return asset.redaction?.signature === signature ? (asset.redaction.placeholder ?? null) : null;
}

/**
 * Whether this reader may be handed the original: a photo or video showing a hidden person never
 * leaves the family unblurred, even through a view link whose owner allowed originals. In a film,
 * a hidden face found in any of its searched frames counts, not only the poster's.
 */
export function originalWithheld(actor: Actor, asset: Asset, hiddenFaces: (assetId: string) => Promise<HiddenFace[]>): Maybe<boolean> {
  if (seesEveryoneNow(actor, asset.chest.id) === true) return false;
  return seesEveryone(actor, asset.chest.id).then(async (all) => !all && (await hiddenFaces(asset.id)).length > 0);
}

/**
 * Whether this reader must go without the preview: a video's transcoded copy is not blurred frame
 * by frame, so outside the family a video showing a hidden person has none (only its blurred
 * posters). Photos' previews are their thumbnails (thumbnailsFor); recordings show no faces.
 */
export function previewWithheld(actor: Actor, asset: Asset, hiddenFaces: (assetId: string) => Promise<HiddenFace[]>): Maybe<boolean> {
  return asset.fileType === FileType.VIDEO && originalWithheld(actor, asset, hiddenFaces);
}

/** Queues the blurring of these photos (in the caller's transaction): a hidden person's faces changed in them. */
export async function enqueueRedaction(tx: EntityManager, queue: JobQueue, assetIds: Iterable<string>): Promise<void> {
  for (const assetId of new Set(assetIds)) await queue.enqueue(tx, 'faces.redact', { assetId });
}

/** Photos showing any of these people. */
export async function assetsShowing(em: EntityManager, personIds: readonly string[]): Promise<string[]> {
  if (personIds.length === 0) return [];
  const rows = await em.execute<{ asset_id: string }[]>('select distinct asset_id from face where person_id = any(?::uuid[])', [pgArray(personIds)]);
  return rows.map((r) => r.asset_id);
}

export interface RedactionDeps {
  orm: MikroORM;
  storage: StorageBackend;
  log: Logger;
  limits?: ParseLimits;
}

/**
 * The faces.redact job (also run by the AI step when a photo's or video's faces change): makes
 * the blurred copies of its thumbnails (a video's posters) for its hidden faces as they are now,
 * with their placeholder, or removes them when none are left.
 * Idempotent. A picture the sandbox cannot read leaves the photo without copies, so people
 * outside the family keep getting no picture of it: consent fails closed.
 */
export async function redactAsset(deps: RedactionDeps, assetId: string, signal?: AbortSignal): Promise<'blurred' | 'cleared' | 'unchanged'> {
  const em = deps.orm.em.fork();
  const asset = await em.findOne(Asset, { id: assetId }, { populate: ['chest'] });
  if (!asset) return 'unchanged';
  const [hidden] = await loadHiddenFaces(em, [asset.id]);
  const signature = redactionSignature(asset, hidden!);
  // A record made before copies carried a placeholder is made again, placeholder and all.
  const upToDate = asset.redaction ? asset.redaction.signature === signature && asset.redaction.placeholder !== undefined : signature === null;
  if (upToDate) return 'unchanged';
  if (signature === null) {
    await em.nativeUpdate(Asset, { id: asset.id }, { redaction: null });
    await removeBlurred(deps.storage, asset, new Set());
    return 'cleared';
  }
  const dir = await mkdtemp(join(tmpdir(), 'dmc-redact-'));
  try {
    const written = new Set<string>();
    const sink = derivativeSink(deps.storage, asset, written);
    const thumbnails: Thumbnail[] = [];
    // The placeholder comes from the largest copy, as the pipelines make it from the largest picture.
    const largest = [...asset.thumbnails].sort((a, b) => b.width * b.height - a.width * a.height)[0];
    let placeholder: string | null = null;
    for (const t of asset.thumbnails) {
      signal?.throwIfAborted();
      const source = join(dir, `${t.name}.webp`);
      const name = `${t.name}-blurred-${signature.slice(0, 12)}`;
      const out = join(dir, `${name}.webp`);
      await pipeline(await deps.storage.get(t.storageKey), createWriteStream(source), { signal });
      const task: RedactTask = { path: source, out, boxes: onThePicture(hidden!).map((f) => f.box), maxPixels: MAX_INPUT_PIXELS, placeholder: t === largest };
      try {
        const made = await runInSandbox<RedactResult>({ entry: REDACT_WORKER, data: task, limits: (deps.limits ?? DEFAULT_PARSE_LIMITS).sandbox, signal });
        if (t === largest) placeholder = made.placeholder ?? null;
      } catch (err) {
        signal?.throwIfAborted();
        // The thumbnail is our own WebP; a failure here is not a reason to show the face. Logged, retried by the next change.
        deps.log.warn({ err, assetId: asset.id, thumbnail: t.name }, 'blurred copy not made; non-members get no picture of this photo');
        return 'unchanged';
      }
      thumbnails.push({ name, width: t.width, height: t.height, mimeType: 'image/webp', storageKey: await sink(name, await readFile(out), 'image/webp') });
    }
    const saved = await em.transactional(async (tx) => {
      // Saved only if the photo is as it was when the copies were made (no face moved, no new processing run).
      const now = await tx.findOne(Asset, { id: asset.id }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (!now) return false;
      const [current] = await loadHiddenFaces(tx, [asset.id]);
      if (redactionSignature(now, current!) !== signature) return false;
      await tx.nativeUpdate(Asset, { id: asset.id }, { redaction: { signature, thumbnails, placeholder } });
      return true;
    });
    if (saved) await removeBlurred(deps.storage, asset, written);
    return saved ? 'blurred' : 'unchanged';
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function removeBlurred(storage: StorageBackend, asset: Pick<Asset, 'id'> & { chest: { id: string } }, keep: Set<string>): Promise<void> {
  for await (const obj of storage.list(derivativePrefix(asset))) {
    if (BLURRED.test(obj.key) && !keep.has(obj.key)) await storage.delete(obj.key);
  }
}
