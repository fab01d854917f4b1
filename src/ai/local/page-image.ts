/**
 * Pictures of pages, as numbers: where the paper is on a dark lid or table, how far its lines
 * are tilted, how tall they are, and the light falling on it. Pure functions on greyscale pixels
 * that someone else decoded: the OCR engine's process (ocr.child.ts) uses them to straighten and
 * clean a scan before tesseract reads it, and the picture tags (image-tags.ts) to tell a page of
 * text from a photograph.
 *
 * Erasable TypeScript importing only a package (sharp), so the OCR child can load it as stripped
 * .ts or as .js. prepareScan decodes a file: only the OCR child calls it, never the API.
 */
import sharp from 'sharp';

export interface GreyImage {
  /** One byte per pixel, row by row. */
  data: Uint8Array;
  width: number;
  height: number;
}

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface PageLayout {
  /** 1 where the picture shows what the page lies on (a dark lid or table reaching its edge), not the page. */
  surround: Uint8Array;
  /** The page: the bounding box of everything that is not surround. */
  page: Box;
  /** Share of the picture that is the page. */
  pageShare: number;
  /** Degrees to turn the picture clockwise (as sharp's rotate takes them) to make its lines level. */
  rotate: number;
  /** Text lines found across the page at that angle. */
  lines: number;
  /** Median height of those lines, px: ascender to descender. 0 when there are none. */
  lineHeight: number;
  /** Median distance from one line to the next, px; 0 with fewer than two lines. */
  linePitch: number;
  /** Share of the page that is ink. */
  ink: number;
  /** The bands at the chosen angle are regular (similar heights and spacing), as lines of text are. */
  regular: boolean;
}

export interface ScanOptions {
  /** Height (px) of a line of text, ascender to descender, that the page is scaled to. */
  lineHeight?: number;
  /** Binarise (Sauvola) after evening the light; otherwise the even grey page is given. */
  binarise?: boolean;
}

export interface PreparedScan {
  png: Buffer;
  /** Not a mark on the page (no ink at all, however grainy the paper): there is nothing to read. */
  blank: boolean;
  layout: PageLayout;
  /** The original's (upright) size, the crop taken from it, the scale applied and the turn. */
  crop: Box;
  scale: number;
}

const TARGET_LINE_PX = 28;
const MIN_SCALE = 0.25;
const MAX_SCALE = 4;
/** Tesseract refuses images beyond 32767 px a side; far below that keeps memory and time sane. */
const MAX_SIDE_PX = 8000;
const MAX_WORK_PIXELS = 30_000_000;
/** Side of the copy the page is analysed at (where the paper is, its tilt, its lines). */
const ANALYSIS_SIDE = 1000;
/** Less ink than this share of the page, in no line, is grain or dust: tesseract, given it, reads noise for a minute. */
const BLANK_INK = 0.0005;
/** Turns smaller than this are left alone: resampling costs more sharpness than they gain. */
const MIN_ROTATE_DEG = 1.5;

/**
 * The page as tesseract reads it best, from a scan or a photograph of a letter: upright by its
 * EXIF orientation, grey, cropped to the paper (the dark lid or table around it whitened), scaled
 * so a line of text is about `lineHeight` px tall, the light evened out (a shadow or a lamp's
 * fall-off divided away), binarised by a local threshold, and turned so its lines are level.
 */
