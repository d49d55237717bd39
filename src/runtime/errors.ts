/**
 * Errors raised by the runtime layer. Each message names the model, the input or output, and what
 * was expected against what was given, so a caller can fix a feed without reading the graph.
 */
import { editDistance } from '../config/fields.js';

/** A requested execution provider cannot be created here; the message says how to install it. */
export class ProviderUnavailableError extends Error {
  override name = 'ProviderUnavailableError';
}

/** The ONNX Runtime library cannot be loaded, is not ONNX Runtime, or is too old; names the file and what to install. */
export class OrtLibraryError extends Error {
  override name = 'OrtLibraryError';
}

/** A feed or fetch does not match the model: unknown or missing name, wrong dtype, shape or location. */
export class FeedError extends Error {
  override name = 'FeedError';
}

/** A tensor was used after it was disposed, or a GPU tensor was read the wrong way. */
export class ResidencyError extends Error {
  override name = 'ResidencyError';
}

/** Closest candidates to a mistyped name (edit distance), for "did you mean" hints. */
export function closest(name: string, candidates: readonly string[], max = 3): string[] {
  const scored = candidates.map((c) => ({ c, d: editDistance(name, c) }));
  const limit = Math.max(1, Math.floor(name.length / 3));
  const near = scored.filter((s) => s.d <= limit && s.d < name.length);
  const best = Math.min(...near.map((s) => s.d));
  return near.filter((s) => s.d === best).sort((a, b) => a.c.localeCompare(b.c)).slice(0, max).map((s) => s.c);
}

/** `'a', 'b', … (N in all)` — a readable list of names for messages. */
export function listNames(names: readonly string[], shown = 12): string {
  if (names.length === 0) return '(none)';
  const head = names.slice(0, shown).map((n) => `'${n}'`).join(', ');
  return names.length > shown ? `${head}, … (${names.length} in all)` : head;
}
