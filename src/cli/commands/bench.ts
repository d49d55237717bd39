import { existsSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { bench, formatBench } from '../../bench/bench.js';
import { resolveConfig } from '../../methods/index.js';
import { type ConcreteProvider, type ExecutionProvider, EXECUTION_PROVIDERS } from '../../runtime/providers.js';
import { CONFIG_EPILOG, help, integerFlag, ownHelp, setFlags, textFlag } from '../flags.js';

interface BenchArgs {
  readonly preset?: string;
  readonly config?: string;
  readonly set?: string[];
  readonly ep?: string;
  readonly steps?: string;
  readonly warmup?: string;
  readonly reference?: string;
  readonly python?: string;
  readonly tf32?: boolean;
}

/** Debian's PyTorch lives under /usr/bin/python3; elsewhere the first python3 on PATH. */
function defaultPython(): string {
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench',
  describe: 'Time one training step, alone and in the loop, per phase; optionally against the same step in PyTorch',
  builder: (y) =>
    ownHelp(y)
      .option('preset', { type: 'string', describe: help('Configuration to time', { allowed: 'tiny | r18 | r50' }) })
      .option('config', { type: 'string', describe: help('YAML or JSON config file instead of (or with) a preset') })
      .option('set', { type: 'string', array: true, describe: help('Override a config field (repeatable)', { allowed: 'key=value' }) })
      .option('ep', { type: 'string', describe: help('Execution provider', { allowed: 'cpu | webgpu | cuda', default: 'cpu' }) })
      .option('steps', { type: 'string', describe: help('Timed steps (medians and minimums over them)', { allowed: 'integer ≥ 1', default: '20' }) })
      .option('warmup', { type: 'string', describe: help('Untimed steps first (cuDNN picks its algorithms then)', { allowed: 'integer ≥ 0', default: '3' }) })
      .option('reference', { type: 'string', describe: help('Also time the same step in eager PyTorch (tools/torch_bench.py)', { allowed: 'torch' }) })
      .option('python', { type: 'string', describe: help('Python with PyTorch for --reference torch', { default: '/usr/bin/python3 if present, else python3' }) })
      .option('tf32', { type: 'boolean', describe: help('CUDA: TensorFloat-32 on both sides (runtime.cuda_tf32 and PyTorch allow_tf32)', { default: 'false' }) })
      .example('$0 bench --preset tiny --reference torch', 'the CPU step against Debian PyTorch on this machine')
      .example('$0 bench --preset r50 --ep cuda --reference torch --tf32', 'a GPU step, TF32 on both sides')
      .epilog(CONFIG_EPILOG),
  handler: async (args) => {
    const preset = textFlag('preset', args.preset, 'tiny, r18 or r50');
    const configFile = textFlag('config', args.config, 'a .yaml, .yml or .json file');
    if (preset === undefined && configFile === undefined) throw new Error('choose a configuration to time: --preset tiny|r18|r50 or --config FILE');
    const ep = (textFlag('ep', args.ep, 'cpu, webgpu or cuda') ?? 'cpu') as ExecutionProvider;
    if (!EXECUTION_PROVIDERS.includes(ep) || ep === 'auto') throw new Error(`--ep '${ep}' is not a provider bench can time; allowed: cpu, webgpu, cuda`);
    const steps = integerFlag('steps', args.steps, { min: 1 }) ?? 20;
    const warmup = integerFlag('warmup', args.warmup, { min: 0 }) ?? 3;
    const reference = textFlag('reference', args.reference, 'torch');
    if (reference !== undefined && reference !== 'torch') throw new Error(`--reference '${reference}' is not known; allowed: torch`);
    const tf32 = args.tf32 === true;
    const config = resolveConfig({
      ...(preset !== undefined ? { preset } : {}),
      ...(configFile !== undefined ? { configFile } : {}),
      // No warm-up in either unit (a preset's warm-up in epochs, as r18's, would not fit the few timed steps).
      sets: [...setFlags(args.set), `train.steps=${warmup + steps}`, 'optim.warmup_steps=0', 'optim.warmup_epochs=0', ...(tf32 ? ['runtime.cuda_tf32=true'] : [])],
      onWarning: (m) => console.error(`multisiam: warning: ${m}`),
    });
    const report = await bench({
      config,
      ep: ep as ConcreteProvider,
      steps,
      warmup,
      ...(reference ? { torch: { python: textFlag('python', args.python, 'a Python interpreter') ?? defaultPython(), tf32 } } : {}),
      log: (line) => console.error(`bench: ${line}`),
    });
    console.log(formatBench(report, config, ep));
  },
};
