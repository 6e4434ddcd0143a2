import { readdirSync, readFileSync } from 'node:fs';
import { Counter, Gauge, Registry } from 'prom-client';

/**
 * A registry with the process metrics every Prometheus client library exports, under
 * the names prom-client's defaults (and Linkerd's proxy) give them, plus Node's heap:
 * what a proxy in every pod can afford. prom-client's `collectDefaultMetrics` also
 * samples event-loop delay with a 10 ms timer, observes every GC and reads V8's heap
 * spaces: an idle proxy woke 99 times a second for them and spent 0.8 % of a core
 * (docs/benchmarks.md; now 1-2 wakeups a second), so the proxy leaves them to the
 * control plane (shared/metrics.ts). Every value here is read when scraped.
 * https://prometheus.io/docs/instrumenting/writing_clientlibs/#process-metrics
 */
export function createProcessRegistry(prefix = 'detour_'): Registry {
  const registry = new Registry();
  const registers = [registry];
  let cpu = process.cpuUsage();
  const user = new Counter({
    name: `${prefix}process_cpu_user_seconds_total`,
    help: 'Total user CPU time spent in seconds.',
    registers,
    collect() {
      const now = process.cpuUsage();
      user.inc((now.user - cpu.user) / 1e6);
      system.inc((now.system - cpu.system) / 1e6);
      total.inc((now.user - cpu.user + now.system - cpu.system) / 1e6);
      cpu = now;
    },
  });
  const system = new Counter({
    name: `${prefix}process_cpu_system_seconds_total`,
    help: 'Total system CPU time spent in seconds.',
    registers,
  });
  const total = new Counter({
    name: `${prefix}process_cpu_seconds_total`,
    help: 'Total user and system CPU time spent in seconds.',
    registers,
  });
  new Gauge({
    name: `${prefix}process_start_time_seconds`,
    help: 'Start time of the process since unix epoch in seconds.',
    registers,
  }).set(Math.round(Date.now() / 1000 - process.uptime()));
  new Gauge({
    name: `${prefix}process_resident_memory_bytes`,
    help: 'Resident memory size in bytes.',
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  const heap = {
    total: new Gauge({
      name: `${prefix}nodejs_heap_size_total_bytes`,
      help: 'Process heap size from Node.js in bytes.',
      registers,
      collect() {
        const usage = process.memoryUsage();
        heap.total.set(usage.heapTotal);
        heap.used.set(usage.heapUsed);
        heap.external.set(usage.external);
      },
    }),
    used: new Gauge({
      name: `${prefix}nodejs_heap_size_used_bytes`,
      help: 'Process heap size used from Node.js in bytes.',
      registers,
    }),
    external: new Gauge({
      name: `${prefix}nodejs_external_memory_bytes`,
      help: 'Node.js external memory size in bytes.',
      registers,
    }),
  };
  // File descriptors are read from /proc, which only Linux has (the image is Linux); a
  // /proc that cannot be read (masked by a runtime) leaves these out, never the scrape.
  if (openFiles() !== undefined) {
    new Gauge({
      name: `${prefix}process_open_fds`,
      help: 'Number of open file descriptors.',
      registers,
      collect() {
        const count = openFiles();
        if (count !== undefined) this.set(count);
      },
    });
    const max = maxOpenFiles();
    if (max !== undefined) {
      new Gauge({
        name: `${prefix}process_max_fds`,
        help: 'Maximum number of open file descriptors.',
        registers,
      }).set(max);
    }
  }
  return registry;
}

/** Open file descriptors, from /proc/self/fd; undefined where /proc cannot be read. */
function openFiles(): number | undefined {
  try {
    // Less the descriptor that reading the directory opens.
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return undefined;
  }
}

/** The soft limit on open files, from /proc/self/limits (undefined when unlimited). */
function maxOpenFiles(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line?.[1] === undefined ? undefined : Number(line[1]);
  } catch {
    return undefined;
  }
}
