import { expect } from 'chai';
import { createProcessRegistry } from '../../shared/process-metrics.js';
import { ProxyMetrics } from '../../sidecar/proxy-metrics.js';

/** `name value` pairs of a scrape, comments left out. */
async function scrape(registry = createProcessRegistry()): Promise<Map<string, number>> {
  const text = await registry.metrics();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [name = '', value = ''] = line.split(' ');
    values.set(name, Number(value));
  }
  return values;
}

describe("the proxy's process metrics (shared/process-metrics.ts)", () => {
  it('exports the Prometheus process metrics and the heap, read at scrape time', async () => {
    const registry = createProcessRegistry();
    const first = await scrape(registry);
    expect([...first.keys()].sort()).to.deep.equal([
      'detour_nodejs_external_memory_bytes',
      'detour_nodejs_heap_size_total_bytes',
      'detour_nodejs_heap_size_used_bytes',
      'detour_process_cpu_seconds_total',
      'detour_process_cpu_system_seconds_total',
      'detour_process_cpu_user_seconds_total',
      'detour_process_max_fds',
      'detour_process_open_fds',
      'detour_process_resident_memory_bytes',
      'detour_process_start_time_seconds',
    ]);
    const rss = first.get('detour_process_resident_memory_bytes') ?? 0;
    expect(rss).to.be.within(10 * 2 ** 20, 4 * 2 ** 30);
    expect(first.get('detour_process_open_fds')).to.be.greaterThan(2);
    expect(first.get('detour_process_max_fds')).to.be.greaterThan(
      first.get('detour_process_open_fds') ?? Infinity,
    );
    const started = first.get('detour_process_start_time_seconds') ?? 0;
    expect(Date.now() / 1000 - started).to.be.within(process.uptime() - 2, process.uptime() + 2);
    // Burn a little CPU: the counters only go up, and the total is user + system.
    const until = process.cpuUsage().user + 20_000;
    while (process.cpuUsage().user < until);
    const second = await scrape(registry);
    const cpu = (values: Map<string, number>, kind: string): number =>
      values.get(`detour_process_cpu_${kind}seconds_total`) ?? NaN;
    expect(cpu(second, 'user_') - cpu(first, 'user_')).to.be.at.least(0.02);
    expect(cpu(second, 'system_')).to.be.at.least(cpu(first, 'system_'));
    expect(cpu(second, '')).to.be.closeTo(cpu(second, 'user_') + cpu(second, 'system_'), 1e-6);
  });

  it("keeps prom-client's samplers (event-loop delay, GC, heap spaces) out of the proxy", async () => {
    const names = [...(await scrape(new ProxyMetrics().registry)).keys()];
    expect(names).to.include('detour_process_resident_memory_bytes');
    expect(names.filter((n) => /eventloop|gc_duration|heap_space|active_|version_info/.test(n))).to
      .be.empty;
  });
});
