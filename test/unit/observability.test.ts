import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { ControllerMetrics } from '../../controller/controller-metrics.js';
import { createRegistry } from '../../shared/metrics.js';
import { ProxyMetrics } from '../../sidecar/proxy-metrics.js';
import { createWebhookMetrics } from '../../webhook/webhook-metrics.js';
import { REPO_ROOT } from '../support/cli.js';
import { hasKubectl } from '../support/manifests.js';

const exec = promisify(execFile);
const COMPONENT = join(REPO_ROOT, 'manifests/components/prometheus-operator');

/** Every metric name the three components export, with a histogram's series suffixes. */
async function exportedNames(): Promise<Set<string>> {
  const webhookRegistry = createRegistry();
  createWebhookMetrics(webhookRegistry);
  const registries = [
    new ProxyMetrics().registry,
    new ControllerMetrics().registry,
    webhookRegistry,
  ];
  const names = new Set<string>();
  for (const registry of registries) {
    for (const metric of await registry.getMetricsAsJSON()) {
      names.add(metric.name);
      if (String(metric.type) === 'histogram') {
        for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${metric.name}${suffix}`);
      }
    }
  }
  return names;
}

/** PromQL words that are not metric names: functions, aggregations, operators, modifiers. */
const PROMQL_WORDS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'topk',
  'bottomk',
  'quantile',
  'stddev',
  'group',
  'rate',
  'irate',
  'increase',
  'delta',
  'changes',
  'absent',
  'histogram_quantile',
  'label_values',
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'offset',
  'bool',
  'le',
]);

/**
 * The metric names an expression reads: what is left once strings, label matchers,
 * `by (...)` lists, ranges, Grafana variables and numbers are taken out. Anything left
 * that is not PromQL vocabulary is a metric name (detour's or not).
 */
function metricNames(expr: string): string[] {
  const bare = expr
    // Grafana's label_values(METRIC, LABEL): the second argument is a label.
    .replace(/label_values\(([^,)]+),[^)]*\)/g, '$1')
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\$\w+/g, ' ')
    .replace(/\b\d+(\.\d+)?\b/g, ' ');
  const words = bare.match(/[A-Za-z_:][A-Za-z0-9_:]*/g) ?? [];
  return [...new Set(words.filter((w) => !PROMQL_WORDS.has(w)))];
}

interface Rule {
  alert?: string;
  expr: string;
}

function ruleExpressions(): { name: string; expr: string }[] {
  const doc = parse(readFileSync(join(COMPONENT, 'prometheus-rule.yaml'), 'utf8')) as {
    spec: { groups: { rules: Rule[] }[] };
  };
  return doc.spec.groups.flatMap((g) =>
    g.rules.map((r) => ({ name: r.alert ?? '', expr: r.expr })),
  );
}

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
}

function dashboard(): { panels: Panel[]; templating: { list: { definition?: string }[] } } {
  return JSON.parse(readFileSync(join(COMPONENT, 'grafana-dashboard.json'), 'utf8')) as {
    panels: Panel[];
    templating: { list: { definition?: string }[] };
  };
}

function dashboardExpressions(): { name: string; expr: string }[] {
  const d = dashboard();
  return [
    ...d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ name: p.title, expr: t.expr }))),
    ...d.templating.list.flatMap((v) =>
      v.definition === undefined ? [] : [{ name: 'variable', expr: v.definition }],
    ),
  ];
}

describe('observability: dashboard and alerts name only exported metrics', () => {
  it('reads metric names out of PromQL', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, route) (rate(detour_proxy_request_duration_seconds_bucket{namespace=~"$namespace",status=~"5.."}[$__rate_interval]))) > 0.5 and up',
      ),
    ).to.deep.equal(['detour_proxy_request_duration_seconds_bucket', 'up']);
  });

  for (const [source, expressions] of [
    ['PrometheusRule', ruleExpressions()],
    ['Grafana dashboard', dashboardExpressions()],
  ] as const) {
    it(`every metric in the ${source}'s queries is exported`, async () => {
      const exported = await exportedNames();
      expect(expressions.length).to.be.above(5);
      const unknown = expressions.flatMap(({ name, expr }) =>
        metricNames(expr)
          .filter((m) => !exported.has(m))
          .map((m) => `${name}: ${m}`),
      );
      expect(unknown).to.deep.equal([]);
    });
  }

  it('the dashboard shows requests, errors and latency by route and direction, and policy decisions', () => {
    const exprs = dashboardExpressions().map((e) => e.expr);
    const byRouteAndDirection = (metric: string): boolean =>
      exprs.some((e) => e.includes(metric) && /by \([^)]*route, direction\)/.test(e));
    expect(byRouteAndDirection('detour_proxy_requests_total')).to.equal(true);
    expect(exprs.some((e) => e.includes('status=~"5.."'))).to.equal(true);
    expect(byRouteAndDirection('detour_proxy_request_duration_seconds_bucket')).to.equal(true);
    expect(exprs.some((e) => e.includes('detour_proxy_rate_limited_total'))).to.equal(true);
    const ids = dashboard().panels.map((p) => p.title);
    expect(new Set(ids).size).to.equal(ids.length);
  });

  it('the rules alert on a controller that stopped writing, webhook errors and a 5xx burst', () => {
    const names = ruleExpressions().map((r) => r.name);
    expect(names).to.include.members([
      'DetourControllerNotWriting',
      'DetourWebhookErrors',
      'Detour5xxBurst',
    ]);
  });
});

