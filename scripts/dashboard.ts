// Generates the startup-lock Grafana dashboard (chart/dashboards/startup-lock.json) from code, so
// every panel is reviewed as TypeScript and the JSON is never edited by hand.
//   tsx scripts/dashboard.ts           write the JSON
//   tsx scripts/dashboard.ts --check   exit 1 if the committed JSON is not what this file generates
// test/observability/dashboard.test.ts runs every query through a PromQL parser and a real
// Prometheus, and fails when the committed JSON is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  LegendDisplayMode,
  LegendPlacement,
  SortOrder,
  TooltipDisplayMode,
  VizLegendOptionsBuilder,
  VizTooltipOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/common';
import {
  AnnotationQueryBuilder,
  DashboardBuilder,
  DashboardCursorSync,
  DatasourceVariableBuilder,
  MappingType,
  QueryVariableBuilder,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  VariableSort,
  type Dashboard,
  type DataSourceRef,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StateTimelinePanel } from '@grafana/grafana-foundation-sdk/statetimeline';
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The committed dashboard: loaded by the chart's ConfigMap (.Files.Get) and imported by hand. */
export const DASHBOARD_FILE = resolve(repoRoot, 'chart/dashboards/startup-lock.json');

const datasource: DataSourceRef = { type: 'prometheus', uid: '${datasource}' };
/** Every series selector carries this, so the job and node variables filter every panel. */
const sel = 'job=~"$job", instance=~"$node"';
const m = (name: string, extra = ''): string => `startup_lock_${name}{${sel}${extra ? `, ${extra}` : ''}}`;

function query(expr: string, legend: string): DataqueryBuilder {
  return new DataqueryBuilder().datasource(datasource).expr(expr).legendFormat(legend).range();
}

/** Quantiles of a histogram, per node (and per `by` label, if any). */
function quantiles(bucket: string, by: string[], legend: string, qs = [0.5, 0.9, 0.99]): DataqueryBuilder[] {
  const labels = ['instance', ...by, 'le'].join(', ');
  return qs.map((q) =>
    query(
      `histogram_quantile(${q}, sum by (${labels}) (rate(${bucket}[$__rate_interval])))`,
      `${legend} p${Math.round(q * 100)}`,
    ),
  );
}

interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  targets: DataqueryBuilder[];
  min?: number;
  max?: number;
  stack?: boolean;
}

function timeseries(spec: PanelSpec): TimeseriesPanel {
  const panel = new TimeseriesPanel()
    .title(spec.title)
    .description(spec.description)
    .datasource(datasource)
    .unit(spec.unit)
    .height(8)
    .span(8)
    .fillOpacity(10)
    .legend(
      new VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(LegendDisplayMode.List)
        .placement(LegendPlacement.Bottom)
        .calcs([]),
    )
    .tooltip(new VizTooltipOptionsBuilder().mode(TooltipDisplayMode.Multi).sort(SortOrder.Descending));
  if (spec.min !== undefined) panel.min(spec.min);
  if (spec.max !== undefined) panel.max(spec.max);
  // Explicit refIds (A, B, …) so the JSON is stable and Grafana need not invent them.
  spec.targets.forEach((target, i) => panel.withTarget(target.refId(String.fromCharCode(65 + i))));
  return panel;
}

function checkStatus(): StateTimelinePanel {
  return new StateTimelinePanel()
    .title('Dependency check status')
    .description(
      'startup_lock_check_up per node and check (--check): up = the check passes, down = it fails. ' +
        'While any check is down the lock grants nothing (after --failHc), so pods on that node wait.',
    )
    .datasource(datasource)
    .unit('bool_on_off')
    .height(8)
    .span(12)
    .mappings([
      {
        type: MappingType.ValueToText,
        options: {
          '0': { text: 'down', color: 'red', index: 0 },
          '1': { text: 'up', color: 'green', index: 1 },
        },
      },
    ])
    .thresholds(
      new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([
        { value: null, color: 'red' },
        { value: 1, color: 'green' },
      ]),
    )
    .withTarget(query(`min by (instance, check) (${m('check_up')})`, '{{check}} on {{instance}}').refId('A'));
}