export async function prepareScan(source: string | Buffer, maxPixels: number, opts: ScanOptions = {}): Promise<PreparedScan> {
  const target = opts.lineHeight ?? TARGET_LINE_PX;
  const base = () => sharp(source, { failOn: 'none', limitInputPixels: maxPixels }).rotate().flatten({ background: '#ffffff' }).greyscale();
  const meta = await sharp(source, { failOn: 'none', limitInputPixels: maxPixels }).metadata();
  const { width, height } = meta.autoOrient;
  const small = await base().resize({ width: ANALYSIS_SIDE, height: ANALYSIS_SIDE, fit: 'inside', withoutEnlargement: true }).raw().toBuffer({ resolveWithObject: true });
  const analysed = { data: small.data, width: small.info.width, height: small.info.height };
  const layout = analysePage(analysed);
  const toFull = width / analysed.width;

  // The paper and a margin, in the analysed copy's pixels, then in the original's.
  const margin = Math.round(Math.max(layout.page.width, layout.page.height) * 0.02);
  const left = Math.max(0, layout.page.left - margin);
  const top = Math.max(0, layout.page.top - margin);
  const box: Box = {
    left,
    top,
    width: Math.min(analysed.width, layout.page.left + layout.page.width + margin) - left,
    height: Math.min(analysed.height, layout.page.top + layout.page.height + margin) - top,
  };
  const cropLeft = Math.min(width - 1, Math.round(box.left * toFull));
  const cropTop = Math.min(height - 1, Math.round(box.top * toFull));
  const crop: Box = {
    left: cropLeft,
    top: cropTop,
    width: Math.max(1, Math.min(width - cropLeft, Math.round(box.width * toFull))),
    height: Math.max(1, Math.min(height - cropTop, Math.round(box.height * toFull))),
  };
  const lineAtFull = layout.lineHeight * toFull;
  const scale = Math.min(
    MAX_SCALE,
    Math.max(MIN_SCALE, lineAtFull > 0 ? target / lineAtFull : 1),
    MAX_SIDE_PX / Math.max(crop.width, crop.height),
    Math.sqrt(MAX_WORK_PIXELS / (crop.width * crop.height)),
  );
  // One resampling where it can be: an enlargement and the turn in one affine transform (each
  // resampling softens small type); a reduction first, with its own filter, then the turn.
  const turn = Math.abs(layout.rotate) >= MIN_ROTATE_DEG ? (layout.rotate * Math.PI) / 180 : 0;
  const enlarge = scale >= 1;
  const before = enlarge
    ? { width: crop.width, height: crop.height }
    : { width: Math.max(1, Math.round(crop.width * scale)), height: Math.max(1, Math.round(crop.height * scale)) };
  const k = enlarge ? scale : 1;
  const matrix: [number, number, number, number] = [k * Math.cos(turn), -k * Math.sin(turn), k * Math.sin(turn), k * Math.cos(turn)];
  const transform = (image: sharp.Sharp, background: string) =>
    turn === 0 && k === 1 ? image : image.affine(matrix, { background, interpolator: sharp.interpolators.bicubic });
  let picture = base().extract(crop);
  if (!enlarge) picture = picture.resize({ width: before.width, height: before.height, fit: 'fill', kernel: 'mitchell' });
  const work = await transform(picture, '#ffffff').raw().toBuffer({ resolveWithObject: true });
  const { width: w, height: h } = work.info;

  // The surround, carried through the same transform; what the turn brings in is surround too.
  const lidMask = new Uint8Array(layout.surround.length);
  for (let i = 0; i < lidMask.length; i++) lidMask[i] = layout.surround[i]! * 255;
  const mask = resample(lidMask, analysed.width, analysed.height, before.width, before.height, box);
  const moved = await transform(sharp(mask, { raw: { width: before.width, height: before.height, channels: 1 } }), '#ffffff').extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  if (moved.info.width !== w || moved.info.height !== h) throw new Error('The page mask did not follow the page');
  const surround = new Uint8Array(moved.data.length);
  for (let i = 0; i < surround.length; i++) surround[i] = moved.data[i]! > 127 ? 1 : 0;

  const line = lineAtFull > 0 ? lineAtFull * scale : target;
  const even = evenLight({ data: work.data, width: w, height: h }, line / 4, surround);
  const binary = opts.binarise !== false && scale < 2;
  const clean = binary ? binarise(even, w, h, line) : even;
  // What is left of the page's edge (the lid's side of it, a lip of shadow) touches the surround; no letter does.
  if (binary) {
    if (surround.includes(1)) clearTouching(clean, w, h, dilate(surround, w, h, Math.max(2, Math.round(line / 8))));
    // Specks far smaller than a full stop are grain or dust, and tesseract spends long on each.
    clearSpecks(clean, w, h, Math.max(2, Math.round((line / 12) ** 2)));
  }
  const out = sharp(Buffer.from(clean.buffer, clean.byteOffset, clean.byteLength), { raw: { width: w, height: h, channels: 1 } });
  return { png: await out.png({ compressionLevel: 1 }).toBuffer(), blank: layout.lines === 0 && layout.ink < BLANK_INK, layout, crop, scale };
}

