import { expect } from 'chai';
import fc from 'fast-check';
import YAML from 'yaml';
import { DetourError } from '../../shared/errors.js';
import { injectManifests } from '../../webhook/inject-manifests.js';
import { defaultInjectorConfig } from '../../webhook/injector-config.js';
import { mutatedPod, validPod, yamlText } from '../support/arbitraries.js';

/**
 * Property-based tests of `detour inject` with hostile YAML. Each property says what
 * must hold; run counts are modest so the file takes a few seconds.
 */
const config = defaultInjectorConfig();

function inject(text: string): ReturnType<typeof injectManifests> {
  return injectManifests(text, config, { defaultNamespace: 'default', file: 'in.yaml' });
}

/** Workload documents around a (possibly broken) pod, with comments, as YAML text. */
const manifests = fc
  .array(
    fc.tuple(
      fc.oneof(
        validPod,
        mutatedPod.map((m) => m.pod),
      ),
      fc.constantFrom('Pod', 'Deployment', 'Service'),
    ),
    { minLength: 1, maxLength: 3 },
  )
  .map((docs) =>
    docs
      .map(([pod, kind]) => {
        const object =
          kind === 'Deployment'
            ? { apiVersion: 'apps/v1', kind, metadata: { name: 'd' }, spec: { template: pod } }
            : kind === 'Service'
              ? { apiVersion: 'v1', kind, metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } }
              : pod;
        return `# ${kind}\n${YAML.stringify(object)}`;
      })
      .join('---\n'),
  );

/** Throws anything that is not a clean refusal of the input. */
function expectCleanFailure(err: unknown): void {
  expect(err, String(err)).to.be.instanceOf(DetourError);
  expect((err as DetourError).code).to.equal('DETOUR_E_BAD_INPUT');
}

describe('detour inject properties (fast-check)', function () {
  this.timeout(60_000);

  it('any text: an output or a BadInputError saying where, never another exception', () => {
    fc.assert(
      fc.property(fc.oneof(yamlText, fc.string()), (text) => {
        try {
          inject(text);
        } catch (err) {
          expectCleanFailure(err);
          expect((err as Error).message).to.match(/^in\.yaml(:\d+:\d+)?: /);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('a stream where nothing is injected comes out byte for byte', () => {
    fc.assert(
      fc.property(yamlText, (text) => {
        let result;
        try {
          result = inject(text);
        } catch (err) {
          expectCleanFailure(err);
          return;
        }
        if (!result.report.objects.some((o) => o.result === 'injected')) {
          expect(result.output).to.equal(text);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('workloads with any wrong value: refusals name the object, or an output that reads back and is stable', () => {
    fc.assert(
      fc.property(manifests, (text) => {
        const { output, report } = inject(text);
        for (const err of report.refusals) {
          expect(err.message).to.match(/ \(in (Pod|Deployment)\/[^)]*\)$/);
        }
        if (report.refusals.length > 0) return;
        const before = YAML.parseAllDocuments(text, { version: '1.1' });
        const after = YAML.parseAllDocuments(output, { version: '1.1' });
        expect(after.map((d) => d.errors)).to.deep.equal(after.map(() => []));
        expect(after).to.have.length(before.length);
        // Injecting the output again changes nothing.
        expect(inject(output).output).to.equal(output);
      }),
      { numRuns: 150 },
    );
  });
});
