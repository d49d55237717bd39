/**
 * The backbone as a torchvision state dict: keys `conv1.weight`, `bn1.running_mean`,
 * `layer1.0.conv1.weight`, `layer2.0.downsample.0.weight`, … (no `fc`), plus
 * `<bn>.num_batches_tracked` (int64 scalar) = optimizer steps taken, since our BN modules keep no
 * counter. Written as
 * - `.safetensors` (safetensors.torch.load_file), or
 * - `.pth`: a real torch.save zip checkpoint written without PyTorch (see `torchCheckpoint`), which
 *   loads with `torch.load(path, weights_only=True)`: it holds only an OrderedDict of tensors.
 *
 * Loading (width 1, output stride 32):
 *
 *     import torch, torchvision
 *     sd = torch.load("r18.pth", weights_only=True)   # or safetensors.torch.load_file("r18.safetensors")
 *     m = torchvision.models.resnet18()                # resnet50() for ResNet-50
 *     m.fc = torch.nn.Identity()                       # the export has no classifier
 *     m.load_state_dict(sd, strict=True)
 *
 * Other configurations still export; the report's recipe builds the right model and its notes say why:
 * - ResNet-50 at output stride 16: `resnet50(replace_stride_with_dilation=[False, False, True])`
 *   (same keys, same computation).
 * - ResNet-18 at output stride 16: torchvision's BasicBlock refuses dilation, so build resnet18()
 *   and change layer4 afterwards: stride 1 in layer4.0 (conv1 and downsample.0), dilation and
 *   padding 2 in both 3×3 convs of layer4.1 (as src/graphs/resnet.ts computes it).
 * - Width ≠ 1: the channel counts are round(c·w), which no torchvision constructor builds
 *   (width_per_group widens only Bottleneck's inner convs); use a torchvision-layout ResNet with
 *   those widths, e.g. `RefResNet(depth, width, output_stride, 0)` in the multisiam repository's
 *   tools/torch_resnet.py; the keys are torchvision's.
 * test/export/torchvision.test.ts runs each of these recipes.
 */
import { basename } from 'node:path';
import { type DType, type TensorMap, encodeSafetensors } from '../bundle/safetensors.js';
import type { MultiSiamConfig } from '../config/index.js';
import { type Backbone, type ExportReport, channelCounts, depthOf, exportMetadata, preprocessingText } from './backbone.js';
import { checkOut, writeAtomically } from './files.js';
import { Dict, Global, PersistentId, Reduce, Tuple, pickle } from './pickle.js';
import { zipStored } from './zip.js';

/** The state dict: the backbone's tensors in order, each BN followed by its `num_batches_tracked`. */
export function torchvisionStateDict(backbone: Backbone): TensorMap {
  const out: TensorMap = new Map();
  const steps = BigInt64Array.of(BigInt(backbone.provenance.step));
  for (const [name, t] of backbone.tensors) {
    out.set(name, { dtype: 'F32', shape: [...t.shape], data: t.data });
    if (name.endsWith('.running_var')) out.set(name.replace(/running_var$/, 'num_batches_tracked'), { dtype: 'I64', shape: [], data: steps.slice() });
  }
  return out;
}

/** torch's legacy storage class for each dtype: what torch.save names in a storage's persistent id. */
const STORAGE: Readonly<Record<DType, string>> = {
  F32: 'FloatStorage', F64: 'DoubleStorage', I64: 'LongStorage', I32: 'IntStorage', U8: 'ByteStorage', BOOL: 'BoolStorage',
};
/** torch.save's archive layout version, and the alignment of its records (for mmap). */
const TORCH_FORMAT_VERSION = '3\n';
const TORCH_ALIGN = 64;
const ARCHIVE = 'archive';

/**
 * The bytes of `torch.save(OrderedDict(tensors))` (PyTorch's zip format): `archive/data.pkl`
 * (pickle protocol 2; each tensor `torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False,
 * OrderedDict())` with the storage a persistent id `('storage', torch.<T>Storage, key, 'cpu', numel)`),
 * `archive/data/<key>` (the raw little-endian storage, 64-byte aligned), `archive/version` and
 * `archive/byteorder`. Only globals torch.load(weights_only=True) allows appear.
 */
