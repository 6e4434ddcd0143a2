import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT, detourArgv } from './cli.js';

/** A running `detour webhook` child process, with its JSON log lines collected. */
export interface WebhookProcess {
  child: ChildProcess;
  port: number;
  logs: Record<string, unknown>[];
  /** Resolves with the first log line whose msg is `msg` (bounded by timeoutMs). */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<number | null>;
}

export async function startWebhookProcess(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<WebhookProcess> {
  const child = spawn(
    process.execPath,
    detourArgv([
      'webhook',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      // Tests stop replicas often; the drain has its own test (webhook-drain.test.ts).
      ...(args.includes('--drain-ms') ? [] : ['--drain-ms', '0']),
      ...args,
    ]),
    {
      cwd: REPO_ROOT,
      env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let buffered = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buffered += d;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line });
      }
    }
    for (const w of waiters) w();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      resolve(code);
    }),
  );

  const waitForLog = (msg: string, timeoutMs = 30_000): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = logs.find((l) => l.msg === msg);
        if (found === undefined) return;
        cleanup();
        resolve(found);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `no "${msg}" log within ${timeoutMs} ms; stderr: ${stderr}; logs: ${JSON.stringify(logs)}`,
          ),
        );
      }, timeoutMs);
      const onExit = (): void => {
        cleanup();
        reject(new Error(`webhook exited before "${msg}"; stderr: ${stderr}`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off('exit', onExit);
      };
      waiters.add(check);
      child.on('exit', onExit);
      check();
    });

  const listening = await waitForLog('listening');
  return {
    child,
    port: Number(listening.port),
    logs,
    waitForLog,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
