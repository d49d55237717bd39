/**
 * Checks of command-line flags that yargs does not make, run by each command before it writes
 * anything: every value against its type and range, with the flag's own name in the message.
 *
 * Numeric flags are declared to yargs as strings, so the text the user typed reaches these checks:
 * yargs turns `--steps abc` into NaN and says nothing. A flag given twice arrives as an array and is
 * refused here rather than silently taking one of the values.
 *
 * Help lines carry their own allowed values, default and "required" (the commands set yargs'
 * `hide-types`): yargs right-aligns its `[string] [required]` labels and glues them to a description
 * that fills the line (`… loss.svg[string]`), and a string-typed numeric flag would read `[string]`.
 */
import type { Argv } from 'yargs';

export interface IntegerRange {
  readonly min: number;
  readonly max?: number;
}

function rangeText(r: IntegerRange): string {
  return r.max === undefined ? `an integer ≥ ${r.min}` : `an integer in [${r.min}, ${r.max}]`;
}

function once(name: string, raw: unknown): unknown {
  if (Array.isArray(raw)) {
    throw new Error(`--${name} is given ${raw.length} times (${raw.map((v) => `'${String(v)}'`).join(', ')}); give it once`);
  }
  return raw;
}

/** An optional integer flag: undefined when absent; refuses text that is not a whole decimal number or lies outside `range`. */
export function integerFlag(name: string, raw: unknown, range: IntegerRange): number | undefined {
  const value = once(name, raw);
  if (value === undefined) return undefined;
  const text = String(value).trim();
  const allowed = `allowed: ${rangeText(range)}`;
  if (!/^[+-]?\d+$/.test(text)) throw new Error(`--${name} '${text}' is not an integer; ${allowed}`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < range.min || (range.max !== undefined && n > range.max)) {
    throw new Error(`--${name} ${text} is out of range; ${allowed}`);
  }
  return n;
}

/** An optional text flag (a path, a name): undefined when absent; refuses an empty or blank value. */
export function textFlag(name: string, raw: unknown, what: string): string | undefined {
  const value = once(name, raw);
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Error(`--${name} is empty; allowed: ${what}`);
  }
  return value;
}

/** A text flag that must be given (yargs' demandOption has already refused its absence). */
export function requiredText(name: string, raw: unknown, what: string): string {
  const value = textFlag(name, raw, what);
  if (value === undefined) throw new Error(`--${name} is missing; give ${what}`);
  return value;
}

/** `--set` lines: each must be non-empty text (the config resolver checks the key and the value). */
export function setFlags(raw: unknown): string[] {
  if (raw === undefined) return [];
  const list = Array.isArray(raw) ? raw : [raw];
  for (const s of list) {
    if (typeof s !== 'string' || s.trim() === '') throw new Error("--set is empty; allowed: key=value, e.g. --set kmeans.k=8 (`multisiam config` lists the keys)");
  }
  return list as string[];
}

export interface HelpNotes {
  /** The values or the range the flag accepts. */
  readonly allowed?: string;
  /** The default, as the user would write it or in words. */
  readonly default?: string;
  readonly required?: boolean;
}

/** A help line with its allowed values, default and "required" written into the wrapped text. */
export function help(text: string, notes: HelpNotes = {}): string {
  const parts = [text];
  if (notes.allowed) parts.push(`[${notes.allowed}]`);
  if (notes.default !== undefined) parts.push(`[default: ${notes.default}]`);
  if (notes.required) parts.push('[required]');
  return parts.join(' ');
}

/** yargs 18's usageConfiguration, which @types/yargs (17) does not declare yet. */
type WithUsageConfiguration<T> = Argv<T> & { usageConfiguration(c: { readonly 'hide-types': boolean }): Argv<T> };

/** Every command builder starts with this: help lines from `help()`, no yargs type labels. */
export function ownHelp<T>(y: Argv<T>): Argv<T> {
  return (y as WithUsageConfiguration<T>).usageConfiguration({ 'hide-types': true });
}

/** The line every command's help ends with: where the config fields are listed. */
export const CONFIG_EPILOG = 'Every config field with its type, default, allowed values and meaning: multisiam config [--preset P] [--field F]';
