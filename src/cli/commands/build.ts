import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { resolveConfig } from '../../methods/index.js';
import { BUNDLE_FORMAT, type BuildReport, MANIFEST_FILE, readBundle, writeBundle } from '../../bundle/bundle.js';
import { formatBytes, keyConfig, paramCounts, paramLine } from '../../bundle/inspect.js';
import { readConfigFile } from '../../config/load.js';
import { DEVICE_POLICIES } from '../../onnx/policy.js';
import { checkOutPath, diskError, makeDirs } from '../../train/rundir.js';
import { CONFIG_EPILOG, help, ownHelp, requiredText, setFlags, textFlag } from '../flags.js';

interface BuildArgs {
  readonly out?: string;
  readonly preset?: string;
  readonly config?: string;
  readonly set?: string[];
}

/**
 * Refuses an --out that holds something other than a bundle: writeBundle replaces the directory,
 * which is what rebuilding a bundle should do, but must not wipe a run directory or a source tree.
 */
function checkOut(out: string): void {
  const dir = resolve(out);
  // checkOutPath has refused a file or an unwritable place.
  if (!existsSync(dir) || readdirSync(dir).length === 0) return;
  let format: unknown;
  try {
    format = (JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as { format?: unknown }).format;
  } catch {
    format = undefined;
  }
  if (format !== BUNDLE_FORMAT) {
    throw new Error(`--out ${out}: the directory is not empty and is not a multisiam bundle (no ${MANIFEST_FILE} of format '${BUNDLE_FORMAT}'), so build will not replace it; allowed: a new or empty directory, or an existing bundle`);
  }
}

export const buildCommand: CommandModule<object, BuildArgs> = {
  command: 'build',
  describe: 'Build a training bundle: manifest, train_step/grad/target_forward/backbone ONNX graphs, initial params',
  builder: (y) =>
    ownHelp(y)
      .option('preset', { type: 'string', describe: help('Start from a preset', { allowed: 'tiny | r18 | r50' }) })
      .option('config', { type: 'string', describe: help("YAML or JSON config file; it may name a preset (preset: tiny); without one, the fields it leaves out keep their defaults (the paper's ResNet-50 at 224², batch 256)") })
      .option('set', { type: 'string', array: true, describe: help('Override a config field (repeatable); `multisiam config` lists them', { allowed: 'key=value, e.g. kmeans.k=8' }) })
      .option('out', { type: 'string', demandOption: true, describe: help('Bundle directory to write (an existing bundle there is replaced; any other non-empty directory is refused)', { required: true }) })
      .example('$0 build --preset tiny --out tiny', 'the CPU-sized preset (16 MB)')
      .example('$0 build --preset r50 --set alignment=roi --set kmeans.k=8 --out r50-roi', "the paper's scale with RoI alignment and K = 8")
      .example('$0 build --config run.yaml --out run', 'a configuration file')
      .epilog(CONFIG_EPILOG),
  handler: (args) => {
    // Everything that can be refused is checked before anything is written.
    const out = requiredText('out', args.out, 'a directory for the bundle');
    const preset = textFlag('preset', args.preset, 'tiny, r18 or r50');
    const configFile = textFlag('config', args.config, 'a .yaml, .yml or .json file');
    const sets = setFlags(args.set);
    if (preset === undefined && configFile === undefined) throw new Error('choose a configuration: --preset tiny|r18|r50 or --config FILE (with optional --set key=value)');
    const cfg = resolveConfig({
      ...(preset !== undefined ? { preset } : {}),
      ...(configFile !== undefined ? { configFile } : {}),
      sets,
      onWarning: (m) => console.error(`multisiam: warning: ${m}`),
    });
    if (configFile !== undefined && preset === undefined && !('preset' in readConfigFile(configFile))) {
      console.error(`multisiam: config file '${configFile}' names no preset, so the fields it leaves out keep their defaults: ${cfg.backbone.arch} ×${cfg.backbone.width} at ${cfg.data.image_size}², batch ${cfg.train.batch_size} (\`multisiam config\` lists every default)`);
    }
    // 'auto' follows the execution provider, which `train` knows and `build` does not: the CPU forms.
    const policy = cfg.runtime.device_policy === 'auto' ? 'cpu' : cfg.runtime.device_policy;
    checkOutPath(out);
    checkOut(out);
    makeDirs(dirname(resolve(out)), 'out');
    let report: BuildReport;
    try {
      report = writeBundle(cfg, out, { policy: DEVICE_POLICIES[policy] });
    } catch (e) {
      throw (e as NodeJS.ErrnoException).code ? diskError(e, out, 'the bundle') : e;
    }
    const manifest = readBundle(report.dir).manifest;
    const config = keyConfig(cfg);
    console.log(`built a ${manifest.method} bundle in ${(report.buildMs / 1000).toFixed(1)} s → ${report.dir}`);
    console.log(`  ${config.backbone}; ${config.views}`);
    console.log(`  gradient forms: ${policy}${cfg.runtime.device_policy === 'auto' ? " (runtime.device_policy 'auto' without a provider; --set runtime.device_policy=gpu for a GPU bundle)" : ''}`);
    const width = Math.max(...report.files.map((f) => f.file.length));
    for (const f of report.files) console.log(`  ${f.file.padEnd(width)}  ${formatBytes(f.bytes).padStart(10)}`);
    console.log(`  ${'total'.padEnd(width)}  ${formatBytes(report.files.reduce((s, f) => s + f.bytes, 0)).padStart(10)}`);
    console.log(`  parameters: ${paramLine(paramCounts(manifest))}`);
    console.log(`  details (FLOPs, inputs and outputs): multisiam inspect ${out}`);
  },
};
