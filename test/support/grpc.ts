import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { upstreamIdentity, type TestUpstream } from './upstream.js';

/**
 * A real gRPC server (@grpc/grpc-js) for proxy tests, on a loopback address of the test's
 * choosing, with messages as raw bytes (no protobuf needed to test a proxy):
 * - Unary: answers `name|` + the request; request metadata `x-fail: CODE` answers that
 *   status instead, `x-delay-ms: N` waits first; `x-echo` comes back in the headers,
 *   and every answer carries the trailer `x-trailer: name`;
 * - ServerStream: the request `N:SIZE` asks for N messages of SIZE bytes;
 * - ClientStream: answers `count:bytes:sha256` of what it received;
 * - Bidi: echoes every message, prefixed with `name|`.
 */
const raw = {
  serialize: (b: Buffer): Buffer => b,
  deserialize: (b: Buffer): Buffer => b,
};

function method(name: string, requestStream: boolean, responseStream: boolean) {
  return {
    path: `/detour.test.Echo/${name}`,
    requestStream,
    responseStream,
    requestSerialize: raw.serialize,
    requestDeserialize: raw.deserialize,
    responseSerialize: raw.serialize,
    responseDeserialize: raw.deserialize,
  };
}

export const ECHO_SERVICE = {
  unary: method('Unary', false, false),
  serverStream: method('ServerStream', false, true),
  clientStream: method('ClientStream', true, false),
  bidi: method('Bidi', true, true),
} satisfies grpc.ServiceDefinition;

export const EchoClient = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
export type EchoClient = InstanceType<typeof EchoClient>;

export interface TestGrpcServer extends TestUpstream {
  /** Calls seen, by method name. */
  readonly calls: string[];
  /** Request metadata of the last call. */
  lastMetadata: grpc.Metadata | undefined;
  /** Calls that ended cancelled (the client or the proxy reset them). */
  cancelled: number;
}

function statusOf(n: number): grpc.status {
  const name = grpc.status[n] as keyof typeof grpc.status | undefined;
  return name === undefined ? grpc.status.UNKNOWN : grpc.status[name];
}

function trailer(name: string): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set('x-trailer', name);
  return m;
}

export async function startGrpcServer(name: string, host = '127.0.0.1'): Promise<TestGrpcServer> {
  const server = new grpc.Server();
  const calls: string[] = [];
  const state = { lastMetadata: undefined as grpc.Metadata | undefined, cancelled: 0 };
  const headersFor = (md: grpc.Metadata): grpc.Metadata => {
    const h = new grpc.Metadata();
    h.set('x-server', name);
    const echo = md.get('x-echo')[0];
    if (echo !== undefined) h.set('x-echo', echo);
    return h;
  };
  server.addService(ECHO_SERVICE, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
      calls.push('unary');
      state.lastMetadata = call.metadata;
      call.on('cancelled', () => state.cancelled++);
      const fail = call.metadata.get('x-fail')[0];
      const delay = Number(call.metadata.get('x-delay-ms')[0] ?? 0);
      setTimeout(() => {
        if (call.cancelled) return;
        call.sendMetadata(headersFor(call.metadata));
        if (fail !== undefined) {
          done({
            code: statusOf(Number(fail)),
            details: `failed as asked (${name})`,
            metadata: trailer(name),
          });
          return;
        }
        done(null, Buffer.concat([Buffer.from(`${name}|`), call.request]), trailer(name));
      }, delay);
    },
    serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      calls.push('serverStream');
      state.lastMetadata = call.metadata;
      call.on('cancelled', () => state.cancelled++);
      const [count, size] = call.request.toString().split(':').map(Number) as [number, number];
      call.sendMetadata(headersFor(call.metadata));
      let i = 0;
      const write = (): void => {
        while (i < count && !call.cancelled) {
          const ok = call.write(Buffer.alloc(size, i % 251));
          i++;
          if (!ok) {
            call.once('drain', write);
            return;
          }
        }
        if (!call.cancelled) call.end(trailer(name));
      };
      write();
    },
    clientStream: (
      call: grpc.ServerReadableStream<Buffer, Buffer>,
      done: grpc.sendUnaryData<Buffer>,
    ) => {
      calls.push('clientStream');
      state.lastMetadata = call.metadata;
      const hash = createHash('sha256');
      let count = 0;
      let bytes = 0;
      call.on('data', (m: Buffer) => {
        count++;
        bytes += m.length;
        hash.update(m);
      });
      call.on('end', () => {
        call.sendMetadata(headersFor(call.metadata));
        done(null, Buffer.from(`${count}:${bytes}:${hash.digest('hex')}`), trailer(name));
      });
    },
    bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      calls.push('bidi');
      state.lastMetadata = call.metadata;
      call.on('cancelled', () => state.cancelled++);
      call.sendMetadata(headersFor(call.metadata));
      call.on('data', (m: Buffer) => {
        call.write(Buffer.concat([Buffer.from(`${name}|`), m]));
      });
      call.on('end', () => {
        call.end(trailer(name));
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (err, p) => {
      if (err === null) resolve(p);
      else reject(err);
    });
  });
  return {
    ...upstreamIdentity(name, host, port),
    calls,
    get lastMetadata() {
      return state.lastMetadata;
    },
    set lastMetadata(m) {
      state.lastMetadata = m;
    },
    get cancelled() {
      return state.cancelled;
    },
    set cancelled(n) {
      state.cancelled = n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}

/** A client that reaches `authority` through the proxy at `port` (h2c, prior knowledge). */
export function clientThrough(port: number, authority: string): EchoClient {
  return new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.default_authority': authority,
  });
}

export function unary(
  client: EchoClient,
  body: Buffer,
  metadata = new grpc.Metadata(),
  options: grpc.CallOptions = {},
): Promise<{ reply: Buffer; headers: grpc.Metadata; status: grpc.StatusObject }> {
  return new Promise((resolve, reject) => {
    let headers = new grpc.Metadata();
    let reply: Buffer | undefined;
    let failure: grpc.ServiceError | undefined;
    const call = client.makeUnaryRequest(
      ECHO_SERVICE.unary.path,
      raw.serialize,
      raw.deserialize,
      body,
      metadata,
      options,
      (err: grpc.ServiceError | null, value?: Buffer) => {
        if (err !== null) failure = err;
        else reply = value;
      },
    );
    call.on('metadata', (m: grpc.Metadata) => {
      headers = m;
    });
    call.on('status', (status: grpc.StatusObject) => {
      // 'status' comes after the callback: settle with both.
      setImmediate(() => {
        if (failure !== undefined) reject(failure);
        else resolve({ reply: reply as Buffer, headers, status });
      });
    });
  });
}

export { grpc };
