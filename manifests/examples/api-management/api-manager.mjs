// api-manager: a small API-management service for detour's ApiPolicy forwardAuth.
// It checks a consumer's key, meters calls per consumer, and answers the forwardAuth
// contract (the one of nginx auth_request and Traefik ForwardAuth, README "ApiPolicy"):
//   2xx + x-consumer-id: the call goes on, and detour copies x-consumer-id onto it;
//   401 / 403 + a JSON body: detour relays this answer to the caller as it is.
// No dependencies: the example mounts this file from a ConfigMap into node:24-slim, and
// `npm run demo` runs the same file on loopback.
//
// Environment:
//   API_MANAGER_CONSUMERS   JSON map of key -> consumer id, e.g. {"k-1":"alice"}
//   API_MANAGER_KEY_HEADER  the header carrying the key (default x-api-key)
//   PORT, HOST              where to listen (default 8080 on every address)
// Endpoints: any method on /check (the forwardAuth call), GET /usage (calls per
// consumer), GET /healthz.
import { createServer } from 'node:http';

const consumers = new Map(Object.entries(JSON.parse(process.env.API_MANAGER_CONSUMERS ?? '{}')));
const keyHeader = (process.env.API_MANAGER_KEY_HEADER ?? 'x-api-key').toLowerCase();
const port = Number(process.env.PORT ?? '8080');
const host = process.env.HOST ?? '0.0.0.0';
/** consumer id -> { calls, last } */
const usage = new Map();

function answer(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body) + '\n');
}

/** What detour tells the auth service about the call it is checking. */
function callOf(req) {
  const h = req.headers;
  return {
    method: h['x-forwarded-method'],
    host: h['x-forwarded-host'],
    uri: h['x-forwarded-uri'],
    route: h['x-detour-route'],
    // Asserted by the caller's sidecar: informative until detour has mTLS.
    sourceNamespace: h['x-detour-source-namespace'],
    sourcePod: h['x-detour-source-pod'],
  };
}

function check(req, res) {
  const key = req.headers[keyHeader];
  const call = callOf(req);
  if (typeof key !== 'string' || key === '') {
    log({ decision: 'missing-key', ...call });
    return answer(
      res,
      401,
      { error: 'missing_api_key', message: `send your consumer key in the ${keyHeader} header` },
      { 'www-authenticate': `ApiKey header="${keyHeader}"` },
    );
  }
  const consumer = consumers.get(key);
  if (consumer === undefined) {
    log({ decision: 'unknown-key', ...call });
    return answer(res, 403, {
      error: 'unknown_api_key',
      message: 'this key belongs to no consumer',
    });
  }
  const metered = usage.get(consumer) ?? { calls: 0, last: undefined };
  metered.calls += 1;
  metered.last = call;
  usage.set(consumer, metered);
  log({ decision: 'allowed', consumer, calls: metered.calls, ...call });
  res.writeHead(204, { 'x-consumer-id': consumer });
  res.end();
}

function log(fields) {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), ...fields }) + '\n');
}

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/check') return check(req, res);
  if (path === '/usage' && req.method === 'GET') {
    return answer(res, 200, { consumers: Object.fromEntries(usage) });
  }
  if (path === '/healthz') return answer(res, 200, { ok: true });
  answer(res, 404, { error: 'not_found' });
});

server.listen(port, host, () => {
  const address = server.address();
  console.log(`api-manager listening on ${address.address}:${address.port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  });
}
