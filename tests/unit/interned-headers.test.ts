import { describe, expect, it } from 'vitest';
import { header, internedHeader } from '../../connectors/kafka/records.ts';

describe('record headers', () => {
  it('an interned header reads right past the texts it keeps, however many types go by', () => {
    const types = Array.from({ length: 40 }, (_, i) => `Type${i}`);
    for (const round of [1, 2]) {
      for (const type of types) {
        expect(internedHeader({ ce_type: Buffer.from(type) }, 'ce_type'), `round ${round}`).toBe(type);
      }
    }
    // the same length and other bytes is another text
    expect(internedHeader({ ce_type: Buffer.from('Type39') }, 'ce_type')).toBe('Type39');
    expect(internedHeader({ ce_type: Buffer.from('Typf39') }, 'ce_type')).toBe('Typf39');
    expect(internedHeader({ ce_type: 'AsText' }, 'ce_type')).toBe('AsText');
    expect(internedHeader({}, 'ce_type')).toBeUndefined();
  });

  it('a header given more than once reads as its first value', () => {
    expect(header({ ce_type: [Buffer.from('A'), Buffer.from('B')] }, 'ce_type')).toBe('A');
    expect(internedHeader({ ce_type: [Buffer.from('First'), Buffer.from('B')] }, 'ce_type')).toBe('First');
    expect(header(undefined, 'ce_type')).toBeUndefined();
  });
});
