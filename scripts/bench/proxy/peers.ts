/**
 * The benchmark's upstream and the proxies detour is compared with (Debian's nginx and
 * haproxy, one worker/thread each): Host-routing reverse proxies with upstream
 * keep-alive and an access log to a file, as detour is configured.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, LOAD_CPU, PROXY_CPU } from './processes.js';

/** One nginx worker, its files in `dir` named after `name`; the http block left open. */
export function nginxPreamble(dir: string, name: string, accessLog: string): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/${name}.pid;
error_log ${dir}/${name}-error.log;
events { worker_connections 4096; }
http {
  access_log ${accessLog};
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir}; scgi_temp_path ${dir};`;
}

/** nginx `return 200` on the load CPU: the upstream every row goes to. */
export function startNginxUpstream(dir: string, port: number): ChildProcess {
  const conf = join(dir, 'upstream.conf');
  writeFileSync(
    conf,
    `${nginxPreamble(dir, 'upstream', 'off')}
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port};
    location / { return 200 "hello from upstream\\n"; }
    # The forwardAuth service of the ApiPolicy rows (proxy/policies.ts).
    location /auth { add_header x-consumer-id bench; return 204; }
  }
}
`,
  );
  return launch(LOAD_CPU, 'nginx', ['-p', dir, '-c', conf], join(dir, 'upstream.out'));
}

export function startNginxProxy(
  dir: string,
  port: number,
  upstream: number,
  host: string,
): ChildProcess {
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `${nginxPreamble(dir, 'nginx', `${dir}/nginx-access.log`)}
  keepalive_requests 1000000;
  upstream app { server 127.0.0.1:${upstream}; keepalive 64; }
  server { listen 127.0.0.1:${port} default_server; return 404; }
  server {
    listen 127.0.0.1:${port};
    server_name ${host};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`,
  );
  return launch(PROXY_CPU, 'nginx', ['-p', dir, '-c', conf], join(dir, 'nginx.out'));
}

export function startHaproxy(
  dir: string,
  port: number,
  upstream: number,
  host: string,
): ChildProcess {
  const conf = join(dir, 'haproxy.cfg');
  writeFileSync(
    conf,
    `global
  nbthread 1
  log stdout format raw local0
defaults
  mode http
  log global
  option httplog
  option forwardfor
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:${port}
  acl bench hdr(host) -i ${host}
  use_backend app if bench
  http-request deny deny_status 404 unless bench
backend app
  server s1 127.0.0.1:${upstream}
`,
  );
  return launch(PROXY_CPU, 'haproxy', ['-f', conf, '-db'], join(dir, 'haproxy.out'));
}
