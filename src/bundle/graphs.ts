/**
 * The graphs of a training bundle (SPEC §3) for one configuration, assembled from its method
 * (src/methods/) and the shared step pieces (src/graphs/):
 * - train_step: online forward + loss + backward + optimizer update + target-network update +
 *   finiteness check (parameters, optimizer state, BN statistics, target tensors and queues in;
 *   their `next.*` values, the loss terms, `grad_norm` and `finite` out);
 * - grad: the same loss, with the gradients as outputs instead of the update;
 * - target_forward: the target network on both views, producing what becomes the targets;
 * - backbone: the ResNet in inference mode (running BN statistics), features and pooled vector.
 */
import type { MultiSiamConfig } from '../config/schema.js';
import { NAMES } from '../graphs/io.js';
import { type TrainStep, assembleGradGraph, assembleTrainStep } from '../graphs/optimizers.js';
import { resnet } from '../graphs/resnet.js';
import { appendFiniteCheck, appendTargetUpdate } from '../graphs/step.js';
import { kmeansTargets } from '../graphs/kmeans.js';
import type { Method, TargetLink } from '../methods/method.js';
import { methodFor } from '../methods/index.js';
import type { DevicePolicy } from '../onnx/policy.js';
import { Graph, type Value } from '../onnx/ir.js';
import { reduceMean } from '../onnx/ops/ReduceMean.js';

export interface BundleGraphs {
  readonly method: Method;
  readonly trainStep: Graph;
  readonly grad: Graph;
  readonly targetForward: Graph;
  readonly backbone: Graph;
  readonly step: TrainStep;
  /** How each target input of train_step is made from target_forward's outputs. */
  readonly links: readonly TargetLink[];
}

export interface BuildOptions {
  /** Gradient formulations for the device the bundle will run on; the CPU's by default. */
  readonly policy?: DevicePolicy;
}

/** Marks the loss terms as outputs `loss_<term>`. */
function outputTerms(g: Graph, terms: Readonly<Record<string, Value>>): void {
  for (const [name, value] of Object.entries(terms)) g.output(NAMES.lossTerm(name), value);
}

export function buildBundleGraphs(cfg: MultiSiamConfig, options: BuildOptions = {}): BundleGraphs {
  const method = methodFor(cfg);

  const trainStep = new Graph('train_step');
  const loss = method.online(trainStep, cfg);
  outputTerms(trainStep, loss.terms);
  const step = assembleTrainStep(trainStep, loss.total, {
    kind: cfg.optim.name,
    momentum: cfg.optim.momentum,
    trustCoefficient: cfg.optim.trust_coefficient,
    ...(options.policy ? { grad: { policy: options.policy } } : {}),
  });
  appendTargetUpdate(trainStep, method.onlineOnly(cfg));
  appendFiniteCheck(trainStep);

  const grad = new Graph('grad');
  const gradLoss = method.online(grad, cfg);
  outputTerms(grad, gradLoss.terms);
  assembleGradGraph(grad, gradLoss.total, options.policy ? { grad: { policy: options.policy } } : {});

  const targetForward = new Graph('target_forward');
  const targetOutputs = method.target(targetForward, cfg);
  for (const [name, value] of Object.entries(targetOutputs)) targetForward.output(name, value);
  const links = method.targets(cfg).map((link) => inGraphKMeans(targetForward, targetOutputs, link, cfg.train.batch_size));

  return { method, trainStep, grad, targetForward, backbone: buildBackbone(cfg), step, links };
}

/**
 * For a K-means link with the `graph` backend: appends the K-means to the target forward, which then
 * outputs the targets under the train-step input's name and takes the seeding uniforms as an input
 * (src/graphs/kmeans.ts); the link now copies that output. Other links pass through.
 */
function inGraphKMeans(g: Graph, outputs: Readonly<Record<string, Value>>, link: TargetLink, batch: number): TargetLink {
  if (link.transform.kind !== 'kmeans' || link.transform.backend !== 'graph') return link;
  const { k, iters } = link.transform;
  const uniforms = g.input(NAMES.kmeansUniforms(link.input), 'float32', [batch, k], 'data', { kind: 'kmeans_uniforms', link: link.input, per_image: k });
  g.output(link.input, kmeansTargets(outputs[link.output]!, uniforms, { k, iters }));
  return { ...link, output: link.input };
}

/** The backbone alone, BN on running statistics: `image` (B, 3, H, W) normalised floats → `features`, `pooled`. */
export function buildBackbone(cfg: MultiSiamConfig, batch = cfg.train.batch_size): Graph {
  const g = new Graph('backbone');
  const image = g.input('image', 'float32', [batch, 3, cfg.data.image_size, cfg.data.image_size]);
  const { features } = resnet(image, {
    depth: cfg.backbone.arch === 'resnet50' ? 50 : 18,
    width: cfg.backbone.width,
    outputStride: cfg.backbone.output_stride,
    training: false,
  });
  g.output('features', features);
  g.output('pooled', reduceMean(features, [2, 3]));
  return g;
}
