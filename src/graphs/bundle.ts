/**
 * The graphs of a training bundle (SPEC §3) for one configuration:
 * - train_step: online forward + loss + backward + optimizer update (params and state in, updated
 *   params, state, BN statistics and loss terms out);
 * - grad: the same loss, with the gradients as outputs instead of the update;
 * - target_forward: the target network on both views, producing what the trainer turns into targets;
 * - backbone: the ResNet in inference mode (running BN statistics), features and pooled vector.
 */
import type { MultiSiamConfig } from '../config/index.js';
import { Graph } from '../onnx/ir.js';
import { reduceMean } from '../onnx/ops/ReduceMean.js';
import { type TrainStep, assembleGradGraph, assembleTrainStep } from './optimizers.js';
import { type MethodName, methodFor, methodName } from './methods/index.js';
import { resnet } from './resnet.js';

export interface BundleGraphs {
  readonly method: MethodName;
  readonly trainStep: Graph;
  readonly grad: Graph;
  readonly targetForward: Graph;
  readonly backbone: Graph;
  readonly step: TrainStep;
}

export function buildBundleGraphs(cfg: MultiSiamConfig): BundleGraphs {
  const method = methodFor(cfg);

  const trainStep = new Graph('train_step');
  const terms = method.online(trainStep, cfg);
  trainStep.output('loss_global', terms.loss_global);
  trainStep.output('loss_dense', terms.loss_dense);
  const step = assembleTrainStep(trainStep, terms.loss, {
    kind: cfg.optim.name,
    momentum: cfg.optim.momentum,
    trustCoefficient: cfg.optim.trust_coefficient,
  });

  const grad = new Graph('grad');
  const gradTerms = method.online(grad, cfg);
  grad.output('loss_global', gradTerms.loss_global);
  grad.output('loss_dense', gradTerms.loss_dense);
  assembleGradGraph(grad, gradTerms.loss);

  const targetForward = new Graph('target_forward');
  for (const [name, value] of Object.entries(method.target(targetForward, cfg))) targetForward.output(name, value);

  return { method: methodName(cfg), trainStep, grad, targetForward, backbone: buildBackbone(cfg), step };
}

/** The backbone alone, BN on running statistics: `image` (B, 3, H, W) → `features`, `pooled`. */
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
