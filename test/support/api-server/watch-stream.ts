import type { ServerResponse } from 'node:http';
import type { LabelPredicate, ObjectPredicate } from './selectors.js';
import { apiVersionOf, type KubeObject, type ResourceDef } from './resources.js';
import type { StoreEvent, WatchEventType } from './store.js';

/**
 * One open `?watch=1` response: newline-delimited `{type, object}` JSON on a chunked
 * HTTP/1.1 body, filtered by the request's namespace and selectors. An object that
 * starts or stops matching a selector arrives as ADDED or DELETED, as the API server's
 * watch cache does.
 */
export class WatchStream {
  silenced = false;
  private bookmarkTimer: NodeJS.Timeout | undefined;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly res: ServerResponse,
    readonly def: ResourceDef,
    private readonly namespace: string | undefined,
    private readonly labels: LabelPredicate,
    private readonly fields: ObjectPredicate,
    private readonly onClose: (stream: WatchStream) => void,
  ) {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
    res.flushHeaders();
    res.on('close', () => {
      this.close();
    });
  }

  matches(obj: KubeObject | undefined): boolean {
    if (obj === undefined) return false;
    if (this.namespace !== undefined && obj.metadata.namespace !== this.namespace) return false;
    return this.labels(obj.metadata.labels ?? {}) && this.fields(obj);
  }

  /** Sends the store event as this watcher sees it (maybe as nothing at all). */
  deliver(event: StoreEvent): void {
    if (event.def.plural !== this.def.plural || event.def.group !== this.def.group) return;
    const now = event.type !== 'DELETED' && this.matches(event.object);
    const before = event.type !== 'ADDED' && this.matches(event.previous);
    let type: WatchEventType | undefined;
    if (now && before) type = 'MODIFIED';
    else if (now) type = 'ADDED';
    else if (before) type = 'DELETED';
    if (type !== undefined) this.send(type, event.object);
  }

  send(type: WatchEventType | 'BOOKMARK' | 'ERROR', object: unknown): void {
    if (this.closed || this.silenced) return;
    this.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  startBookmarks(intervalMs: number, currentRv: () => number): void {
    this.bookmarkTimer = setInterval(() => {
      // A bookmark carries only kind, apiVersion and the resourceVersion.
      // https://kubernetes.io/docs/reference/using-api/api-concepts/#watch-bookmarks
      this.send('BOOKMARK', {
        kind: this.def.kind,
        apiVersion: apiVersionOf(this.def),
        metadata: { resourceVersion: String(currentRv()) },
      });
    }, intervalMs);
    this.bookmarkTimer.unref();
  }

  endAfter(ms: number): void {
    this.timeoutTimer = setTimeout(() => {
      this.end();
    }, ms);
    this.timeoutTimer.unref();
  }

  /** Ends the stream cleanly (the server's timeoutSeconds, or after an ERROR event). */
  end(): void {
    if (!this.closed) this.res.end();
    this.close();
  }

  /** Drops the connection without a clean end, as a broken network would. */
  cut(): void {
    this.res.socket?.destroy();
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.bookmarkTimer);
    clearTimeout(this.timeoutTimer);
    this.onClose(this);
  }
}