/** Tilts looked for, degrees either way: beyond this a page is sideways, not crooked. */
const MAX_SKEW = 12;

/**
 * Where the page is and how its text lies, on a copy of about 500–1200 px. Works at any light:
 * the surround is found as dark, flat pixels reaching the picture's edge (a shadow on the page is
 * dark too, but text in it is not flat, and a flat margin whitened loses nothing); ink is what
 * is darker than its neighbourhood by a local threshold (Sauvola), so a shadow is not ink.
 */
export function analysePage(image: GreyImage): PageLayout {
  const { width, height } = image;
  const n = width * height;
  const side = Math.min(width, height);
  // Smooth away grain (a 3×3 mean), then local mean and spread over a window about a letter wide.
  const smooth = toUint8(boxMean(image.data, width, height, 1));
  const rFlat = Math.max(2, Math.round(side / 250));
  const { mean, std } = localStats(smooth, width, height, rFlat);
  const surround = findSurround(image.data, smooth, mean, std, width, height);

  let paperPixels = 0;
  let left = width;
  let top = height;
  let right = -1;
  let bottom = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (surround[y * width + x]) continue;
      paperPixels++;
      if (x < left) left = x;
      if (x > right) right = x;
      if (y < top) top = y;
      if (y > bottom) bottom = y;
    }
  }
  const page: Box = right < 0 ? { left: 0, top: 0, width, height } : { left, top, width: right - left + 1, height: bottom - top + 1 };

  // Ink: darker than its neighbourhood (Sauvola), and clearly so (more than the grain's own spread).
  const rInk = Math.max(4, Math.round(side / 40));
  const local = localStats(smooth, width, height, rInk);
  const grain = median(std, surround);
  const nearSurround = dilate(surround, width, height, rFlat + 1);
  const ink = new Uint8Array(n);
  let inkPixels = 0;
  for (let i = 0; i < n; i++) {
    if (nearSurround[i]) continue;
    const m = local.mean[i]!;
    const s = local.std[i]!;
    const v = smooth[i]!;
    if (v < m * (1 + 0.2 * (s / 128 - 1)) && m - v > 3 * grain + 6) {
      ink[i] = 1;
      inkPixels++;
    }
  }

  const rotate = skewAngle(ink, width, height, page);
  const bands = textBands(ink, width, height, page, rotate);
  return {
    surround,
    page,
    pageShare: paperPixels / n,
    rotate,
    lines: bands.count,
    lineHeight: bands.height,
    linePitch: bands.pitch,
    ink: paperPixels ? inkPixels / paperPixels : 0,
    regular: bands.regular,
  };
}

/**
 * How sure we are that the picture is a page of text (0 when it is not): a page (paper filling a
 * good part of the picture), a little ink, in several regular lines at one angle.
 */
export function textPageConfidence(layout: PageLayout): number {
  if (layout.pageShare < 0.25 || layout.ink < 0.004 || layout.ink > 0.3) return 0;
  if (layout.lines < 2 || !layout.regular) return 0;
  return layout.lines >= 4 ? 0.9 : 0.75;
}

/** Decoded pixels with 3 or 4 channels (sRGB, maybe alpha), as the picture tags read them. */
export interface ColourImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/**
 * How sure we are that a picture (a copy of about 512 px) is a page of text, 0 when it is not:
 * the page's own pixels, not the lid or table around it, are paper (light, hardly any colour)
 * and carry regular lines of ink at one angle, whether the page is tilted, shadowed or lies on
 * something dark.
 */
