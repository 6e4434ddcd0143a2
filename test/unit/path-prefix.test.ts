import { expect } from 'chai';
import { isSegmentPrefix, normalisePath, segmentPrefixes } from '../../shared/path-prefix.js';

describe('path normalisation and segment prefixes', () => {
  for (const [raw, expected] of [
    ['/nodejs', '/nodejs'],
    ['/nodejs/', '/nodejs'],
    ['/', '/'],
    ['', '/'],
    ['nodejs', '/nodejs'],
    ['//a///b//', '/a/b'],
    ['/a/./b/../c', '/a/c'],
    ['/../../a', '/a'],
    ['/a?b=/c#d', '/a'],
    ['/%7Euser/%41', '/~user/A'],
    ['/a%2fb', '/a%2Fb'],
    ['/a%20b', '/a%20b'],
  ] as const) {
    it(`normalises ${JSON.stringify(raw)} to ${expected}`, () => {
      expect(normalisePath(raw)).to.equal(expected);
    });
  }

  it('matches by whole segments', () => {
    expect(isSegmentPrefix('/nodejs', '/nodejs')).to.equal(true);
    expect(isSegmentPrefix('/nodejs', '/nodejs/x')).to.equal(true);
    expect(isSegmentPrefix('/nodejs', '/nodejsfoo')).to.equal(false);
    expect(isSegmentPrefix('/nodejs/x', '/nodejs')).to.equal(false);
    expect(isSegmentPrefix('/', '/anything')).to.equal(true);
  });

  it('lists segment prefixes longest first, ending with the root once', () => {
    expect([...segmentPrefixes('/a/b/c')]).to.deep.equal(['/a/b/c', '/a/b', '/a', '/']);
    expect([...segmentPrefixes('/')]).to.deep.equal(['/']);
  });
});
