import { expect } from 'chai';
import { apiPolicyStatus, statusChanged } from '../../controller/api-policy-status.js';
import type { ApiPolicyOutcome } from '../../shared/compile/api-policies.js';

const T0 = '2026-11-29T10:00:00Z';
const T1 = '2026-11-30T00:00:00Z';

function outcome(over: Partial<ApiPolicyOutcome> = {}): ApiPolicyOutcome {
  return {
    namespace: 'shop',
    name: 'p',
    generation: 4,
    reportedBy: 'private',
    problem: undefined,
    routes: ['web.shop/'],
    lost: [],
    ...over,
  };
}

describe('ApiPolicy status (metav1.Condition rules)', () => {
  it('keeps lastTransitionTime while a condition keeps its status, and moves it on a flip', () => {
    const first = apiPolicyStatus(outcome(), undefined, T0);
    expect(first.conditions.map((c) => c.lastTransitionTime)).to.deep.equal([T0, T0]);
    const same = apiPolicyStatus(outcome({ generation: 5 }), first, T1);
    expect(same.conditions.map((c) => [c.lastTransitionTime, c.observedGeneration])).to.deep.equal([
      [T0, 5],
      [T0, 5],
    ]);
    const invalid = apiPolicyStatus(outcome({ problem: 'spec.x: bad', routes: [] }), same, T1);
    expect(
      invalid.conditions.map((c) => [c.type, c.status, c.reason, c.lastTransitionTime]),
    ).to.deep.equal([
      ['Accepted', 'False', 'Invalid', T1],
      ['Conflicted', 'Unknown', 'Invalid', T1],
    ]);
    expect(invalid.conditions[0]?.message).to.equal('spec.x: bad; the policy is skipped');
  });

  it('says when a valid policy matches no route', () => {
    const s = apiPolicyStatus(outcome({ routes: [] }), undefined, T0);
    expect(s.conditions[0]).to.deep.include({ status: 'True', reason: 'NoMatchingRoutes' });
  });

  it('names the winners of the first five lost routes, and counts the rest', () => {
    const lost = Array.from({ length: 7 }, (_, i) => ({
      route: `web.shop/r${String(i)}`,
      winner: 'shop/w',
      because: 'it is older',
    }));
    const message = apiPolicyStatus(outcome({ lost }), undefined, T0).conditions[1]?.message;
    expect(message).to.match(/^route web\.shop\/r0 carries ApiPolicy shop\/w \(it is older\); /);
    expect(message).to.match(/r4 carries ApiPolicy shop\/w \(it is older\); and 2 more$/);
  });

  it('counts only the fields it writes as a change', () => {
    const status = apiPolicyStatus(outcome(), undefined, T0);
    expect(statusChanged(undefined, status)).to.equal(true);
    expect(statusChanged(structuredClone(status), status)).to.equal(false);
    expect(statusChanged({ ...structuredClone(status), note: 'by hand' }, status)).to.equal(false);
    expect(statusChanged({ ...structuredClone(status), routes: [] }, status)).to.equal(true);
  });
});