export function pageOfTextConfidence(picture: ColourImage): number {
  const { data, width, height, channels } = picture;
  const n = width * height;
  const grey = new Uint8Array(n);
  const chroma = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = data[i * channels]!;
    const g = data[i * channels + 1]!;
    const b = data[i * channels + 2]!;
    grey[i] = Math.round(0.2126 * r + 0.7152 * g + 0.0722 * b);
    chroma[i] = Math.max(r, g, b) - Math.min(r, g, b);
  }
  const layout = analysePage({ data: grey, width, height });
  if (percentileOf(grey, 0.5, layout.surround) < 0.45 * 255) return 0;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (layout.surround[i]) continue;
    sum += chroma[i]!;
    count++;
  }
  if (!count || sum / count > 0.12 * 255) return 0;
  return textPageConfidence(layout);
}

// ---- The surround ----------------------------------------------------------------------------

/**
 * Dark, flat pixels connected to the picture's edge: the lid or table around a page. None when
 * the edge of the picture is not clearly darker than the paper (a page that fills the frame).
 */
function findSurround(raw: Uint8Array, smooth: Uint8Array, mean: Float32Array, std: Float32Array, width: number, height: number): Uint8Array {
  const n = width * height;
  const surround = new Uint8Array(n);
  const ring: number[] = [];
  for (let x = 0; x < width; x++) ring.push(smooth[x]!, smooth[(height - 1) * width + x]!);
  for (let y = 0; y < height; y++) ring.push(smooth[y * width]!, smooth[y * width + width - 1]!);
  ring.sort((a, b) => a - b);
  const lid = ring[Math.floor(ring.length * 0.05)]!;
  const paper = percentileOf(smooth, 0.9);
  const contrast = paper - lid;
  if (contrast < Math.max(40, paper * 0.3)) return surround;
  // A real lid or table is about as dark as ink; a dark edge that is much lighter than the ink
  // on the page is the page itself in shadow, which evenLight deals with.
  const ink = percentileOf(raw, 0.01);
  if (lid > ink + (paper - ink) * 0.25) return surround;
  const dark = lid + contrast * 0.3;
  const grain = median(std);
  const flat = 3 * grain + 4 + contrast * 0.04;
  const isLid = (i: number) => mean[i]! <= dark && std[i]! <= flat;
  const queue = new Int32Array(n);
  let head = 0;
  let tail = 0;
  const seed = (i: number) => {
    if (!surround[i] && isLid(i)) {
      surround[i] = 1;
      queue[tail++] = i;
    }
  };
  for (let x = 0; x < width; x++) (seed(x), seed((height - 1) * width + x));
  for (let y = 0; y < height; y++) (seed(y * width), seed(y * width + width - 1));
  while (head < tail) {
    const i = queue[head++]!;
    const x = i % width;
    if (x > 0) seed(i - 1);
    if (x < width - 1) seed(i + 1);
    if (i >= width) seed(i - width);
    if (i < n - width) seed(i + width);
  }
  // The edge of the page is not flat, so the flood stops short of it: take in the dark pixels up
  // to it (the lid side of the edge), never the paper.
  const near = dilate(surround, width, height, Math.max(2, Math.round(Math.min(width, height) / 250)) + 1);
  for (let i = 0; i < n; i++) if (near[i] && smooth[i]! <= dark) surround[i] = 1;
  return surround;
}

// ---- Skew and lines ----------------------------------------------------------------------------

/**
 * The turn that lines the ink up in rows: the angle whose horizontal projection is the most
 * uneven (sum of squared row counts), coarse then fine. 0 when there is too little ink to tell.
 */
function skewAngle(ink: Uint8Array, width: number, height: number, page: Box): number {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let y = page.top; y < page.top + page.height; y++) {
    for (let x = page.left; x < page.left + page.width; x++) {
      if (ink[y * width + x]) {
        xs.push(x);
        ys.push(y);
      }
    }
  }
  if (xs.length < 50) return 0;
  // Enough points for a steady answer; more only cost time.
  const step = Math.max(1, Math.floor(xs.length / 60_000));
  const diag = Math.ceil(Math.hypot(width, height));
  const bins = new Float64Array(2 * diag + 2);
  const score = (deg: number): number => {
    const a = (deg * Math.PI) / 180;
    const sin = Math.sin(a);
    const cos = Math.cos(a);
    bins.fill(0);
    for (let k = 0; k < xs.length; k += step) bins[Math.round(xs[k]! * sin + ys[k]! * cos) + diag]! += 1;
    let sum = 0;
    for (const b of bins) sum += b * b;
    return sum;
  };
  const search = (from: number, to: number, by: number, best: number): number => {
    let bestScore = -1;
    for (let deg = from; deg <= to + 1e-9; deg += by) {
      const s = score(deg);
      if (s > bestScore) {
        bestScore = s;
        best = deg;
      }
    }
    return best;
  };
  const coarse = search(-MAX_SKEW, MAX_SKEW, 0.5, 0);
  const fine = search(coarse - 0.5, coarse + 0.5, 0.05, coarse);
  return Math.round(fine * 100) / 100;
}

