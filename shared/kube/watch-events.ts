import { DetourError } from '../errors.js';
import type { KubeAccess } from './kube-access.js';
import { openKubeRequest } from './kube-request.js';

/** A watch request that ended with a status other than 200 (410 Gone: relist). */
export class WatchStatusError extends DetourError {
  constructor(
    readonly statusCode: number,
    path: string,
  ) {
    super('DETOUR_E_KUBE', `${path}: watch answered HTTP ${statusCode}`, { statusCode, path });
  }
}

/** A line of the watch stream: `{"type":"ADDED","object":{...}}`. */
export type WatchEventHandler = (type: string, object: unknown) => void;

/** Ends a watch; `done` then hears nothing more. */
export type StopWatch = () => void;

/**
 * One watch request, its answer read as newline-delimited JSON events as they arrive
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes),
 * what client-node's Watch does but over undici's `request()` (kube-request.ts says
 * why). `done` is called once: with null when the server ends the stream, or with the
 * error (a `WatchStatusError` for a non-200 answer, a `DETOUR_E_KUBE` error for a line
 * that is not an event, which the informer answers by watching again). Silence is the
 * caller's to judge (ResilientInformer's watchdog): there is no timer here.
 */
export async function watchEvents(
  kc: KubeAccess,
  path: string,
  query: Record<string, string | number | boolean | undefined>,
  onEvent: WatchEventHandler,
  done: (err: unknown) => void,
): Promise<StopWatch> {
  const controller = new AbortController();
  let ended = false;
  const end = (err: unknown): void => {
    if (ended) return;
    ended = true;
    controller.abort();
    done(err);
  };
  const stop: StopWatch = () => {
    ended = true;
    controller.abort();
  };
  let answer;
  try {
    answer = await openKubeRequest(kc, {
      path,
      query: { watch: true, ...query },
      signal: controller.signal,
    });
  } catch (err) {
    end(err);
    return stop;
  }
  const body = answer.body;
  if (answer.status !== 200) {
    body.resume();
    end(new WatchStatusError(answer.status, path));
    return stop;
  }
  let pending = '';
  body.setEncoding('utf8');
  body.on('data', (chunk: string) => {
    if (ended) return;
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      // A handler may stop the watch (stop() aborts): the rest of the chunk is dropped.
      if (controller.signal.aborted) return;
      if (line.trim() === '') continue;
      let event: { type?: unknown; object?: unknown };
      try {
        event = JSON.parse(line) as { type?: unknown; object?: unknown };
      } catch {
        end(new DetourError('DETOUR_E_KUBE', `${path}: a watch line is not JSON`, { path }));
        return;
      }
      if (typeof event.type !== 'string') {
        end(new DetourError('DETOUR_E_KUBE', `${path}: a watch event has no type`, { path }));
        return;
      }
      onEvent(event.type, event.object);
    }
  });
  body.on('error', (err: Error) => {
    end(err);
  });
  body.on('end', () => {
    end(null);
  });
  return stop;
}
