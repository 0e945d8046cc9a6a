/**
 * The executor of every step kind. Adding a kind to `Step` without an entry
 * here is a type error; adding one is an executor file, one line here and
 * its tests.
 */
import type { Executors } from '../step.js';
import { configExecutor } from './config.js';
import { copyExecutor } from './copy.js';
import { runExecutor } from './run.js';
import { workdirExecutor } from './workdir.js';

export const executors: Executors = {
  run: runExecutor,
  copy: copyExecutor,
  add: copyExecutor,
  workdir: workdirExecutor,
  env: configExecutor(),
  label: configExecutor(),
  maintainer: configExecutor(),
  expose: configExecutor(),
  user: configExecutor(),
  volume: configExecutor(),
  stopsignal: configExecutor(),
  healthcheck: configExecutor(),
  shell: configExecutor(),
  cmd: configExecutor(),
  entrypoint: configExecutor(),
  arg: configExecutor(),
  onbuild: configExecutor(),
};