interface Bands {
  count: number;
  height: number;
  pitch: number;
  regular: boolean;
}

/** Runs of rows, at the given turn, that hold a good share of ink: the lines of text. */
function textBands(ink: Uint8Array, width: number, height: number, page: Box, rotateDeg: number): Bands {
  const a = (rotateDeg * Math.PI) / 180;
  const sin = Math.sin(a);
  const cos = Math.cos(a);
  const diag = Math.ceil(Math.hypot(width, height));
  const rows = new Float64Array(2 * diag + 2);
  for (let y = page.top; y < page.top + page.height; y++) {
    for (let x = page.left; x < page.left + page.width; x++) {
      if (ink[y * width + x]) rows[Math.round(x * sin + y * cos) + diag]! += 1;
    }
  }
  const sorted = Array.from(rows).filter((v) => v > 0).sort((p, q) => p - q);
  if (sorted.length === 0) return { count: 0, height: 0, pitch: 0, regular: false };
  const busy = sorted[Math.floor(sorted.length * 0.9)]!;
  const threshold = Math.max(2, busy * 0.12);
  const starts: number[] = [];
  const heights: number[] = [];
  let run = 0;
  for (let r = 0; r <= rows.length; r++) {
    if (r < rows.length && rows[r]! >= threshold) run++;
    else if (run > 0) {
      if (run >= 2) {
        starts.push(r - run);
        heights.push(run);
      }
      run = 0;
    }
  }
  if (heights.length === 0) return { count: 0, height: 0, pitch: 0, regular: false };
  const h = medianOf(heights);
  // A band far taller than the others is a picture or a smudge, not a line.
  const lines = heights.map((v, i) => ({ start: starts[i]!, height: v })).filter((b) => b.height <= h * 2.5 && b.height >= h * 0.4);
  const pitches = lines.slice(1).map((b, i) => b.start - lines[i]!.start);
  const pitch = pitches.length ? medianOf(pitches) : 0;
  const steady = (values: number[], mid: number) => values.filter((v) => v >= mid * 0.6 && v <= mid * 1.6).length >= values.length * 0.6;
  // Lines of text are spaced by one to a few times their own height.
  const regular = lines.length >= 2 && steady(lines.map((b) => b.height), h) && (pitches.length < 2 || steady(pitches, pitch)) && pitch >= h && pitch <= h * 4;
  return { count: lines.length, height: h, pitch, regular };
}

// ---- Light and ink -----------------------------------------------------------------------------

/**
 * The page with the light evened out: each pixel divided by the brightness of the paper around
 * it (a max filter wider than a stroke, then a wide blur), so a shadow or a lamp's fall-off is
 * gone and ink stays ink. Surround pixels become white.
 */
