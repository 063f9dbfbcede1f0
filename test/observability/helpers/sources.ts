// The queries under test, read from the files we ship: the alert rules YAML and the dashboard.
import { readFileSync } from 'node:fs';

import { parse } from 'yaml';

import { RULES_FILE } from './tools.js';

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface RuleFile {
  groups: { name: string; rules: AlertRule[] }[];
}

export function alertRules(): AlertRule[] {
  const doc = parse(readFileSync(RULES_FILE, 'utf8')) as RuleFile;
  return doc.groups.flatMap((group) => group.rules);
}

export interface PanelQuery {
  panel: string;
  legend: string;
  expr: string;
}

interface DashboardJson {
  panels?: {
    type: string;
    title?: string;
    targets?: { expr?: string; legendFormat?: string }[];
  }[];
  templating?: { list?: { name: string; type: string; query?: unknown }[] };
}

export function panelQueries(dashboard: unknown): PanelQuery[] {
  const panels = (dashboard as DashboardJson).panels ?? [];
  return panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      panel: panel.title ?? '(untitled)',
      legend: target.legendFormat ?? '',
      expr: target.expr ?? '',
    })),
  );
}

/**
 * The series selector inside each `label_values(selector, label)` variable query (Grafana syntax,
 * not PromQL; the selector inside it is PromQL).
 */
export function variableSelectors(
  dashboard: unknown,
): { variable: string; selector: string; label: string }[] {
  const variables = (dashboard as DashboardJson).templating?.list ?? [];
  return variables
    .filter((variable) => variable.type === 'query')
    .map((variable) => {
      const query = String(variable.query);
      const match = /^label_values\((.+),\s*(\w+)\)$/.exec(query);
      if (!match?.[1] || !match[2])
        throw new Error(`variable ${variable.name}: not a label_values query: ${query}`);
      return { variable: variable.name, selector: match[1], label: match[2] };
    });
}
