import { expect } from 'chai';
import fc from 'fast-check';
import { BadInputError } from '../../shared/errors.js';
import { ANNOTATIONS, INJECT_KEY } from '../../shared/labels.js';
import { parseReview } from '../../webhook/admission-review.js';
import { admit, type Admission } from '../../webhook/admit.js';
import { defaultInjectorConfig } from '../../webhook/injector-config.js';
import { parseJsonBody } from '../../webhook/json-body.js';
import { applyPatch } from '../../webhook/pod-patch.js';
import { formatPath } from '../../webhook/field-path.js';
import type { Pod } from '../../webhook/pod-types.js';
import { decodePatch, podCreateRequest } from '../support/admission.js';
import { anyValue, mutatedPod, validPod } from '../support/arbitraries.js';

/**
 * Property-based tests of the admission path with hostile input. Run counts are modest
 * so the file takes a few seconds; a failure prints the seed and the shrunk input.
 */
const config = defaultInjectorConfig();
const RUNS = { numRuns: 300 };

/** What every answer must be: no internal error, and a clean 400 when refused. */
function expectClean(a: Admission, uid: string): void {
  expect(a.result, a.reason).to.not.equal('error');
  expect(a.response.uid).to.equal(uid);
  if (!a.response.allowed) {
    expect(a.response.status?.code).to.equal(400);
    expect(a.response.status?.message).to.be.a('string').that.is.not.empty;
  }
}

/** The pod an injected admission produces: the patch must apply to the raw object. */
function patched(pod: unknown, a: Admission): Pod {
  return applyPatch(pod as object, decodePatch(a.response.patch));
}

describe('admission properties (fast-check)', function () {
  this.timeout(60_000);

  it('any request body: a 400 (BadInputError) or an admission, never an internal error', () => {
    const envelope = fc.record({
      apiVersion: fc.oneof(fc.constant('admission.k8s.io/v1'), anyValue),
      kind: fc.oneof(fc.constant('AdmissionReview'), anyValue),
      request: fc.oneof(
        anyValue,
        fc.record({
          uid: fc.oneof(fc.string({ minLength: 1 }), anyValue),
          kind: fc.oneof(fc.constant({ group: '', version: 'v1', kind: 'Pod' }), anyValue),
          operation: fc.oneof(fc.constantFrom('CREATE', 'UPDATE'), anyValue),
          namespace: fc.oneof(fc.string(), anyValue),
          subResource: fc.oneof(fc.constant(undefined), anyValue),
          object: fc.oneof(
            anyValue,
            validPod,
            mutatedPod.map((m) => m.pod),
          ),
        }),
      ),
    });
    const body = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      envelope.map((v) => JSON.stringify(v)),
    );
    fc.assert(
      fc.property(body, (text) => {
        let review;
        try {
          review = parseReview(parseJsonBody(Buffer.from(text)));
        } catch (err) {
          expect(err).to.be.instanceOf(BadInputError);
          return;
        }
        expectClean(admit(review.request, config), review.request.uid);
      }),
      RUNS,
    );
  });

  it('a valid pod is injected; the patch applies to it and injecting again changes nothing', () => {
    fc.assert(
      fc.property(validPod, (pod) => {
        const a = admit(podCreateRequest(pod), config);
        expectClean(a, a.response.uid);
        if (a.result === 'skipped') return; // a random annotation may opt it out: never, but allowed
        expect(a.result, a.reason).to.equal('injected');
        const out = patched(pod, a);
        expect(out.spec?.initContainers?.map((c) => c.name)).to.include('detour-proxy');
        expect(admit(podCreateRequest(out), config).result).to.equal('skipped');
      }),
      RUNS,
    );
  });

  it('a wrong value at any path: refused naming that path, or injected with a patch that applies', () => {
    fc.assert(
      fc.property(mutatedPod, ({ pod, path }) => {
        const a = admit(podCreateRequest(pod), config);
        expectClean(a, a.response.uid);
        if (a.result === 'refused') {
          const message = a.response.status?.message ?? '';
          const named = message.includes(formatPath(path)) || message.startsWith('annotation ');
          expect(named, `${message} names ${formatPath(path)}`).to.equal(true);
        }
        if (a.result === 'injected') {
          const out = patched(pod, a);
          expect(out.spec?.initContainers?.map((c) => c.name)).to.include('detour-proxy');
        }
      }),
      RUNS,
    );
  });

  it('any value of any detour.dev/ annotation: injected, or refused naming the annotation and value', () => {
    const keys = [INJECT_KEY, ...Object.values(ANNOTATIONS)];
    // Pieces of valid values, so that near-misses are as likely as garbage.
    const piece = fc.constantFrom(
      ...['80', '8080', '-', ',', ' ', '*', '0', '65536', '10.0.0.0/8', '::1', '/33', 'true'],
      ...['false', 'iptables', 'proxy-env', 'none', '100m', '64Mi', '1G', '0.5', 'e3', 'info'],
    );
    const value = fc.oneof(
      fc.string(),
      fc.string({ unit: 'grapheme' }),
      fc.array(piece, { maxLength: 4 }).map((p) => p.join('')),
    );
    fc.assert(
      fc.property(fc.constantFrom(...keys), value, (key, v) => {
        const pod = {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'p', annotations: { [key]: v } },
          spec: { containers: [{ name: 'app', image: 'nginx' }] },
        };
        const a = admit(podCreateRequest(pod), config);
        expectClean(a, a.response.uid);
        if (a.result === 'refused') {
          expect(a.response.status?.message).to.contain(
            `annotation ${key}: invalid value ${JSON.stringify(v)}`,
          );
        } else if (a.result === 'skipped') {
          expect([key, v]).to.deep.equal([INJECT_KEY, 'false']);
        } else {
          expect(patched(pod, a).spec?.initContainers).to.have.length.above(0);
        }
      }),
      { numRuns: 500 },
    );
  });
});
