/**
 * The value kinds a config field can have, and the three things every kind knows how to do: say what
 * it allows (for messages and `--help`), check a value read from YAML/JSON, and turn `--set` text
 * into such a value. The field table in schema.ts is built from these; nothing here knows a field.
 */

/** A leaf value of the configuration. */
export type Value = number | boolean | string | readonly number[];

/** Bounds of a number; `minOpen`/`maxOpen` make a bound exclusive. */
export interface Range {
  readonly min?: number;
  readonly max?: number;
  readonly minOpen?: boolean;
  readonly maxOpen?: boolean;
}

export type FieldType =
  | { readonly kind: 'int'; readonly range: Range; readonly multipleOf?: number }
  | { readonly kind: 'float'; readonly range: Range }
  | { readonly kind: 'bool' }
  /** A choice among names, or among numbers such as `backbone.output_stride` (16 or 32). */
  | { readonly kind: 'enum'; readonly values: readonly (string | number)[] }
  /** A fixed-length list of numbers; `ordered` requires low ≤ high (ranges such as `data.ratio`). */
  | { readonly kind: 'floats'; readonly length: number; readonly range: Range; readonly ordered: boolean };

/**
 * Why a value was refused: `problem` follows the value in the message (`'four' is not an integer`);
 * `raw` is the value as read (`--set` text already turned into a number where it parses as one).
 */
export interface Refusal {
  readonly raw: unknown;
  readonly problem: string;
}

export type Checked = { readonly value: Value } | Refusal;

function rangeText(r: Range, noun: string): string {
  if (r.min !== undefined && r.max !== undefined) {
    return `${noun} in ${r.minOpen ? '(' : '['}${r.min}, ${r.max}${r.maxOpen ? ')' : ']'}`;
  }
  if (r.min !== undefined) return `${noun} ${r.minOpen ? '>' : '≥'} ${r.min}`;
  if (r.max !== undefined) return `${noun} ${r.maxOpen ? '<' : '≤'} ${r.max}`;
  return noun;
}

function inRange(r: Range, x: number): boolean {
  if (r.min !== undefined && (r.minOpen ? x <= r.min : x < r.min)) return false;
  if (r.max !== undefined && (r.maxOpen ? x >= r.max : x > r.max)) return false;
  return true;
}

/** What a field accepts, e.g. `integer ≥ 1`, `one of 'offset', 'roi'`. */
export function allowedText(t: FieldType): string {
  switch (t.kind) {
    case 'int':
      return rangeText(t.range, 'integer') + (t.multipleOf ? `, multiple of ${t.multipleOf}` : '');
    case 'float':
      return rangeText(t.range, 'number');
    case 'bool':
      return 'true or false';
    case 'enum':
      return `one of ${t.values.map(formatValue).join(', ')}`;
    case 'floats':
      return `list of ${t.length} ${rangeText(t.range, 'numbers')}${t.ordered ? ', low ≤ high' : ''}`;
  }
}

/** Renders a value the way a user would write it, for messages. */
export function formatValue(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (v === undefined) return 'nothing';
  const json = JSON.stringify(v);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

/** Checks a value as YAML/JSON delivers it (numbers, booleans, strings, arrays). */
export function checkValue(t: FieldType, raw: unknown): Checked {
  const refusal = checkKind(t, raw);
  return typeof refusal === 'string' ? { raw, problem: refusal } : refusal;
}

/** The checked value, or the problem text. */
function checkKind(t: FieldType, raw: unknown): { readonly value: Value } | string {
  switch (t.kind) {
    case 'int':
      if (typeof raw !== 'number' || !Number.isInteger(raw)) return 'is not an integer';
      if (!inRange(t.range, raw) || (t.multipleOf !== undefined && raw % t.multipleOf !== 0)) {
        return 'is out of range';
      }
      return { value: raw };
    case 'float':
      if (typeof raw !== 'number' || !Number.isFinite(raw)) return 'is not a finite number';
      return inRange(t.range, raw) ? { value: raw } : 'is out of range';
    case 'bool':
      return typeof raw === 'boolean' ? { value: raw } : 'is not a boolean';
    case 'enum': {
      if ((typeof raw === 'string' || typeof raw === 'number') && t.values.includes(raw)) return { value: raw };
      const near = typeof raw === 'string' ? closest(raw, t.values.map(String)) : null;
      return `is not one of the choices${near ? ` (did you mean '${near}'?)` : ''}`;
    }
    case 'floats': {
      if (!Array.isArray(raw)) return 'is not a list';
      if (raw.length !== t.length) return `has ${raw.length} element${raw.length === 1 ? '' : 's'}`;
      const xs: unknown[] = raw;
      if (!xs.every((x): x is number => typeof x === 'number' && Number.isFinite(x))) {
        return 'holds something that is not a finite number';
      }
      if (!xs.every((x) => inRange(t.range, x))) return 'is out of range';
      if (t.ordered && xs.some((x, i) => i > 0 && x < xs[i - 1]!)) return 'is not ordered low ≤ high';
      return { value: Object.freeze([...xs]) };
    }
  }
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Numbers stay text when they do not parse, so that checkValue refuses them with the text shown. */
function numberOrText(s: string): number | string {
  const trimmed = s.trim();
  return NUMBER.test(trimmed) ? Number(trimmed) : trimmed;
}

/**
 * Turns the text after `=` in `--set key=value` into a value of the field's kind and checks it.
 * Lists are written `[0.75,1.333]` (the brackets may be left out).
 */
export function checkText(t: FieldType, text: string): Checked {
  switch (t.kind) {
    case 'int':
    case 'float':
      return checkValue(t, numberOrText(text));
    case 'bool': {
      const s = text.trim();
      return checkValue(t, s === 'true' ? true : s === 'false' ? false : s);
    }
    case 'enum': {
      const s = text.trim();
      return checkValue(t, t.values.find((v) => String(v) === s) ?? numberOrText(s));
    }
    case 'floats': {
      const inner = text.trim().replace(/^\[(.*)\]$/s, '$1').trim();
      return checkValue(t, inner === '' ? [] : inner.split(',').map(numberOrText));
    }
  }
}

/** Edit distance (insertions, deletions, substitutions), for "did you mean" hints everywhere. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

const lastSegment = (s: string): string => s.slice(s.lastIndexOf('.') + 1);

/**
 * The candidate nearest to `word`, or null when none is plausibly meant. A dotted key also matches on
 * its last segment, so `roi_size` finds `data.roi_size` and `attention.gama` finds `attention.gamma`.
 */
export function closest(word: string, candidates: readonly string[]): string | null {
  const w = word.toLowerCase();
  let best: string | null = null;
  let bestScore = Infinity;
  for (const c of candidates) {
    const whole = editDistance(w, c);
    const leaf = editDistance(lastSegment(w), lastSegment(c)) + 1;
    const score = Math.min(whole, leaf);
    if (score < bestScore) [best, bestScore] = [c, score];
  }
  return bestScore <= Math.max(2, Math.floor(word.length / 3)) ? best : null;
}
