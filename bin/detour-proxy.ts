#!/usr/bin/env node
/**
 * The proxy's own entry point (`detour-proxy proxy [flags]`, the command the webhook
 * injects): the same CLI as `detour` with only the proxy command, so its bundle
 * (scripts/build.ts) holds no webhook, controller or client-node models. The command
 * word stays, so the injected args read as they do for `detour`.
 */
import { runCli } from './cli-main.js';

runCli(
  'detour-proxy',
  {
    proxy: {
      summary: 'run the sidecar (or gateway) proxy',
      load: () => import('../sidecar/proxy-command.js'),
    },
  },
  process.argv.slice(2),
);
