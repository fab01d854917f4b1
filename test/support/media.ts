import piexif from 'piexifjs';
import sharp from 'sharp';

/** Real files for tests, made on the spot. */

export const jpeg = (w = 64, h = 48, color = '#4a7') =>
  sharp({ create: { width: w, height: h, channels: 3, background: color } })
    .jpeg()
    .toBuffer();

/** A mono 16-bit PCM WAV whose samples are `fill` (deterministic noise when omitted). */
export function wav(samples: number, fill?: (i: number) => number): Buffer {
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) data.writeInt16LE(fill ? fill(i) : ((i * 2654435761) >>> 16) - 32768, i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(16000, 24);
  h.writeUInt32LE(32000, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

/** A minimal valid PDF. */
export const pdf = () =>
  Buffer.from('%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n');

/**
 * A real PDF written by hand: each page is lines of Helvetica text, or (for 'scan') only a
 * picture, as a scanner makes. Offsets in the xref table are byte-exact.
 */
export function buildPdf(pages: Array<string[] | 'scan'>): Buffer {
  const objects: Buffer[] = [];
  const add = (body: string | Buffer): number => objects.push(Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1'));
  const stream = (dict: string, data: Buffer): Buffer =>
    Buffer.concat([Buffer.from(`<< ${dict} /Length ${data.length} >>\nstream\n`, 'latin1'), data, Buffer.from('\nendstream')]);
  add('<< /Type /Catalog /Pages 2 0 R >>');
  add(''); // the page tree, filled in once the kids are known
  add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>');
  const kids: number[] = [];
  for (const page of pages) {
    let content: string;
    let resources: string;
    if (page === 'scan') {
      const pixels = Buffer.from([200, 180, 150, 90, 60, 30, 30, 60, 90, 150, 180, 200]); // 2×2 RGB
      const image = add(stream('/Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceRGB /BitsPerComponent 8', pixels));
      content = 'q 400 0 0 500 100 150 cm /Im1 Do Q';
      resources = `<< /XObject << /Im1 ${image} 0 R >> >>`;
    } else {
      const escaped = page.map((line) => `(${line.replace(/([\\()])/g, '\\$1')}) Tj T*`).join(' ');
      content = `BT /F1 12 Tf 16 TL 72 720 Td ${escaped} ET`;
      resources = '<< /Font << /F1 3 0 R >> >>';
    }
    const contents = add(stream('', Buffer.from(content, 'latin1')));
    kids.push(add(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources ${resources} /Contents ${contents} 0 R >>`));
  }
  objects[1] = Buffer.from(`<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(' ')}] /Count ${kids.length} >>`);

  return assemblePdf(objects);
}

/** Numbers the objects (1, 2, ...; object 1 must be the catalog) and writes a byte-exact xref table. */
export function assemblePdf(objects: Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  const offsets: number[] = [];
  let length = parts[0]!.length;
  objects.forEach((body, i) => {
    offsets.push(length);
    const obj = Buffer.concat([Buffer.from(`${i + 1} 0 obj\n`), body, Buffer.from('\nendobj\n')]);
    parts.push(obj);
    length += obj.length;
  });
  const xref = [`xref\n0 ${objects.length + 1}\n`, '0000000000 65535 f \n', ...offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`)];
  parts.push(Buffer.from(`${xref.join('')}trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${length}\n%%EOF\n`));
  return Buffer.concat(parts);
}

export interface ExifFields {
  /** "YYYY:MM:DD HH:MM:SS", as cameras write it. */
  dateTimeOriginal?: string;
  latitude?: number;
  longitude?: number;
  altitude?: number;
  /** EXIF orientation 1–8. */
  orientation?: number;
  make?: string;
  model?: string;
}

/** EXIF tag numbers (TIFF/EXIF 2.3), by IFD: 0th, Exif, GPS. */
const TAG = { Make: 271, Model: 272, Orientation: 274, DateTimeOriginal: 36867, GPSLatitudeRef: 1, GPSLatitude: 2, GPSLongitudeRef: 3, GPSLongitude: 4, GPSAltitudeRef: 5, GPSAltitude: 6 } as const;

const rational = (n: number, den = 10000): [number, number] => [Math.round(n * den), den];
const dms = (deg: number): [number, number][] => {
  const a = Math.abs(deg);
  const d = Math.floor(a);
  const m = Math.floor((a - d) * 60);
  const s = (a - d - m / 60) * 3600;
  return [[d, 1], [m, 1], rational(s, 1000)];
};

/** A JPEG (made by sharp) carrying EXIF written by piexifjs: date, GPS, orientation, camera. */
export async function jpegWithExif(fields: ExifFields, w = 640, h = 480, color = '#c84'): Promise<Buffer> {
  const base = await sharp({ create: { width: w, height: h, channels: 3, background: color } })
    .composite([{ input: { create: { width: Math.floor(w / 3), height: Math.floor(h / 3), channels: 3, background: '#123' } }, top: 10, left: 10 }])
    .jpeg()
    .toBuffer();
  const zeroth: Record<number, unknown> = {};
  const exif: Record<number, unknown> = {};
  const gps: Record<number, unknown> = {};
  if (fields.make) zeroth[TAG.Make] = fields.make;
  if (fields.model) zeroth[TAG.Model] = fields.model;
  if (fields.orientation) zeroth[TAG.Orientation] = fields.orientation;
  if (fields.dateTimeOriginal) exif[TAG.DateTimeOriginal] = fields.dateTimeOriginal;
  if (fields.latitude !== undefined && fields.longitude !== undefined) {
    gps[TAG.GPSLatitudeRef] = fields.latitude >= 0 ? 'N' : 'S';
    gps[TAG.GPSLatitude] = dms(fields.latitude);
    gps[TAG.GPSLongitudeRef] = fields.longitude >= 0 ? 'E' : 'W';
    gps[TAG.GPSLongitude] = dms(fields.longitude);
  }
  if (fields.altitude !== undefined) {
    gps[TAG.GPSAltitudeRef] = fields.altitude < 0 ? 1 : 0;
    gps[TAG.GPSAltitude] = rational(Math.abs(fields.altitude), 10);
  }
  const bytes = piexif.dump({ '0th': zeroth, Exif: exif, GPS: gps });
  return Buffer.from(piexif.insert(bytes, base.toString('binary')), 'binary');
}

/**
 * A "scanned letter": lines of dark serif text on an off-white page, rendered by sharp from SVG
 * and saved as a JPEG, as a flatbed scan of a handwritten-neat letter would come out.
 */
export async function letterScan(lines: string[], width = 1400): Promise<Buffer> {
  const escape = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const lineHeight = 64;
  const height = 200 + lines.length * lineHeight;
  const text = lines.map((l, i) => `<text x="100" y="${140 + i * lineHeight}" font-family="DejaVu Serif, serif" font-size="40" fill="#222">${escape(l)}</text>`).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#f4efe4"/>${text}</svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer();
}
