import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { MadeBy } from '../../ai/ai.port.js';
import type { FaceEngine } from '../../ai/local/faces.js';
import type { Asset } from '../../db/entities/index.js';
import type { StorageBackend } from '../../storage/storage.port.js';
import { derivativePrefix, derivativeSink } from '../processing/derivatives.js';
import type { FoundFace } from './face-clustering.js';

/**
 * The AI step's faces task, around the clustering: the engine looks at the photo's metadata-free
 * picture, each face's crop is stored as a derivative of the photo (WebP, no metadata), and once
 * the faces are saved, crops no face uses any more are removed.
 */

export interface FacesFound extends MadeBy {
  found: FoundFace[];
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
  return { provider: detection.provider, model: detection.model, found };
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