export function evenLight(image: GreyImage, strokeRadius: number, surround?: Uint8Array): Uint8Array {
  const { data, width, height } = image;
  const n = width * height;
  // The light is smooth: it is worked out on blocks of f×f pixels (their mean, which also calms
  // the grain) and spread back over the page bilinearly.
  const f = Math.max(1, Math.floor(strokeRadius / 2));
  const lw = Math.ceil(width / f);
  const lh = Math.ceil(height / f);
  const blocks = new Float32Array(lw * lh);
  const counts = new Float32Array(lw * lh);
  const lid = surround ? new Uint8Array(lw * lh) : null;
  for (let y = 0; y < height; y++) {
    const row = Math.floor(y / f) * lw;
    for (let x = 0; x < width; x++) {
      const b = row + Math.floor(x / f);
      blocks[b]! += data[y * width + x]!;
      counts[b]! += 1;
      if (lid && surround![y * width + x]) lid[b] = 1;
    }
  }
  for (let b = 0; b < blocks.length; b++) blocks[b]! /= counts[b]!;
  const paper = maxFilter(toUint8(blocks), lw, lh, Math.ceil(strokeRadius / f) + 1);
  if (lid) {
    const level = percentileOf(paper, 0.9, lid);
    for (let b = 0; b < paper.length; b++) if (lid[b]) paper[b] = level;
  }
  const blurRadius = Math.max(2, Math.round(Math.max(8, strokeRadius * 4) / f));
  const field = boxMean(toUint8(boxMean(paper, lw, lh, blurRadius)), lw, lh, blurRadius);
  const light = resample(toUint8(field), lw, lh, width, height, { left: 0, top: 0, width: width / f, height: height / f });
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (surround?.[i]) {
      out[i] = 255;
      continue;
    }
    const v = (data[i]! * 255) / Math.max(1, light[i]!);
    out[i] = v >= 255 ? 255 : v;
  }
  // Full contrast: the darkest ink black (faded or grey-brown ink reads better dark).
  const black = percentileOf(out, 0.005, surround);
  if (black > 0 && black < 200) {
    const gain = 255 / (255 - black);
    for (let i = 0; i < n; i++) out[i] = Math.max(0, (out[i]! - black) * gain);
  }
  return out;
}

/**
 * Sauvola's local threshold: black where a pixel is darker than its neighbourhood's mean by
 * more than the neighbourhood's spread allows (T = m·(1 + k·(s/128 − 1))), white elsewhere. Grain
 * is smoothed first, the more the grainier the paper (up to a tenth of a line), and a pixel must
 * also be darker than its neighbourhood by clearly more than the grain left, so that paper never
 * turns into specks.
 */
export function binarise(data: Uint8Array, width: number, height: number, radius: number, k = 0.2): Uint8Array {
  const r = Math.max(1, Math.min(Math.round(radius / 10), Math.round(grainOf(data, width) / 10)));
  const smooth = toUint8(boxMean(data, width, height, r));
  const grain = grainOf(smooth, width);
  const { mean, std } = localStats(smooth, width, height, Math.max(4, Math.round(radius)));
  const out = new Uint8Array(width * height);
  for (let i = 0; i < out.length; i++) {
    const m = mean[i]!;
    const v = smooth[i]!;
    out[i] = v < m * (1 + k * (std[i]! / 128 - 1)) && m - v > 3 * grain + 4 ? 0 : 255;
  }
  return out;
}

/** Whitens every dark (0) connected shape, 8-connected, of fewer than `minPixels` pixels. */
function clearSpecks(binary: Uint8Array, width: number, height: number, minPixels: number): void {
  const seen = new Uint8Array(binary.length);
  const shape = new Int32Array(binary.length);
  for (let start = 0; start < binary.length; start++) {
    if (binary[start] !== 0 || seen[start]) continue;
    seen[start] = 1;
    shape[0] = start;
    let size = 1;
    for (let head = 0; head < size; head++) {
      const i = shape[head]!;
      const x = i % width;
      const y = (i - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= width) continue;
          const j = yy * width + xx;
          if (binary[j] === 0 && !seen[j]) {
            seen[j] = 1;
            shape[size++] = j;
          }
        }
      }
    }
    if (size < minPixels) for (let k = 0; k < size; k++) binary[shape[k]!] = 255;
  }
}

