/**
 * `formatPlan`: a human-readable build plan for `ocibuild build --dry-run`.
 */
import { levels, stageByIndex } from './order.js';
import type { BuildGraph, SourceRef, Stage, Step } from './types.js';

function stageLabel(graph: BuildGraph, index: number): string {
  const s = graph.stages[index]?.index === index ? graph.stages[index] : graph.stages.find((x) => x.index === index);
  return s?.name ? `#${index} (${s.name})` : `#${index}`;
}

function refLabel(graph: BuildGraph, ref: SourceRef): string {
  switch (ref.kind) {
    case 'context':
      return ref.name === undefined ? 'context' : `context ${ref.name}`;
    case 'stage':
      return `stage ${stageLabel(graph, ref.index)}`;
    case 'image':
      return `image ${ref.ref}`;
  }
}

function baseLabel(graph: BuildGraph, stage: Stage): string {
  switch (stage.base.kind) {
    case 'scratch':
      return 'scratch';
    case 'image':
      return `image ${stage.base.ref}`;
    case 'stage':
      return `stage ${stageLabel(graph, stage.base.index)}`;
  }
}

function quoteList(xs: readonly string[]): string {
  return `[${xs.map((x) => JSON.stringify(x)).join(', ')}]`;
}

function describeStep(graph: BuildGraph, step: Step): string {
  switch (step.kind) {
    case 'run': {
      const parts = [`RUN ${step.prependShell ? step.command.join(' ') : quoteList(step.command)}`];
      for (const m of step.mounts) {
        const from = 'from' in m && m.from && !(m.from.kind === 'context' && m.from.name === undefined) ? ` from ${refLabel(graph, m.from)}` : '';
        // an empty target is the working directory at run time (BuildKit)
        const where = m.type === 'secret' ? (m.target ?? `env ${m.env}`) : m.target === '' ? '(working directory)' : m.target;
        parts.push(`mount ${m.type} ${where}${from}`);
      }
      if (step.network !== 'default') parts.push(`network ${step.network}`);
      if (step.security !== 'sandbox') parts.push(`security ${step.security}`);
      for (const d of step.devices) parts.push(`device ${d.name}${d.required ? ' (required)' : ''}`);
      for (const f of step.files) parts.push(`heredoc ${f.name}`);
      return parts.join('\n');
    }
    case 'copy':
    case 'add': {
      const srcs = [...step.sources, ...step.inline.map((f) => `<<${f.name}`)].join(' ');
      const from = step.from.kind === 'context' && step.from.name === undefined ? '' : ` (from ${refLabel(graph, step.from)})`;
      return `${step.kind.toUpperCase()} ${srcs} ${step.dest}${from}`;
    }
    case 'env':
    case 'label':
      return `${step.kind.toUpperCase()} ${step.pairs.map((p) => `${p.key}=${JSON.stringify(p.value)}`).join(' ')}`;
    case 'maintainer':
      return `MAINTAINER ${step.maintainer}`;
    case 'expose':
      return `EXPOSE ${step.ports.join(' ')}`;
    case 'user':
      return `USER ${step.user}`;
    case 'workdir':
      return `WORKDIR ${step.path}`;
    case 'volume':
      return `VOLUME ${quoteList(step.volumes)}`;
    case 'stopsignal':
      return `STOPSIGNAL ${step.signal}`;
    case 'healthcheck':
      return `HEALTHCHECK ${quoteList(step.health.Test)}`;
    case 'shell':
      return `SHELL ${quoteList(step.shell)}`;
    case 'cmd':
    case 'entrypoint':
      return `${step.kind.toUpperCase()} ${step.prependShell ? step.command.join(' ') : quoteList(step.command)}`;
    case 'arg':
      return `ARG ${step.values.map((a) => (a.value === undefined ? a.key : `${a.key}=${JSON.stringify(a.value)}`)).join(' ')}`;
    case 'onbuild':
      return `ONBUILD ${step.expression}`;
  }
}

/**
 * The plan as text: target and platforms, stages in execution order with
 * their base, dependencies and steps (with source line), the parallel levels,
 * and the stages dropped because the target does not need them.
 */
export function formatPlan(graph: BuildGraph): string {
  const lines: string[] = [];
  lines.push(`target: stage ${stageLabel(graph, graph.target)}`);
  lines.push(`platform: ${graph.targetPlatform} (build platform ${graph.buildPlatform})`);
  if (graph.metaArgs.length > 0) {
    lines.push(
      `global args: ${graph.metaArgs.map((a) => (a.value === undefined ? a.key : `${a.key}=${JSON.stringify(a.value)}`)).join(' ')}`,
    );
  }
  const byIndex = new Map(graph.stages.map((s) => [s.index, s]));
  for (const index of graph.order) {
    const stage = byIndex.get(index) ?? stageByIndex(graph, index);
    lines.push('');
    const platform = stage.platform ? ` --platform=${stage.platform}` : '';
    lines.push(`stage ${stageLabel(graph, index)} from ${baseLabel(graph, stage)}${platform} (line ${stage.range.start.line})`);
    if (stage.dependsOn.length > 0) {
      lines.push(`  depends on: ${stage.dependsOn.map((d) => stageLabel(graph, d)).join(', ')}`);
    }
    stage.steps.forEach((step, i) => {
      const text = describeStep(graph, step).split('\n');
      lines.push(`  ${i + 1}. ${text[0]}  (line ${step.range.start.line})`);
      for (const extra of text.slice(1)) lines.push(`     ${extra}`);
      if ((step.kind === 'run' || step.kind === 'copy' || step.kind === 'add') && step.dependsOn.length > 0) {
        lines.push(`     needs: ${step.dependsOn.map((d) => stageLabel(graph, d)).join(', ')}`);
      }
    });
  }
  lines.push('');
  lines.push('parallel levels:');
  levels(graph).forEach((level, i) => lines.push(`  ${i}: ${level.map((x) => stageLabel(graph, x)).join(', ')}`));
  if (graph.dropped.length > 0) {
    lines.push(
      `dropped (not needed for the target): ${graph.dropped.map((d) => (d.name ? `#${d.index} (${d.name})` : `#${d.index}`)).join(', ')}`,
    );
  }
  return lines.join('\n');
}