describe('observability and network-policy components render with the base', function () {
  this.timeout(120_000);
  let objects: { apiVersion: string; kind: string; metadata: { name: string } }[] = [];

  before(async function () {
    if (!hasKubectl()) {
      console.log('    (skipped: kubectl, which ships kustomize, is not on PATH)');
      this.skip();
    }
    const dir = mkdtempSync(join(tmpdir(), 'detour-components-'));
    try {
      const to = (p: string): string => relative(dir, join(REPO_ROOT, p));
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        [
          'apiVersion: kustomize.config.k8s.io/v1beta1',
          'kind: Kustomization',
          `resources: [${to('manifests/base')}]`,
          `components: [${to('manifests/components/prometheus-operator')}, ${to('manifests/components/network-policy')}]`,
        ].join('\n'),
      );
      const { stdout } = await exec('kubectl', ['kustomize', dir], { timeout: 60_000 });
      objects = parseAllDocuments(stdout).map((d) => d.toJS() as (typeof objects)[number]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const find = (kind: string, name: string): Record<string, unknown> => {
    const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
    if (found === undefined) throw new Error(`no ${kind} ${name}`);
    return found;
  };

  it('adds a valid metrics Service, NetworkPolicy and dashboard ConfigMap', () => {
    new Service(find('Service', 'detour-metrics')).validate();
    new NetworkPolicy(find('NetworkPolicy', 'detour-control-plane')).validate();
    const cm = find('ConfigMap', 'detour-grafana-dashboard');
    new ConfigMap(cm).validate();
    expect(Object.keys(cm.data as object)).to.deep.equal(['grafana-dashboard.json']);
  });

  it('the monitors scrape ports the control plane and the proxy declare', () => {
    const pm = find('PodMonitor', 'detour-proxies') as {
      spec: { podMetricsEndpoints: { port: string; path: string }[] };
    };
    expect(pm.spec.podMetricsEndpoints.map((e) => [e.port, e.path])).to.deep.equal([
      ['detour-admin', '/metrics'],
    ]);
    const svc = find('Service', 'detour-metrics') as {
      spec: { ports: { name: string; targetPort: string }[] };
    };
    const sm = find('ServiceMonitor', 'detour-control-plane') as {
      spec: { endpoints: { port: string }[] };
    };
    expect(sm.spec.endpoints.map((e) => e.port)).to.deep.equal(svc.spec.ports.map((p) => p.name));
    const deployment = find('Deployment', 'detour') as {
      spec: { template: { spec: { containers: { ports?: { name: string }[] }[] } } };
    };
    const declared = deployment.spec.template.spec.containers.flatMap((c) =>
      (c.ports ?? []).map((p) => p.name),
    );
    expect(declared).to.include.members(svc.spec.ports.map((p) => p.targetPort));
    expect(find('PrometheusRule', 'detour').apiVersion).to.equal('monitoring.coreos.com/v1');
  });
});
