import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { Pod as PodModel } from 'kubernetes-models/v1';
import { admit } from '../../webhook/admit.js';
import { defaultInjectorConfig } from '../../webhook/injector-config.js';
import { applyPatch } from '../../webhook/pod-patch.js';
import { decodePatch, podCreateRequest } from '../support/admission.js';

/**
 * Istio-style golden tests: one input pod per behaviour in test/testdata/inject/NAME.yaml,
 * the expected outcome in NAME.yaml.injected (the patched pod, or `# skipped: ...` /
 * `# refused: ...`). `npm run golden:refresh` rewrites them; review the diff.
 */
const DIR = fileURLToPath(new URL('../testdata/inject/', import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const config = defaultInjectorConfig();

function render(pod: object): string {
  const admission = admit(podCreateRequest(pod), config);
  const header = (admission.response.warnings ?? []).map((w) => `# warning: ${w}\n`).join('');
  if (admission.result !== 'injected') {
    return `${header}# ${admission.result}: ${admission.reason ?? ''}\n`;
  }
  const injected = applyPatch(pod, decodePatch(admission.response.patch));
  return header + YAML.stringify(injected, { lineWidth: 0 });
}

describe('injection golden files (test/testdata/inject)', () => {
  const cases = fs
    .readdirSync(DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort();

  it('has a case per behaviour', () => {
    expect(cases.length).to.be.greaterThan(30);
  });

  for (const file of cases) {
    it(path.basename(file, '.yaml'), () => {
      const pod = YAML.parse(fs.readFileSync(path.join(DIR, file), 'utf8')) as object;
      const actual = render(pod);
      const goldenPath = path.join(DIR, `${file}.injected`);
      if (UPDATE) fs.writeFileSync(goldenPath, actual);
      expect(fs.existsSync(goldenPath), `${goldenPath} missing: run npm run golden:refresh`).to.be
        .true;
      expect(actual).to.equal(fs.readFileSync(goldenPath, 'utf8'));

      if (actual.includes('# refused:')) {
        expect(actual, 'a refusal names the annotation or the field').to.match(
          /annotation \S+: invalid value|cannot read the pod: [\w.[\]"/-]+: expected/,
        );
      }
      if (!actual.startsWith('# skipped') && !actual.includes('# refused')) {
        const injected = YAML.parse(actual) as object;
        // The schema check is kubernetes-models' OpenAPI validator, not our own rules.
        new PodModel(injected).validate();
        const again = admit(podCreateRequest(injected), config);
        expect(again.response.patch, 'injecting twice changes nothing').to.equal(undefined);
        expect(again.result).to.equal('skipped');
      }
    });
  }
});
