/** Export files: the --out check, and writing so that `out` is either the old file or the complete new one. */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `chunks` to a temporary file beside `out`, fsyncs it and renames it over `out` (creating
 * the parent directory if needed). A failure removes the temporary file. Returns the bytes written.
 */
export function writeAtomically(out: string, chunks: readonly Uint8Array[]): number {
  mkdirSync(dirname(out), { recursive: true });
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  let bytes = 0;
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (const chunk of chunks) {
        for (let at = 0; at < chunk.byteLength; ) at += writeSync(fd, chunk, at, chunk.byteLength - at);
        bytes += chunk.byteLength;
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new Error(`could not write ${out} (${(e as Error).message}); nothing was replaced`);
  }
  return bytes;
}

/**
 * Refuses an --out whose name does not end in one of `extensions` (the format is chosen by it, and
 * loaders go by it), or that is a directory; `why` says what the extension means to the loader.
 */
export function checkOut(out: string, extensions: readonly string[], why: string): void {
  if (!extensions.some((e) => out.endsWith(e))) throw new Error(`--out ${out}: the file name must end in ${extensions.join(' or ')} (${why}); rename it`);
  if (existsSync(out) && statSync(out).isDirectory()) throw new Error(`--out ${out}: is a directory; give a file path such as ${join(out, `backbone${extensions[0]}`)}`);
}
