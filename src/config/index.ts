/**
 * The configuration mechanism's public surface. The schema the tool resolves against (shared rows
 * plus every method's) is composed by the method registry: `resolveConfig` and `CONFIG` live in
 * src/methods/index.ts.
 */
export { backboneChannels, featureMapSize, peakLearningRate, scheduleSteps } from './derived.js';
export type { BackboneChannels, MapSize, ScheduleSteps } from './derived.js';
export { ConfigError } from './errors.js';
export { ConfigSchema } from './load.js';
export type { ResolveOptions } from './load.js';
export { PRESET_NAMES, PRESETS } from './presets.js';
export type { ConfigPatch, Preset, PresetName } from './presets.js';
export type { Arch, ConfigPath, Field, Framework, MultiSiamConfig, OptimizerName, OutputStride, ViewConfig } from './schema.js';
