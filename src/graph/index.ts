/**
 * The build graph: step types, ordering, cache-key canonical forms, config
 * changes and the dry-run plan. Pure; knows nothing about the Dockerfile text.
 */
export type {
  ArgStep,
  ArgValue,
  BindMount,
  BuildGraph,
  CacheMount,
  CacheSharing,
  ChmodSpec,
  CmdStep,
  CopyStep,
  DeviceSpec,
  EntrypointStep,
  EnvStep,
  ExposeStep,
  HealthcheckStep,
  InlineFile,
  KeyValue,
  LabelStep,
  MaintainerStep,
  MetaArg,
  MountSpec,
  NamedContextRef,
  NetworkMode,
  OnbuildStep,
  RunStep,
  SecretMount,
  SecurityMode,
  ShellStep,
  SourceRef,
  SshMount,
  Stage,
  StageBase,
  Step,
  StepCommon,
  StopSignalStep,
  TmpfsMount,
  UserStep,
  VolumeStep,
  WorkdirStep,
} from './types.js';
export { levels, reachableStages, stageByIndex, topologicalOrder } from './order.js';
export { canonicalJson, canonicalStep, type CanonicalValue } from './canonical.js';
export {
  addEnv,
  applyConfigStep,
  cleanPath,
  DEFAULT_PATH,
  DEFAULT_SHELL,
  initialConfigState,
  resolveWorkdir,
  splitKeyValue,
  withShell,
  type ConfigState,
} from './config.js';
export { formatPlan } from './plan.js';
