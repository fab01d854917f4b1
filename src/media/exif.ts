import type { MediaLocation } from './pipeline.types.js';

export interface ExifFacts {
  dateTaken: Date | null;
  location: MediaLocation | null;
  camera: string | null;
}

/**
 * What exifr reads from a photo's EXIF (JPEG, HEIC, TIFF, PNG and WebP containers, without
 * decoding pixels). exifr parses the untrusted file, so it runs in the image sandbox
 * (image.worker.ts) with these options; only the keys below cross back.
 */
export const EXIF_OPTIONS = {
  tiff: true,
  exif: true,
  gps: true,
  ifd1: false,
  interop: false,
  xmp: false,
  icc: false,
  iptc: false,
  // Raw strings: exifr would turn EXIF's zone-less times into this server's local time.
  reviveValues: false,
  translateValues: false,
} as const;
export const EXIF_KEYS = ['DateTimeOriginal', 'CreateDate', 'DateTime', 'OffsetTimeOriginal', 'OffsetTime', 'latitude', 'longitude', 'GPSAltitude', 'GPSAltitudeRef', 'Make', 'Model'] as const;

/** Date taken, GPS position and camera from the tags exifr read; missing or broken EXIF (normal for scans and screenshots) yields nulls. */
export function exifFacts(tags: Partial<Record<(typeof EXIF_KEYS)[number], unknown>> | null): ExifFacts {
  if (!tags) return { dateTaken: null, location: null, camera: null };
  return {
    dateTaken: exifDate(tags.DateTimeOriginal ?? tags.CreateDate ?? tags.DateTime, tags.OffsetTimeOriginal ?? tags.OffsetTime),
    location: gps(tags),
    camera: [tags.Make, tags.Model].filter((v) => typeof v === 'string' && v.trim()).join(' ').trim() || null,
  };
}

/**
 * "2019:06:01 12:00:00" plus an optional "+02:00". Without an offset the camera's wall-clock time
 * is kept as if it were UTC: the day and hour people remember, whatever this server's zone.
 */
export function exifDate(value: unknown, offset: unknown): Date | null {
  if (typeof value !== 'string') return null;
  const m = /^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(value.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  if (y! < 1826 || mo! < 1 || mo! > 12 || d! < 1 || d! > 31) return null; // 0000:00:00 means "unset"
  let ms = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!);
  const off = typeof offset === 'string' ? /^([+-])(\d{2}):(\d{2})$/.exec(offset.trim()) : null;
  if (off) ms -= (off[1] === '-' ? -1 : 1) * (Number(off[2]) * 60 + Number(off[3])) * 60_000;
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) || ms > Date.now() + 86_400_000 ? null : date;
}

function gps(tags: Partial<Record<(typeof EXIF_KEYS)[number], unknown>>): MediaLocation | null {
  const lat = tags.latitude;
  const lon = tags.longitude;
  if (typeof lat !== 'number' || typeof lon !== 'number' || !Number.isFinite(lat) || !Number.isFinite(lon)) return null;
  if (Math.abs(lat) > 90 || Math.abs(lon) > 180 || (lat === 0 && lon === 0)) return null;
  const alt = typeof tags.GPSAltitude === 'number' ? tags.GPSAltitude * (tags.GPSAltitudeRef === 1 ? -1 : 1) : null;
  return { latitude: round(lat, 6), longitude: round(lon, 6), altitude: alt === null ? null : round(alt, 1) };
}

const round = (n: number, places: number) => Math.round(n * 10 ** places) / 10 ** places;
