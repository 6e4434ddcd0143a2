#!/usr/bin/env node
/**
 * The single entry point of the image (`ENTRYPOINT ["detour"]`): the webhook injects
 * containers with `args` only, so one image serves every role. Each command lives in
 * its component's folder and is loaded lazily, so `detour init` does not pay for
 * express or the Kubernetes client.
 */
import { isDetourError, errorMessage } from '../shared/errors.js';
import { detourVersion } from '../shared/version.js';

type CommandModule = { run: (argv: string[]) => Promise<number | undefined> };

const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  webhook: {
    summary: 'serve the mutating admission webhook (POST /mutate)',
    load: () => import('../webhook/webhook-command.js'),
  },
  controller: {
    summary: 'compile routable Pods and Secrets into RouteTables',
    load: () => import('../controller/controller-command.js'),
  },
  proxy: {
    summary: 'run the sidecar (or gateway) proxy',
    load: () => import('../sidecar/proxy-command.js'),
  },
  init: {
    summary: "install the traffic-capture iptables rules in the pod's network namespace",
    load: () => import('../sidecar/init/init-command.js'),
  },
  inject: {
    summary: 'inject the sidecar into Pods and pod templates in YAML (like istioctl kube-inject)',
    load: () => import('../webhook/inject-command.js'),
  },
  routes: {
    summary: "print a proxy's route table, or explain which route a URL hits",
    load: () => import('../sidecar/routes-command.js'),
  },
  check: {
    summary: 'check a cluster before or after installing detour (like linkerd check)',
    load: () => import('../ops/check-command.js'),
  },
  status: {
    summary: 'list injected pods: proxy version, table version, in sync or not',
    load: () => import('../ops/status-command.js'),
  },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`);
  return `usage: detour <command> [flags]\n       detour --version\n\ncommands:\n${lines.join('\n')}\n\nRun 'detour <command> --help' for the flags of one command.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === 'version') {
    process.stdout.write(`detour ${detourVersion()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`detour: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  const module = await command.load();
  return (await module.run(rest)) ?? 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const prefix = isDetourError(err) ? `detour: ${err.code}: ` : 'detour: ';
    process.stderr.write(`${prefix}${errorMessage(err)}\n`);
    process.exitCode = 1;
  },
);