/** Whitens every dark (0) connected shape, 8-connected, that has a pixel inside `mask`. */
function clearTouching(binary: Uint8Array, width: number, height: number, mask: Uint8Array): void {
  const queue = new Int32Array(binary.length);
  let tail = 0;
  for (let i = 0; i < binary.length; i++) {
    if (mask[i] && binary[i] === 0) {
      binary[i] = 255;
      queue[tail++] = i;
    }
  }
  let head = 0;
  while (head < tail) {
    const i = queue[head++]!;
    const x = i % width;
    const y = (i - x) / width;
    for (let dy = -1; dy <= 1; dy++) {
      const yy = y + dy;
      if (yy < 0 || yy >= height) continue;
      for (let dx = -1; dx <= 1; dx++) {
        const xx = x + dx;
        if (xx < 0 || xx >= width) continue;
        const j = yy * width + xx;
        if (binary[j] === 0) {
          binary[j] = 255;
          queue[tail++] = j;
        }
      }
    }
  }
}

/**
 * The grain: the median spread of 3×3 neighbourhoods (text edges are too few to move a median),
 * measured on every other pixel of every fourth row, which is plenty for a median.
 */
function grainOf(data: Uint8Array, width: number): number {
  const height = Math.floor(data.length / width);
  const hist = new Float64Array(1025);
  let total = 0;
  for (let y = 1; y < height - 1; y += 4) {
    for (let x = 1; x < width - 1; x += 2) {
      let sum = 0;
      let squares = 0;
      for (let dy = -1; dy <= 1; dy++) {
        const row = (y + dy) * width + x;
        for (let dx = -1; dx <= 1; dx++) {
          const v = data[row + dx]!;
          sum += v;
          squares += v * v;
        }
      }
      const spread = Math.sqrt(Math.max(0, squares / 9 - (sum / 9) ** 2));
      hist[Math.min(1024, Math.round(spread * 4))]! += 1;
      total++;
    }
  }
  let seen = 0;
  for (let v = 0; v < hist.length; v++) {
    seen += hist[v]!;
    if (seen > total / 2) return v / 4;
  }
  return 0;
}

// ---- Filters -----------------------------------------------------------------------------------

/**
 * Mean over a (2r+1)² window (the part of it inside the picture at the edges): separable, from
 * running sums, O(n) whatever r.
 */
function boxMean(data: Uint8Array | Float32Array, width: number, height: number, r: number): Float32Array {
  const tmp = new Float32Array(width * height);
  const out = new Float32Array(width * height);
  const prefix = new Float64Array(Math.max(width, height) + 1);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) prefix[x + 1] = prefix[x]! + data[row + x]!;
    for (let x = 0; x < width; x++) {
      const a = x - r < 0 ? 0 : x - r;
      const b = x + r + 1 > width ? width : x + r + 1;
      tmp[row + x] = (prefix[b]! - prefix[a]!) / (b - a);
    }
  }
  // Down the columns a row at a time (memory in order): a running sum per column over the window's rows.
  const columns = prefix.length > width ? prefix.subarray(0, width).fill(0) : new Float64Array(width);
  for (let y = 0; y <= Math.min(r, height - 1); y++) for (let x = 0; x < width; x++) columns[x]! += tmp[y * width + x]!;
  for (let y = 0; y < height; y++) {
    const count = Math.min(height, y + r + 1) - Math.max(0, y - r);
    const row = y * width;
    for (let x = 0; x < width; x++) out[row + x] = columns[x]! / count;
    const add = y + r + 1;
    const drop = y - r;
    if (add < height) for (let x = 0; x < width; x++) columns[x]! += tmp[add * width + x]!;
    if (drop >= 0) for (let x = 0; x < width; x++) columns[x]! -= tmp[drop * width + x]!;
  }
  return out;
}

function localStats(data: Uint8Array, width: number, height: number, r: number): { mean: Float32Array; std: Float32Array } {
  const squares = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) squares[i] = data[i]! * data[i]!;
  const mean = boxMean(data, width, height, r);
  const meanSq = boxMean(squares, width, height, r);
  const std = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) std[i] = Math.sqrt(Math.max(0, meanSq[i]! - mean[i]! * mean[i]!));
  return { mean, std };
}