function variables(builder: DashboardBuilder): DashboardBuilder {
  return builder
    .withVariable(new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'))
    .withVariable(
      new QueryVariableBuilder('job')
        .label('Job')
        .description('Prometheus job scraping the startup-lock DaemonSet')
        .datasource(datasource)
        .query('label_values(startup_lock_slots, job)')
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.AlphabeticalAsc)
        .multi(true)
        .includeAll(true)
        .allValue('.*'),
    )
    .withVariable(
      new QueryVariableBuilder('node')
        .label('Node')
        .description('Lock server instance; one per node (hostNetwork DaemonSet)')
        .datasource(datasource)
        .query('label_values(startup_lock_slots{job=~"$job"}, instance)')
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.AlphabeticalAsc)
        .multi(true)
        .includeAll(true)
        .allValue('.*'),
    );
}

export function buildDashboard(): Dashboard {
  const perNode = '{{instance}}';
  const builder = variables(
    new DashboardBuilder('startup-lock')
      .uid('startup-lock')
      .description('Node-local start-up lock: slots, queue, leases, dependency checks, per node.')
      .tags(['startup-lock', 'kubernetes'])
      .editable()
      .tooltip(DashboardCursorSync.Crosshair)
      .refresh('30s')
      .time({ from: 'now-1h', to: 'now' })
      .timezone('browser')
      // Grafana's own "Annotations & Alerts", which every dashboard saved from the UI carries.
      .annotation(
        new AnnotationQueryBuilder()
          .name('Annotations & Alerts')
          .datasource({ type: 'grafana', uid: '-- Grafana --' })
          .builtIn(1)
          .enable(true)
          .hide(true)
          .iconColor('rgba(0, 211, 255, 1)')
          .type('dashboard'),
      ),
  )
    .withRow(new RowBuilder('Lock and queue'))
    .withPanel(
      timeseries({
        title: 'Slots vs leases active',
        description:
          'Slots: how many pods may start at once on the node (--locks / --locks-per-core). ' +
          'Leases active: how many hold one now. Unleased: start-ups the server sees without a lease ' +
          '(restart: an app container restarting after its lease ended; unmanaged: a pod without the client), ' +
          'which take slots too. Active + unleased pinned at slots means the node is saturated.',
        unit: 'short',
        min: 0,
        targets: [
          query(`sum by (instance) (${m('slots')})`, `${perNode} slots`),
          query(`sum by (instance) (${m('leases_active')})`, `${perNode} active`),
          query(`sum by (instance, kind) (${m('unleased_starts')})`, `${perNode} unleased {{kind}}`),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Queue length',
        description:
          'Pods waiting for a slot (v1 long polls in the queue). Should drain to 0 after a start-up wave.',
        unit: 'short',
        min: 0,
        targets: [query(`sum by (instance) (${m('queue_length')})`, perNode)],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Queue wait',
        description:
          'Time from joining the queue to being granted a lease, p50/p90/p99 of ' +
          'startup_lock_queue_wait_seconds. This is the start-up delay the lock adds to a pod.',
        unit: 's',
        min: 0,
        targets: quantiles(m('queue_wait_seconds_bucket'), [], perNode),
      }),
    )
    .withRow(new RowBuilder('Lease traffic'))
    .withPanel(
      timeseries({
        title: 'Grants by API',
        description:
          'Leases granted per second, by API: legacy = GET / (pod-startup-lock clients), v1 = POST /v1/leases.',
        unit: 'ops',
        min: 0,
        targets: [
          query(
            `sum by (instance, api) (rate(${m('lease_grants_total')}[$__rate_interval]))`,
            `{{api}} on ${perNode}`,
          ),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Denials by reason',
        description:
          'Requests answered 423/429 per second, by reason: locked (all slots taken), checks_failing, not_ready, ' +
          'draining, load, queue_full, timeout (long poll ended without a slot). Waiting is normal; ' +
          'checks_failing or queue_full for long is not.',
        unit: 'ops',
        min: 0,
        targets: [
          query(
            `sum by (instance, reason) (rate(${m('lease_denials_total')}[$__rate_interval]))`,
            `{{reason}} on ${perNode}`,
          ),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Releases by reason',
        description:
          'Leases ended per second, by reason: released (client DELETE), probe (the pod’s own probe, run by ' +
          'the server, passed), ready (pod became Ready), failed (an app container cannot start: ' +
          'CrashLoopBackOff, image pull or config error), pod_gone (pod deleted), expired (duration ran out), ' +
          'shutdown (server stopped).',
        unit: 'ops',
        min: 0,
        targets: [
          query(
            `sum by (instance, reason) (rate(${m('lease_releases_total')}[$__rate_interval]))`,
            `{{reason}} on ${perNode}`,
          ),
        ],
      }),
    )
    .withRow(new RowBuilder('Lease lifetime'))
    .withPanel(
      timeseries({
        title: 'Lease hold time',
        description:
          'How long a lease was held before it ended, p50/p90/p99 of startup_lock_lease_held_seconds. ' +
          'Close to the lease duration means leases expire rather than being released.',
        unit: 's',
        min: 0,
        targets: quantiles(m('lease_held_seconds_bucket'), [], perNode),
      }),
    )
    .withPanel(
      timeseries({
        title: 'App start to release',
        description:
          'From a holder pod’s first app container start to its lease’s release, p50/p90/p99 of ' +
          'startup_lock_start_to_release_seconds, by reason (probe: the server’s own probe of the pod passed; ' +
          'ready: the pod’s Ready condition). With release on the Ready condition alone this includes up to a ' +
          'readiness-probe period.',
        unit: 's',
        min: 0,
        targets: quantiles(m('start_to_release_seconds_bucket'), ['reason'], `{{reason}} on ${perNode}`),
      }),
    )
    .withPanel(
      timeseries({
        title: 'Expiry share',
        description:
          'Share of ended leases that expired instead of being released early (released, probe, ready, failed, pod_gone; ' +
          'shutdowns excluded). A high share means durations are wrong for the apps or release-on-ready is off. ' +
          'Alert StartupLockLeasesExpiring fires above 50% over an hour.',
        unit: 'percentunit',
        min: 0,
        max: 1,
        targets: [
          query(
            `sum by (instance) (rate(${m('lease_releases_total', 'reason="expired"')}[$__rate_interval]))` +
              ` / sum by (instance) (rate(${m('lease_releases_total', 'reason!="shutdown"')}[$__rate_interval]))`,
            perNode,
          ),
        ],
      }),
    )
    .withRow(new RowBuilder('Dependency checks'))
    .withPanel(checkStatus())
    .withPanel(
      timeseries({
        title: 'Dependency check latency',
        description:
          'Duration of each dependency check, p50 and p99 of startup_lock_check_duration_seconds, per check ' +
          'and node. Latency near --check-timeout means the check is about to fail.',
        unit: 's',
        min: 0,
        targets: quantiles(
          m('check_duration_seconds_bucket'),
          ['check'],
          '{{check}} on {{instance}}',
          [0.5, 0.99],
        ),
      }).span(12),
    )
    .withRow(new RowBuilder('Process'))
    .withPanel(
      timeseries({
        title: 'Process memory',
        description:
          'Resident set size and V8 heap in use of the lock server process (prom-client default metrics).',
        unit: 'bytes',
        min: 0,
        targets: [
          query(`sum by (instance) (process_resident_memory_bytes{${sel}})`, `${perNode} resident`),
          query(`sum by (instance) (nodejs_heap_size_used_bytes{${sel}})`, `${perNode} heap used`),
        ],
      }).span(12),
    )
    .withPanel(
      timeseries({
        title: 'Event-loop lag',
        description:
          'Node.js event-loop delay of the lock server, p50 and p99 (prom-client default metrics). ' +
          'Sustained lag delays every lease answer and health probe.',
        unit: 's',
        min: 0,
        targets: [
          query(`max by (instance) (nodejs_eventloop_lag_p50_seconds{${sel}})`, `${perNode} p50`),
          query(`max by (instance) (nodejs_eventloop_lag_p99_seconds{${sel}})`, `${perNode} p99`),
        ],
      }).span(12),
    );
  return builder.build();
}

/** The file contents: stable key order from the builders, two-space indent, trailing newline. */
export function renderDashboard(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}

function main(argv: string[]): number {
  const json = renderDashboard();
  if (argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(DASHBOARD_FILE, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current === json) return 0;
    console.error(`${DASHBOARD_FILE} is out of date: run \`tsx scripts/dashboard.ts\``);
    return 1;
  }
  writeFileSync(DASHBOARD_FILE, json);
  console.log(`wrote ${DASHBOARD_FILE}`);
  return 0;
}

// Run only as a script, not when a test imports buildDashboard().
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
