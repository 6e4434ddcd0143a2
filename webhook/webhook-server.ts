import https from 'node:https';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Registry } from 'prom-client';
import { BadInputError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { parseReview, reviewResponse } from './admission-review.js';
import { admit } from './admit.js';
import { parseJsonBody } from './json-body.js';
import type { InjectorConfig } from './injector-config.js';
import type { KeyPair } from './tls-files.js';
import { createWebhookMetrics } from './webhook-metrics.js';

/**
 * The admission server: `POST /mutate`, `GET /healthz`, `GET /ready`, `GET /metrics` over HTTPS.
 * Bad input gets a 4xx with a message, never a 500 and never a crash; the answer to a
 * well-formed review is always a 200 AdmissionReview (refusals are `allowed: false`).
 */
export interface WebhookServerOptions {
  port: number;
  host?: string;
  tls: KeyPair;
  config: InjectorConfig;
  logger: Logger;
  registry: Registry;
  /** Largest accepted body; Pods are at most ~1.5 MB in etcd, reviews carry one. */
  bodyLimit?: string;
  /** `GET /ready` answers 503 once this says true (the drain before exit). */
  draining?: () => boolean;
}

export const DEFAULT_BODY_LIMIT = '3mb';

export function createWebhookApp(
  options: Omit<WebhookServerOptions, 'port' | 'host' | 'tls'>,
): express.Express {
  const { config, logger, registry } = options;
  const metrics = createWebhookMetrics(registry);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });

  // The readiness probe's endpoint: failing it first takes the replica out of the
  // Service while it still answers the calls already routed to it.
  app.get('/ready', (_req, res) => {
    if (options.draining?.() === true) res.status(503).type('text/plain').send('draining\n');
    else res.type('text/plain').send('ok\n');
  });

  app.get('/metrics', (_req, res, next) => {
    registry.metrics().then((text) => res.type(registry.contentType).send(text), next);
  });

  app.post(
    '/mutate',
    (req, res, next) => {
      res.locals.start = process.hrtime.bigint();
      // The API server always sends application/json; anything else is not a review.
      // type-is answers null when there is no body at all.
      const type = req.is('application/json');
      if (type === null) {
        sendError(res, 400, 'empty request body: expected an AdmissionReview');
        return;
      }
      if (type !== 'application/json') {
        sendError(
          res,
          415,
          `expected Content-Type application/json, got ${req.get('content-type') ?? 'none'}`,
        );
        return;
      }
      next();
    },
    // Raw bytes, so that the nesting depth is checked before JSON.parse (json-body.ts).
    express.raw({ type: 'application/json', limit: options.bodyLimit ?? DEFAULT_BODY_LIMIT }),
    (req: Request, res: Response) => {
      let review;
      try {
        const body: unknown = req.body;
        if (!Buffer.isBuffer(body)) throw new BadInputError('empty request body');
        review = parseReview(parseJsonBody(body));
      } catch (err) {
        sendError(res, 400, errorMessage(err));
        return;
      }
      const { apiVersion, request } = review;
      const admission = admit(request, config);
      const seconds = Number(process.hrtime.bigint() - (res.locals.start as bigint)) / 1e9;
      metrics.observe(admission.result, seconds);
      const meta = (
        request.object as { metadata?: { name?: string; generateName?: string } } | undefined
      )?.metadata;
      const fields = {
        uid: request.uid,
        namespace: request.namespace,
        pod: meta?.name ?? meta?.generateName,
        result: admission.result,
        reason: admission.reason,
        dryRun: request.dryRun === true,
        ms: Math.round(seconds * 1e6) / 1e3,
      };
      if (admission.result === 'error') logger.error(fields, 'admission failed');
      else if (admission.result === 'skipped') logger.debug(fields, 'admission');
      else logger.info(fields, 'admission');
      res.json(reviewResponse(apiVersion, admission.response));
    },
  );

  app.use((_req, res) => {
    sendError(
      res,
      404,
      'not found; the webhook serves POST /mutate, GET /healthz, GET /ready, GET /metrics',
    );
  });

  // body-parser's errors carry a status (400 aborted, 413 too large, 415 encoding).
  // Express recognises an error handler by its four parameters, hence the unused one.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: unknown }).status;
    const code = typeof status === 'number' && status >= 400 && status < 500 ? status : 500;
    if (code === 500) logger.error({ err: errorMessage(err) }, 'webhook request failed');
    sendError(res, code, errorMessage(err));
  });

  return app;
}

function sendError(res: Response, status: number, message: string): void {
  res.status(status).json({ error: message });
}

export interface RunningWebhook {
  server: https.Server;
  port: number;
  /** From now on `GET /ready` answers 503; `/mutate` is still served. */
  drain(): void;
  /**
   * Stops accepting, lets requests in flight finish (up to `graceMs`), then cuts what
   * is left: the API server retries a webhook call on another endpoint, but not one
   * whose connection dropped mid-answer.
   */
  close(graceMs?: number): Promise<void>;
}

export async function startWebhookServer(options: WebhookServerOptions): Promise<RunningWebhook> {
  let draining = false;
  const app = createWebhookApp({ ...options, draining: () => draining });
  const server = https.createServer({ cert: options.tls.cert, key: options.tls.key }, app);
  // Bound slow or stuck clients; the API server itself gives up after timeoutSeconds.
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '::', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    drain: () => {
      draining = true;
    },
    close: (graceMs = 0) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.closeAllConnections();
        }, graceMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
