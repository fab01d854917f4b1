import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { MadeBy } from '../../ai/ai.port.js';
import { AiProviderError } from '../../ai/ai.port.js';
import { type DetectedFace, type FaceEngine, faceDistance, SAME_PERSON_DISTANCE } from '../../ai/local/faces.js';
import type { Asset } from '../../db/entities/index.js';
import type { StorageBackend } from '../../storage/storage.port.js';
import { derivativePrefix, derivativeSink } from '../processing/derivatives.js';
import type { FoundFace } from './face-clustering.js';

/**
 * The AI step's faces task, around the clustering: the engine looks at the photo's metadata-free
 * picture (a film's poster and sample frames), each face's crop is stored as a derivative of the
 * photo (WebP, no metadata), and once the faces are saved, crops no face uses any more are removed.
 */

export interface FacesFound extends MadeBy {
  found: FoundFace[];
  /** Pictures the engine looked at (a film's poster and the frames it could read). */
  pictures: number;
}

type AssetRef = Pick<Asset, 'id'> & { chest: { id: string } };

/** A face crop's derivative name: "face-" and the face's id without dashes (names are at most 40 characters). */
export const faceCropName = (faceId: string): string => `face-${faceId.replace(/-/g, '')}`;
const FACE_CROP = /\/face-[0-9a-f]{32}$/;

export async function lookForFaces(deps: { engine: FaceEngine; storage: StorageBackend }, asset: AssetRef, picturePath: string, signal?: AbortSignal): Promise<FacesFound> {
  const detection = await deps.engine.detect({ path: picturePath, signal });
  const sink = derivativeSink(deps.storage, asset, new Set());
  const found: FoundFace[] = [];
  for (const face of detection.faces) {
    signal?.throwIfAborted();
    const id = randomUUID();
    const cropKey = await sink(faceCropName(id), face.crop, 'image/webp');
    found.push({ id, box: face.box, score: face.score, descriptor: face.descriptor, cropKey });
  }
  return { provider: detection.provider, model: detection.model, found, pictures: 1 };
}

/** A frame of a film other than its poster, on local disk (media/video-frames.ts). */
export interface FilmFrameFile {
  atSeconds: number;
  path: string;
}

/** A face the engine found in a film: on its poster (atSeconds null) or in another frame. */
export interface FilmFace {
  face: DetectedFace;
  atSeconds: number | null;
}

/**
 * A film's faces: the engine looks at its poster and then at each other frame, one at a time (it
 * is one process), and each person the film shows is kept once (groupFilmFaces), with their crop
 * stored. The poster's failure fails the task, as for a photo; a frame the engine refuses is
 * skipped (`onSkipped`), so one bad frame does not lose the faces of the rest.
 */
export async function lookForFacesInFilm(
  deps: { engine: FaceEngine; storage: StorageBackend },
  input: { asset: AssetRef; poster: string; frames: readonly FilmFrameFile[]; signal?: AbortSignal; onSkipped?: (atSeconds: number, err: unknown) => void },
): Promise<FacesFound> {
  const { signal } = input;
  const poster = await deps.engine.detect({ path: input.poster, signal });
  const seen: FilmFace[][] = [poster.faces.map((face) => ({ face, atSeconds: null }))];
  for (const frame of input.frames) {
    signal?.throwIfAborted();
    try {
      const detection = await deps.engine.detect({ path: frame.path, signal });
      seen.push(detection.faces.map((face) => ({ face, atSeconds: frame.atSeconds })));
    } catch (err) {
      if (!(err instanceof AiProviderError) || err.retryable) throw err;
      input.onSkipped?.(frame.atSeconds, err);
    }
  }
  const sink = derivativeSink(deps.storage, input.asset, new Set());
  const found: FoundFace[] = [];
  for (const { face, atSeconds, looks } of groupFilmFaces(seen)) {
    signal?.throwIfAborted();
    const id = randomUUID();
    const cropKey = await sink(faceCropName(id), face.crop, 'image/webp');
    found.push({ id, box: face.box, score: face.score, descriptor: face.descriptor, cropKey, atSeconds, looks });
  }
  return { provider: poster.provider, model: poster.model, found, pictures: seen.length };
}

/**
 * One face per person a film shows, from the faces of its frames (`frames[0]` the poster's):
 * frame by frame, each face joins the group whose nearest face is within SAME_PERSON_DISTANCE of
 * it, nearest pairs first, a group taking at most one face of each frame (one frame shows a
 * person once), or starts a new group, as the chest's people are grouped. A person moves between
 * frames, so the group's nearest face, not its first, decides. Each group keeps its face on the
 * poster, whose box is where the posters show it (and where they are blurred), or else its
 * surest face, with that frame's box and crop; the others are its `looks`, by the nearest of which
 * it joins the chest's people (one look of a hard face, turned or small, can be just too far).
 */
export function groupFilmFaces(frames: readonly (readonly FilmFace[])[]): (FilmFace & { looks: Float32Array[] })[] {
  const groups: FilmFace[][] = [];
  for (const faces of frames) {
    const pairs: { face: FilmFace; group: FilmFace[]; distance: number }[] = [];
    for (const face of faces) {
      for (const group of groups) {
        const distance = Math.min(...group.map((g) => faceDistance(face.face.descriptor, g.face.descriptor)));
        if (distance < SAME_PERSON_DISTANCE) pairs.push({ face, group, distance });
      }
    }
    pairs.sort((a, b) => a.distance - b.distance);
    const placed = new Set<FilmFace>();
    const taken = new Set<FilmFace[]>();
    for (const { face, group } of pairs) {
      if (placed.has(face) || taken.has(group)) continue;
      group.push(face);
      placed.add(face);
      taken.add(group);
    }
    for (const face of faces) if (!placed.has(face)) groups.push([face]);
  }
  return groups.map((group) => {
    const kept = group.find((f) => f.atSeconds === null) ?? group.reduce((best, f) => (f.face.score > best.face.score ? f : best));
    return { ...kept, looks: group.filter((f) => f !== kept).map((f) => f.face.descriptor) };
  });
}

/**
 * Removes the photo's face crops that no face row names: those of faces this run replaced, and
 * those of a run whose save never committed. Best effort: a crop left behind is only bytes.
 */
export async function removeUnusedFaceCrops(em: EntityManager, storage: StorageBackend, asset: AssetRef): Promise<number> {
  const rows = await em.execute<{ crop_key: string }[]>('select crop_key from face where asset_id = ? and crop_key is not null', [asset.id]);
  const used = new Set(rows.map((r) => r.crop_key));
  let removed = 0;
  for await (const obj of storage.list(derivativePrefix(asset))) {
    if (!FACE_CROP.test(obj.key) || used.has(obj.key)) continue;
    await storage.delete(obj.key);
    removed++;
  }
  return removed;
}

/**
 * The face crop GET /files/<asset>/face-<id> serves, when that face is on that photo. The link
 * itself is the permission: only readers who may see the face's person are handed one
 * (Person.cover), and it lives five minutes.
 */
export async function findFaceCrop(em: EntityManager, assetId: string, name: string): Promise<{ storageKey: string; mimeType: string; filename: string } | null> {
  const m = /^face-([0-9a-f]{8})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{12})$/.exec(name);
  if (!m) return null;
  const rows = await em.execute<{ crop_key: string }[]>('select crop_key from face where id = ? and asset_id = ? and crop_key is not null', [m.slice(1).join('-'), assetId]);
  return rows[0] ? { storageKey: rows[0].crop_key, mimeType: 'image/webp', filename: 'face.webp' } : null;
}
