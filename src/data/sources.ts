/**
 * Image sources behind one interface, built from a serialisable DataSpec so each worker thread can
 * open its own copy. Bad files are only found when loaded; `loadGood` then moves on to the next index
 * (wrapping), a choice that depends only on the dataset, so batches stay reproducible whichever worker
 * meets the file first. Each bad file is reported through `onBad`; SkipLog names it once and counts it.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import sharp from 'sharp';
import { type DecodedImage, type FolderListing, displayPath, loadListed, scanFolder } from './folder.js';
import { DEFAULT_SYNTHETIC_SIZE, type SyntheticOptions, drawScene } from './synthetic.js';

export type { DecodedImage } from './folder.js';

export type DataSpec =
  | ({ kind: 'synthetic'; count: number; seed: number } & SyntheticOptions)
  | ({ kind: 'folder' } & FolderListing);

export interface ImageSource {
  /** For messages: the folder, or `synthetic:N`. */
  readonly name: string;
  readonly count: number;
  load(index: number): Promise<DecodedImage>;
  /** The item as a message should name it (a path relative to the folder). */
  itemName(index: number): string;
}

export interface Logger {
  warn(message: string): void;
}

export interface BadFile {
  index: number;
  name: string;
  reason: string;
}

export const DEFAULT_SYNTHETIC_COUNT = 2000;

/**
 * Turns the `--data` argument into a DataSpec: `synthetic`, `synthetic:N`, or a folder of images
 * (scanned now, so an empty or missing folder stops before training starts).
 */
export async function parseDataArg(arg: string, opts: { syntheticSeed?: number; syntheticSize?: SyntheticOptions } = {}): Promise<DataSpec> {
  const m = /^synthetic(?::(.*))?$/.exec(arg.trim());
  if (m) {
    const count = m[1] === undefined ? DEFAULT_SYNTHETIC_COUNT : Number(m[1]);
    if (!Number.isSafeInteger(count) || count < 1 || !/^\d+$/.test(m[1] ?? '1')) {
      throw new Error(`--data '${arg}': the scene count after 'synthetic:' must be a positive integer, e.g. synthetic:500`);
    }
    return { kind: 'synthetic', count, seed: opts.syntheticSeed ?? 0, ...(opts.syntheticSize ?? DEFAULT_SYNTHETIC_SIZE) };
  }
  if (arg.trim() === '') throw new Error(`--data is empty; give a folder of images or 'synthetic[:N]'`);
  return { kind: 'folder', ...(await scanFolder(arg)) };
}

export function openSource(spec: DataSpec): ImageSource {
  if (spec.kind === 'synthetic') {
    const size = { width: spec.width, height: spec.height };
    return {
      name: `synthetic:${spec.count}`,
      count: spec.count,
      load: async (i) => drawScene(spec.seed, i, size),
      itemName: (i) => `synthetic scene ${i}`,
    };
  }
  return {
    name: spec.root,
    count: spec.files.length,
    load: (i) => loadListed(spec, i),
    itemName: (i) => displayPath(spec, spec.files[i]!),
  };
}

/**
 * What a run records about its data and `--resume` checks: the source, the image count and a
 * fingerprint of the file list (paths relative to the folder, in scan order, so a moved or copied
 * folder keeps it). A synthetic source's fingerprint covers the parameters its scenes are drawn from.
 */
export interface DataFingerprint {
  /** The folder as an absolute path, or `synthetic:N`. */
  readonly source: string;
  readonly images: number;
  readonly list_sha256: string;
}

export function dataFingerprint(spec: DataSpec): DataFingerprint {
  const hash = createHash('sha256');
  if (spec.kind === 'synthetic') {
    hash.update(JSON.stringify({ count: spec.count, seed: spec.seed, width: spec.width, height: spec.height }));
    return { source: `synthetic:${spec.count}`, images: spec.count, list_sha256: hash.digest('hex') };
  }
  for (const f of spec.files) hash.update(`${relative(spec.root, f)}\n`);
  return { source: resolve(spec.root), images: spec.files.length, list_sha256: hash.digest('hex') };
}

/**
 * Decodes images in order until one succeeds, so a folder of only broken files is refused before a
 * run writes anything (a folder with good files costs one decode).
 */
export async function checkDecodable(spec: DataSpec): Promise<void> {
  if (spec.kind === 'synthetic') return;
  const source = openSource(spec);
  let first: BadFile | null = null;
  try {
    await loadGood(source, 0, new Set(), (b) => (first ??= b));
  } catch {
    const bad = first as BadFile | null;
    throw new Error(`--data '${spec.root}': none of its ${source.count} image file(s) could be decoded (first: ${bad ? `${bad.name}: ${bad.reason}` : 'unknown'}); give a folder with readable images`);
  }
}

/**
 * Loads `index`, or the first decodable item after it (wrapping). `known` lets a caller skip items
 * already found bad without decoding them again; the result does not depend on it.
 */
export async function loadGood(
  source: ImageSource,
  index: number,
  known: ReadonlySet<number>,
  onBad: (bad: BadFile) => void,
): Promise<{ image: DecodedImage; index: number }> {
  let firstError = '';
  for (let k = 0; k < source.count; k++) {
    const i = (index + k) % source.count;
    if (known.has(i)) continue;
    try {
      const image = await source.load(i);
      if (image.width < 1 || image.height < 1) throw new Error(`decoded to an empty ${image.width}×${image.height} image`);
      return { image, index: i };
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      firstError ||= `${source.itemName(i)}: ${reason}`;
      onBad({ index: i, name: source.itemName(i), reason });
    }
  }
  throw new Error(`no item of ${source.name} (${source.count}) could be decoded; first error: ${firstError || 'all were already known bad'}`);
}

/** Names each bad file once through the logger and counts them. */
export class SkipLog {
  private readonly bad = new Set<number>();
  constructor(private readonly logger: Logger) {}

  note(b: BadFile): void {
    if (this.bad.has(b.index)) return;
    this.bad.add(b.index);
    this.logger.warn(`skipping unreadable image ${b.name}: ${b.reason} (it is replaced by the next good image)`);
  }

  get skipped(): number {
    return this.bad.size;
  }

  get known(): ReadonlySet<number> {
    return this.bad;
  }
}

export const consoleLogger: Logger = { warn: (m) => console.warn(`warning: ${m}`) };

/**
 * Writes `count` synthetic scenes as `NNNNN.png` with class masks `NNNNN_mask.png` (grey PNG whose
 * values are SYNTHETIC_CLASSES ids), for `multisiam synth`. Returns the image paths.
 */
export async function writeSyntheticDataset(outDir: string, count: number, seed: number, size: SyntheticOptions = DEFAULT_SYNTHETIC_SIZE): Promise<string[]> {
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`synthetic dataset count must be a positive integer, got ${count}`);
  await mkdir(outDir, { recursive: true });
  const digits = Math.max(5, String(count - 1).length);
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const s = drawScene(seed, i, size);
    const stem = join(outDir, String(i).padStart(digits, '0'));
    await sharp(s.rgb, { raw: { width: s.width, height: s.height, channels: 3 } }).png().toFile(`${stem}.png`);
    await sharp(s.mask, { raw: { width: s.width, height: s.height, channels: 1 } }).png().toFile(`${stem}_mask.png`);
    paths.push(`${stem}.png`);
  }
  return paths;
}
