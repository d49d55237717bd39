/**
 * The configuration a `train` command runs with, from its flags and what the run directory and the
 * data hold (prepareRun calls it once both are known):
 *
 * - Source: `--preset` and/or `--config FILE`, or `--bundle DIR` (the bundle's configuration; `--set`
 *   may then change only what its graphs do not depend on: the schedule and operational fields), or,
 *   on `--resume` with none of them, the run's own configuration. A config file that names no preset
 *   leaves every other field at its default (the paper's ResNet-50 at 224²), which is said in a line;
 *   prepareRun refuses such a run up front when it cannot fit in memory.
 * - Warm-up: a warm-up that came from a preset, a bundle or the defaults (not from this command's
 *   `--set` or config file) is at most a tenth of the run, so `train --steps 30` on tiny works; the
 *   change is said in one line. An explicit warm-up is used as given (and refused if it does not fit).
 *   A resumed run keeps the warm-up it started with.
 * - `train.steps=…` etc. from the run-length flags are ordinary `--set` lines appended last.
 */
import { readBundle } from '../bundle/bundle.js';
import { scheduleSteps } from '../config/derived.js';
import { readConfigFile } from '../config/load.js';
import type { ConfigPath, MultiSiamConfig } from '../config/schema.js';
import { CONFIG, resolveConfig } from '../methods/index.js';

/** Where the configuration of a run comes from: the `train` command's flags. */
export interface ConfigRequest {
  readonly preset?: string;
  readonly configFile?: string;
  /** A bundle made by `multisiam build`: its configuration is the base. */
  readonly bundle?: string;
  /** `key=value` overrides, the run-length flags' included. */
  readonly sets: readonly string[];
  readonly onWarning?: (message: string) => void;
}

/** What prepareRun knows when the configuration is made. */
export interface RunContext {
  readonly out: string;
  /** Images in the data source. */
  readonly images: number;
  /** The configuration the run followed at its latest checkpoint when resuming; null for a new run. */
  readonly recorded: MultiSiamConfig | null;
}

export interface ConfiguredRun {
  readonly config: MultiSiamConfig;
  /** Lines to show the user: choices made for them (warm-up, defaults of a preset-less file). */
  readonly notes: readonly string[];
}

/** With --bundle, `--set` may change these besides operational fields: the graphs take them as inputs or never see them. */
export const BUNDLE_SETTABLE: ReadonlySet<string> = new Set<ConfigPath>(['train.steps', 'train.epochs', 'train.seed', 'optim.base_lr', 'optim.final_lr', 'optim.warmup_steps', 'optim.warmup_epochs']);

/** A warm-up not given explicitly is at most this share of the run. */
const WARMUP_SHARE = 0.1;
const WARMUP_FIELDS: readonly string[] = ['optim.warmup_steps', 'optim.warmup_epochs'];

const setKey = (s: string): string => s.slice(0, Math.max(0, s.indexOf('='))).trim();

