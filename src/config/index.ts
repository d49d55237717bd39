/** The configuration module's public surface: `import { resolveConfig } from '../config/index.js'`. */
export { backboneChannels, denseGridSize, featureMapSize, peakLearningRate, scheduleSteps } from './derived.js';
export type { BackboneChannels, MapSize, ScheduleSteps } from './derived.js';
export { ConfigError } from './errors.js';
export { configHash, describeConfig, resolveConfig } from './load.js';
export type { ResolveOptions } from './load.js';
export { PRESET_NAMES, PRESETS } from './presets.js';
export type { ConfigPatch, Preset, PresetName } from './presets.js';
export { FIELDS } from './schema.js';
export type { Alignment, Arch, ConfigPath, DenseTarget, Field, Framework, Method, MultiSiamConfig, OptimizerName, OutputStride, Similarity, ViewConfig } from './schema.js';
