import { expect } from 'chai';
import http from 'node:http';
import type { KubeAccess } from '../../shared/kube/kube-access.js';
import type { AuthContext } from '../../shared/kube/request-auth.js';
import { watchEvents, WatchStatusError } from '../../shared/kube/watch-events.js';
import { until } from '../support/eventually.js';
import { closeNow, listenOn } from '../../shared/server-lifecycle.js';

/** A plain-HTTP "API server" on loopback whose watch answer each test writes by hand. */
async function startServer(
  answer: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<{ access: KubeAccess; close: () => Promise<void> }> {
  const server = http.createServer(answer);
  const { port } = await listenOn(server, 0, '127.0.0.1');
  const access: KubeAccess = {
    getCurrentCluster: () => ({
      name: 'test',
      server: `http://127.0.0.1:${port}`,
      skipTLSVerify: false,
    }),
    applySecurityAuthentication: (context: AuthContext) => {
      context.setHeaderParam('Authorization', 'Bearer t0ken');
      return Promise.resolve();
    },
  };
  return {
    access,
    close: () => closeNow(server),
  };
}

interface Outcome {
  events: [string, unknown][];
  err: unknown;
}

function watchUntilDone(access: KubeAccess, path: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const events: [string, unknown][] = [];
    void watchEvents(
      access,
      path,
      { resourceVersion: '7', labelSelector: undefined },
      (type, object) => events.push([type, object]),
      (err) => {
        resolve({ events, err });
      },
    );
  });
}

describe('watchEvents (a watch over undici request(), read as JSON lines)', function () {
  this.timeout(10_000);

  it('sends the credentials and the query, and reads events split across chunks', async () => {
    let seen: http.IncomingMessage | undefined;
    const server = await startServer((req, res) => {
      seen = req;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n{"type":"MOD');
      setTimeout(() => {
        res.end('IFIED","object":{"metadata":{"name":"a"}}}\n\n');
      }, 20);
    });
    try {
      const { events, err } = await watchUntilDone(server.access, '/apis/x/v1/things');
      expect(err).to.equal(null);
      expect(events).to.deep.equal([
        ['ADDED', { metadata: { name: 'a' } }],
        ['MODIFIED', { metadata: { name: 'a' } }],
      ]);
      expect(seen?.headers.authorization).to.equal('Bearer t0ken');
      expect(seen?.url).to.equal('/apis/x/v1/things?watch=true&resourceVersion=7');
    } finally {
      await server.close();
    }
  });

  it('ends with a WatchStatusError carrying the status of a non-200 answer (410: relist)', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(410).end('{"kind":"Status","code":410}');
    });
    try {
      const { events, err } = await watchUntilDone(server.access, '/api/v1/pods');
      expect(events).to.deep.equal([]);
      expect(err).to.be.instanceOf(WatchStatusError);
      expect((err as WatchStatusError).statusCode).to.equal(410);
    } finally {
      await server.close();
    }
  });

  it('ends with an error, not a silent skip, on a line that is not an event', async () => {
    for (const bad of ['not json', '{"object":{}}']) {
      const server = await startServer((_req, res) => {
        res.writeHead(200);
        res.write('{"type":"ADDED","object":{}}\n');
        res.write(`${bad}\n`);
        res.write('{"type":"DELETED","object":{}}\n'); // never delivered
      });
      try {
        const { events, err } = await watchUntilDone(server.access, '/api/v1/pods');
        expect(events, bad).to.deep.equal([['ADDED', {}]]);
        expect(err, bad).to.be.instanceOf(Error);
        expect((err as Error).message, bad).to.match(
          /\/api\/v1\/pods: a watch (line is not JSON|event has no type)/,
        );
      } finally {
        await server.close();
      }
    }
  });

  it('stops: the connection closes and done is not called', async () => {
    let closed = false;
    const server = await startServer((req, res) => {
      res.writeHead(200);
      res.write('{"type":"ADDED","object":{}}\n');
      req.socket.on('close', () => {
        closed = true;
      });
    });
    try {
      let doneCalled = false;
      const got: string[] = [];
      const stop = await watchEvents(
        server.access,
        '/api/v1/pods',
        {},
        (type) => got.push(type),
        () => {
          doneCalled = true;
        },
      );
      await until(() => got.length > 0, 'the first event');
      stop();
      await until(() => closed, 'the watch connection to close');
      expect(got).to.deep.equal(['ADDED']);
      expect(closed).to.equal(true);
      expect(doneCalled).to.equal(false);
    } finally {
      await server.close();
    }
  });
});