/** Dotted paths of every leaf a parsed config file gives. */
function fileKeys(body: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(body).flatMap(([k, v]) =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? fileKeys(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`],
  );
}

export function configureRun(request: ConfigRequest): (context: RunContext) => ConfiguredRun {
  return (context) => {
    const file = request.configFile === undefined ? null : readConfigFile(request.configFile);
    const explicit = new Set([...request.sets.map(setKey), ...(file ? fileKeys(file) : [])]);
    let base: { config: MultiSiamConfig; label: string } | undefined;
    if (request.bundle !== undefined) {
      if (request.preset !== undefined || file) throw new Error('--bundle fixes the configuration its graphs were built with: drop --preset/--config, or build a new bundle with `multisiam build`');
      checkBundleSets(request);
      base = { config: readBundle(request.bundle).manifest.config, label: `bundle '${request.bundle}'` };
    } else if (request.preset === undefined && !file) {
      if (!context.recorded) throw new Error('choose a configuration: --preset tiny|r18|r50, --config FILE, or --bundle DIR (`multisiam config --preset P` shows what each sets)');
      base = { config: context.recorded, label: `run ${context.out}` };
    }
    const resolve = (extra: readonly string[], onWarning?: (m: string) => void): MultiSiamConfig =>
      resolveConfig({
        ...(request.preset !== undefined ? { preset: request.preset } : {}),
        ...(request.configFile !== undefined ? { configFile: request.configFile } : {}),
        ...(base ? { base: { config: base.config, label: `in ${base.label}` } } : {}),
        sets: [...request.sets, ...extra],
        onWarning: onWarning ?? (() => undefined),
      });
    const warn = request.onWarning ?? ((m: string) => console.error(`multisiam: warning: ${m}`));
    const preset = request.preset ?? (typeof file?.preset === 'string' ? file.preset : undefined);
    const { config, note } = fitWarmup(context, explicit, resolve, warn, base?.label ?? (preset !== undefined ? `preset '${preset}'` : 'the defaults'));
    const notes = note ? [note] : [];
    if (file && request.preset === undefined && !('preset' in file)) {
      notes.unshift(
        `config file '${request.configFile}' names no preset, so the fields it leaves out keep their defaults: this run is ${config.backbone.arch} ×${config.backbone.width} ` +
          `at ${config.data.image_size}², heads ${config.heads.proj_hidden}/${config.heads.proj_dim}, batch ${config.train.batch_size} ` +
          '(`multisiam config` lists every default; add preset: tiny|r18|r50 to the file to start from a smaller one)',
      );
    }
    return { config, notes };
  };
}

/**
 * The configuration with its warm-up: explicit (this command's --set or config file) as given; a
 * resumed run's as it started; otherwise what the layers below ask for, at most WARMUP_SHARE of the run.
 */
function fitWarmup(
  context: RunContext,
  explicit: ReadonlySet<string>,
  resolve: (extra: readonly string[], onWarning?: (m: string) => void) => MultiSiamConfig,
  warn: (m: string) => void,
  from: string,
): { config: MultiSiamConfig; note: string | null } {
  if (WARMUP_FIELDS.some((f) => explicit.has(f))) return { config: resolve([], warn), note: null };
  if (context.recorded) {
    const { warmup_steps, warmup_epochs } = context.recorded.optim;
    return { config: resolve([`optim.warmup_steps=${warmup_steps}`, `optim.warmup_epochs=${warmup_epochs}`], warn), note: null };
  }
  // The run's length without a warm-up, and the warm-up asked for, resolved against an unbounded
  // run so that the rule "warm-up shorter than the run" cannot refuse it before it is fitted.
  const total = scheduleSteps(resolve(['optim.warmup_steps=0', 'optim.warmup_epochs=0']), context.images).totalSteps;
  const asked = scheduleSteps(resolve([`train.steps=${Number.MAX_SAFE_INTEGER}`]), context.images).warmupSteps;
  const cap = Math.floor(total * WARMUP_SHARE);
  if (asked <= cap) return { config: resolve([], warn), note: null };
  return {
    config: resolve(['optim.warmup_epochs=0', `optim.warmup_steps=${cap}`], warn),
    note:
      `warm-up: the ${asked} steps of ${from} would be ${Math.round((100 * asked) / total)}% of this ${total}-step run; using ${cap} steps (${100 * WARMUP_SHARE}%). ` +
      'An explicit --set optim.warmup_steps=N is used as given',
  };
}

/** With --bundle, a --set that would change what the bundle's graphs compute is refused, naming it. */
function checkBundleSets(request: ConfigRequest): void {
  for (const s of request.sets) {
    const key = setKey(s);
    const field = CONFIG.byPath.get(key);
    if (!field || field.operational || BUNDLE_SETTABLE.has(key)) continue;
    throw new Error(
      `--set ${s}: --bundle '${request.bundle}' fixes what its graphs compute, so ${key} cannot change with it. With --bundle, --set may change the schedule ` +
        `(${[...BUNDLE_SETTABLE].join(', ')}) and operational fields (\`multisiam config\` marks them); for ${key}, build a new bundle: multisiam build … --set ${s}`,
    );
  }
}
