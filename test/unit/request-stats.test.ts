import { expect } from 'chai';
import { Registry } from 'prom-client';
import { RequestStats } from '../../sidecar/request-stats.js';

describe('request-stats', () => {
  it('serves counts by route and status and a cumulative latency histogram', async () => {
    const registry = new Registry();
    const stats = new RequestStats();
    stats.register(registry, 'x_requests_total', 'x_duration_seconds');
    stats.record('outbound', 'a.ns/', 200, 0.0004);
    stats.record('outbound', 'a.ns/', 200, 0.003);
    stats.record('outbound', 'a.ns/', 503, 40);
    stats.record('outbound', 'b "q"/', 404, 0.02);
    stats.record('inbound', 'a.ns/', 200, 0.001);
    expect(stats.count('a.ns/', 200)).to.equal(2);
    expect(stats.count('a.ns/', 200, 'inbound')).to.equal(1);
    const text = await registry.metrics();
    expect(text).to.contain('# TYPE x_requests_total counter');
    expect(text).to.contain('x_requests_total{direction="outbound",route="a.ns/",status="200"} 2');
    expect(text).to.contain('x_requests_total{direction="outbound",route="a.ns/",status="503"} 1');
    expect(text).to.contain(
      'x_requests_total{direction="outbound",route="b \\"q\\"/",status="404"} 1',
    );
    expect(text).to.contain('# TYPE x_duration_seconds histogram');
    expect(text).to.contain(
      'x_duration_seconds_bucket{le="0.0005",direction="outbound",route="a.ns/"} 1',
    );
    expect(text).to.contain(
      'x_duration_seconds_bucket{le="0.0025",direction="outbound",route="a.ns/"} 1',
    );
    expect(text).to.contain(
      'x_duration_seconds_bucket{le="0.005",direction="outbound",route="a.ns/"} 2',
    );
    expect(text).to.contain(
      'x_duration_seconds_bucket{le="30",direction="outbound",route="a.ns/"} 2',
    );
    expect(text).to.contain(
      'x_duration_seconds_bucket{le="+Inf",direction="outbound",route="a.ns/"} 3',
    );
    expect(text).to.contain('x_duration_seconds_count{direction="outbound",route="a.ns/"} 3');
    expect(text).to.contain('x_requests_total{direction="inbound",route="a.ns/",status="200"} 1');
    expect(text).to.match(/x_duration_seconds_sum\{direction="outbound",route="a.ns\/"\} 40\.003/);
  });
});
