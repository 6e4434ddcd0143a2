#!/usr/bin/env node
/**
 * The single entry point of the image (`ENTRYPOINT ["detour"]`): the webhook injects
 * containers with `args` only, so one image serves every role. Each command lives in
 * its component's folder and is loaded lazily, so `detour init` does not pay for
 * express or the Kubernetes client.
 */
import { detourVersion } from '../shared/version.js';
import { runCli, type CommandTable } from './cli-main.js';

const COMMANDS: CommandTable = {
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

runCli('detour', COMMANDS, process.argv.slice(2), detourVersion);
