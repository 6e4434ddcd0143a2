import { expect } from 'chai';
import {
  encodeGrpcMessage,
  grpcStatusOfHttp,
  grpcTimeoutMs,
  isGrpc,
} from '../../sidecar/h2/grpc-status.js';
import { prefaceKind, H2_PREFACE } from '../../sidecar/h2/preface.js';

describe('gRPC over HTTP/2: content type, deadlines, messages', () => {
  it('tells gRPC content types from look-alikes', () => {
    expect(isGrpc('application/grpc')).to.equal(true);
    expect(isGrpc('application/grpc+proto')).to.equal(true);
    expect(isGrpc('application/grpc;charset=utf-8')).to.equal(true);
    expect(isGrpc('application/grpc-web')).to.equal(false);
    expect(isGrpc('application/grpcx')).to.equal(false);
    expect(isGrpc('application/json')).to.equal(false);
    expect(isGrpc(undefined)).to.equal(false);
  });

  it('reads grpc-timeout in every unit, and ignores hostile or malformed values', () => {
    expect(grpcTimeoutMs('1H')).to.equal(3_600_000);
    expect(grpcTimeoutMs('2M')).to.equal(120_000);
    expect(grpcTimeoutMs('3S')).to.equal(3_000);
    expect(grpcTimeoutMs('200m')).to.equal(200);
    expect(grpcTimeoutMs('1500u')).to.equal(2); // rounded up: never earlier than asked
    expect(grpcTimeoutMs('1n')).to.equal(1);
    expect(grpcTimeoutMs('99999999H')).to.equal(undefined); // past a timer's range
    expect(grpcTimeoutMs('123456789S')).to.equal(undefined); // more than 8 digits
    for (const bad of ['', 'S', '10', '10s', '-1S', '1.5S', ' 1S', '1 S', '0x10S', '1e3m']) {
      expect(grpcTimeoutMs(bad), bad).to.equal(undefined);
    }
    expect(grpcTimeoutMs(undefined)).to.equal(undefined);
  });

  it('percent-encodes grpc-message as the spec asks, plain ASCII unchanged', () => {
    expect(encodeGrpcMessage('no route for this path')).to.equal('no route for this path');
    expect(encodeGrpcMessage('100% sure')).to.equal('100%25 sure');
    expect(encodeGrpcMessage('Método\r\n')).to.equal('M%C3%A9todo%0D%0A');
  });

  it("maps a relayed HTTP status to gRPC's own table", () => {
    expect(grpcStatusOfHttp(401)).to.equal(16);
    expect(grpcStatusOfHttp(403)).to.equal(7);
    expect(grpcStatusOfHttp(404)).to.equal(12);
    expect(grpcStatusOfHttp(429)).to.equal(8);
    expect(grpcStatusOfHttp(503)).to.equal(14);
    expect(grpcStatusOfHttp(418)).to.equal(2);
  });

  it('recognises the HTTP/2 preface only when it is whole', () => {
    expect(prefaceKind(H2_PREFACE)).to.equal('h2');
    expect(prefaceKind(Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 0, 4])]))).to.equal('h2');
    expect(prefaceKind(H2_PREFACE.subarray(0, 10))).to.equal('more');
    expect(prefaceKind(Buffer.from('PRI * HTTP/2.0\r\n\r\nXX'))).to.equal('http1');
    expect(prefaceKind(Buffer.from('POST / HTTP/1.1\r\n'))).to.equal('http1');
    expect(prefaceKind(Buffer.from('GET / HTTP/1.1\r\n'))).to.equal('http1');
  });
});
