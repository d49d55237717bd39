import type { CommandModule } from 'yargs';
import { NETWORKS, type Network } from '../../export/backbone.js';
import { PROBE_HEADS, type ProbeHead } from '../../eval/graphs.js';
import { PROBE, runProbe } from '../../eval/probe.js';

interface ProbeArgs {
  readonly run?: string;
  readonly step?: number;
  readonly bundle?: string;
  readonly onnx?: string;
  readonly data: string;
  readonly 'random-init': boolean;
  readonly network?: string;
  readonly head: string;
  readonly seed: number;
  readonly out?: string;
}

const probeCommand: CommandModule<object, ProbeArgs> = {
  command: 'probe',
  describe: 'Dense linear probe: train a per-pixel classifier on the frozen backbone\'s feature map over labelled synthetic scenes, report mIoU and pixel accuracy on held-out ones',
  builder: (y) =>
    y
      .option('run', { type: 'string', describe: 'Run directory (from `multisiam train`): its latest complete checkpoint' })
      .option('step', { type: 'number', describe: 'With --run: the checkpoint of this step' })
      .option('bundle', { type: 'string', describe: "Bundle directory (from `multisiam build`): its initial weights" })
      .option('onnx', { type: 'string', describe: 'A backbone from `multisiam export --format onnx`' })
      .option('data', { type: 'string', default: 'synthetic', describe: `synthetic[:N] scenes with class masks (plain synthetic: ${PROBE.scenes}); ${100 * (1 - PROBE.heldOut)}% train the head, the rest are held out` })
      .option('random-init', { type: 'boolean', default: false, describe: "The initial weights of the run's bundle: the floor a trained backbone should beat" })
      .option('network', { type: 'string', choices: NETWORKS as unknown as string[], describe: 'online (default) or target (its EMA); not with --onnx' })
      .option('head', { type: 'string', default: 'linear', choices: PROBE_HEADS as unknown as string[], describe: 'linear (a 1×1 conv) or conv (1×1 conv, BN, ReLU, 1×1 conv)' })
      .option('seed', { type: 'number', default: 0, describe: 'Seeds the scenes, the split, the head and the shuffling' })
      .option('out', { type: 'string', describe: 'Directory for the result JSON (default: the run or bundle directory; required with --onnx)' })
      .example('$0 eval probe --run runs/tiny', 'writes runs/tiny/probe.json')
      .example('$0 eval probe --run runs/tiny --random-init', 'the floor: runs/tiny/probe-random-init.json')
      .example('$0 eval probe --onnx tiny.onnx --out probes/', ''),
  handler: async (args) => {
    const { result, path } = await runProbe({
      ...(args.run !== undefined ? { run: args.run } : {}),
      ...(args.step !== undefined ? { step: args.step } : {}),
      ...(args.bundle !== undefined ? { bundle: args.bundle } : {}),
      ...(args.onnx !== undefined ? { onnx: args.onnx } : {}),
      ...(args.network !== undefined ? { network: args.network as Network } : {}),
      ...(args.out !== undefined ? { out: args.out } : {}),
      data: args.data,
      randomInit: args['random-init'],
      head: args.head as ProbeHead,
      seed: args.seed,
      log: (line) => console.error(line),
    });
    const b = result.backbone;
    const what = b.random_init ? 'initial weights' : `step ${b.step ?? '?'}`;
    console.log(`probe (${result.probe.head} head) on the ${b.network ?? ''} ${b.method ?? ''} backbone of ${b.path}, ${what}: mIoU ${pct(result.miou)}, pixel accuracy ${pct(result.pixel_accuracy)} on ${result.data.test} held-out scenes (${result.data.train} trained the head, seed ${result.seed}) in ${result.seconds.total.toFixed(1)} s`);
    const classes = Object.entries(result.per_class_iou).map(([c, v]) => `${c} ${v === null ? '–' : pct(v)}`);
    console.log(`IoU per class: ${classes.join(', ')}`);
    console.log(`wrote ${path}`);
  },
};

const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;

export const evalCommand: CommandModule = {
  command: 'eval',
  describe: 'Evaluate a pre-trained backbone (eval probe: dense linear probe, mIoU)',
  builder: (y) =>
    y
      .command(probeCommand)
      .demandCommand(1, 'Choose an evaluation: `multisiam eval probe`.')
      .example('$0 eval probe --run runs/tiny', 'dense linear probe of the run\'s latest checkpoint; `eval probe --help` lists its flags'),
  handler: () => undefined,
};