/** Max over a (2r+1)² window (a little wider at the picture's edges): separable, O(n) whatever r. */
function maxFilter(data: Uint8Array, width: number, height: number, r: number): Uint8Array {
  const rows = new Uint8Array(data.length);
  const deque = new Int32Array(width);
  // Along each row: a monotone queue of the window's candidates.
  for (let y = 0; y < height; y++) {
    const base = y * width;
    let head = 0;
    let tail = 0;
    for (let i = 0; i < width + r; i++) {
      if (i < width) {
        const v = data[base + i]!;
        while (tail > head && data[base + deque[tail - 1]!]! <= v) tail--;
        deque[tail++] = i;
      }
      const centre = i - r;
      if (centre < 0) continue;
      while (deque[head]! < centre - r) head++;
      rows[base + centre] = data[base + deque[head]!]!;
    }
  }
  // Down the columns, whole rows at a time (van Herk / Gil-Werman): running maxima forward and
  // backward within blocks of 2r+1 rows; a window is the backward max at its top and the forward max at its bottom.
  const k = 2 * r + 1;
  const forward = new Uint8Array(data.length);
  const backward = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    if (y % k === 0) forward.set(rows.subarray(row, row + width), row);
    else for (let x = 0; x < width; x++) forward[row + x] = Math.max(forward[row - width + x]!, rows[row + x]!);
  }
  for (let y = height - 1; y >= 0; y--) {
    const row = y * width;
    if (y % k === k - 1 || y === height - 1) backward.set(rows.subarray(row, row + width), row);
    else for (let x = 0; x < width; x++) backward[row + x] = Math.max(backward[row + width + x]!, rows[row + x]!);
  }
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    const top = Math.max(0, y - r) * width;
    const bottom = Math.min(height - 1, y + r) * width;
    const row = y * width;
    for (let x = 0; x < width; x++) out[row + x] = Math.max(backward[top + x]!, forward[bottom + x]!);
  }
  return out;
}

/** A mask grown by r pixels (a square window). */
function dilate(mask: Uint8Array, width: number, height: number, r: number): Uint8Array {
  return maxFilter(mask, width, height, r);
}

const clampIndex = (i: number, length: number) => (i < 0 ? 0 : i >= length ? length - 1 : i);

function toUint8(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i]! + 0.5;
  return out;
}

/** The p-th share of the values (skipping masked ones), by a 256-bin histogram. */
function percentileOf(values: ArrayLike<number>, p: number, skip?: Uint8Array): number {
  const hist = new Float64Array(256);
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    if (skip?.[i]) continue;
    hist[Math.min(255, Math.max(0, Math.round(values[i]!)))]! += 1;
    total++;
  }
  let seen = 0;
  for (let v = 0; v < 256; v++) {
    seen += hist[v]!;
    if (seen > total * p) return v;
  }
  return 255;
}

/** Median of non-negative values (to 1/4 unit), skipping masked ones. */
function median(values: Float32Array, skip?: Uint8Array): number {
  const hist = new Float64Array(1025);
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    if (skip?.[i]) continue;
    hist[Math.min(1024, Math.round(values[i]! * 4))]! += 1;
    total++;
  }
  let seen = 0;
  for (let v = 0; v < hist.length; v++) {
    seen += hist[v]!;
    if (seen > total / 2) return v / 4;
  }
  return 256;
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Bilinear resampling of a mask or image to another size (masks: > 0.5 of 1). */
export function resample(data: Uint8Array, width: number, height: number, toWidth: number, toHeight: number, box?: Box): Uint8Array {
  const out = new Uint8Array(toWidth * toHeight);
  const src = box ?? { left: 0, top: 0, width, height };
  const sx = src.width / toWidth;
  const sy = src.height / toHeight;
  for (let y = 0; y < toHeight; y++) {
    const fy = Math.min(height - 1, Math.max(0, src.top + (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(height - 1, y0 + 1);
    const wy = fy - y0;
    for (let x = 0; x < toWidth; x++) {
      const fx = Math.min(width - 1, Math.max(0, src.left + (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(width - 1, x0 + 1);
      const wx = fx - x0;
      const top = data[y0 * width + x0]! * (1 - wx) + data[y0 * width + x1]! * wx;
      const bottom = data[y1 * width + x0]! * (1 - wx) + data[y1 * width + x1]! * wx;
      out[y * toWidth + x] = Math.round(top * (1 - wy) + bottom * wy);
    }
  }
  return out;
}