export function torchCheckpoint(tensors: TensorMap): Uint8Array[] {
  const entries = new Map<string, Reduce>();
  const storages: { name: string; data: Uint8Array }[] = [];
  for (const [name, t] of tensors) {
    const key = String(storages.length);
    storages.push({ name: `${ARCHIVE}/data/${key}`, data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) });
    const storage = new PersistentId(new Tuple(['storage', new Global('torch', STORAGE[t.dtype]), key, 'cpu', t.data.length]));
    const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    entries.set(name, new Reduce(new Global('torch._utils', '_rebuild_tensor_v2'), new Tuple([storage, 0, new Tuple(t.shape), new Tuple(stride), false, orderedDict()])));
  }
  const dataPkl = pickle(new Dict(entries, orderedDict()));
  return zipStored(
    [
      { name: `${ARCHIVE}/data.pkl`, data: dataPkl },
      { name: `${ARCHIVE}/byteorder`, data: Buffer.from('little') },
      ...storages,
      { name: `${ARCHIVE}/version`, data: Buffer.from(TORCH_FORMAT_VERSION) },
    ],
    TORCH_ALIGN,
  );
}

function orderedDict(): Reduce {
  return new Reduce(new Global('collections', 'OrderedDict'), new Tuple([]));
}

/** Refuses an --out whose extension picks neither file type. */
export function checkTorchvisionOut(out: string): void {
  checkOut(out, ['.pth', '.safetensors'], '.pth writes a torch.save checkpoint, .safetensors a safetensors file');
}

/** Writes `out` (.pth or .safetensors) atomically; see the file comment. */
export function exportTorchvision(backbone: Backbone, out: string): ExportReport {
  checkTorchvisionOut(out);
  const tensors = torchvisionStateDict(backbone);
  // `format: pt` tells safetensors' loaders the tensors are PyTorch's.
  const chunks = out.endsWith('.safetensors') ? [encodeSafetensors(tensors, { format: 'pt', ...exportMetadata(backbone) }, out)] : torchCheckpoint(tensors);
  const bytes = writeAtomically(out, chunks);
  return { path: out, bytes, tensors: tensors.size, recipe: torchvisionRecipe(backbone.config, out), notes: torchvisionNotes(backbone.config) };
}

function torchvisionRecipe(cfg: MultiSiamConfig, out: string): string {
  const file = JSON.stringify(basename(out));
  const safetensors = out.endsWith('.safetensors');
  return [
    `import torch, torchvision${safetensors ? ', safetensors.torch' : ''}`,
    `sd = ${safetensors ? `safetensors.torch.load_file(${file})` : `torch.load(${file}, weights_only=True)`}`,
    ...modelLines(cfg),
    'm.fc = torch.nn.Identity()  # the export has no classifier',
    'm.load_state_dict(sd, strict=True)',
    `m.eval()  # input: ${preprocessingText(cfg)}`,
  ].join('\n');
}

/** Python that builds `m`, a model with the configuration's layout (see the file comment and the notes). */
function modelLines(cfg: MultiSiamConfig): string[] {
  const depth = depthOf(cfg);
  const os16 = cfg.backbone.output_stride === 16;
  if (cfg.backbone.width !== 1) return ['from torch_resnet import RefResNet  # tools/torch_resnet.py in the multisiam repository', `m = RefResNet(${depth}, ${cfg.backbone.width}, ${cfg.backbone.output_stride}, 0)`];
  if (depth === 50) return [`m = torchvision.models.resnet50(${os16 ? 'replace_stride_with_dilation=[False, False, True]' : ''})`];
  if (!os16) return ['m = torchvision.models.resnet18()'];
  return [
    'm = torchvision.models.resnet18()',
    'm.layer4[0].conv1.stride = m.layer4[0].downsample[0].stride = (1, 1)  # output stride 16',
    'for c in (m.layer4[1].conv1, m.layer4[1].conv2):',
    '    c.dilation = c.padding = (2, 2)',
  ];
}

/** Why the model in the recipe is not plain resnet18()/resnet50(); empty when it is. */
export function torchvisionNotes(cfg: MultiSiamConfig): string[] {
  const depth = depthOf(cfg);
  if (cfg.backbone.width !== 1) {
    return [
      `width ${cfg.backbone.width}: the channel counts are ${channelCounts(cfg).join('/')} (stem/layer1–4), which torchvision's resnet${depth}() cannot build ` +
        "(width_per_group widens only Bottleneck's inner convs); the recipe uses RefResNet from tools/torch_resnet.py, a torchvision-layout ResNet with width and output stride (same keys)",
    ];
  }
  if (cfg.backbone.output_stride === 32) return [];
  if (depth === 50) return ['output stride 16: construct torchvision.models.resnet50(replace_stride_with_dilation=[False, False, True]) (same keys, same network)'];
  return [
    "output stride 16: torchvision's BasicBlock refuses dilation, so resnet18(replace_stride_with_dilation=...) raises; the recipe builds resnet18() and dilates layer4 by hand " +
      '(stride 1 in layer4.0, dilation and padding 2 in both 3x3 convs of layer4.1), as multisiam computes it',
  ];
}
