import { describe, expect, it } from 'vitest';
import { formatTable } from '../../app/table.ts';

describe('formatTable', () => {
  it('prints a header, a rule and the rows, columns padded to their widest cell', () => {
    const table = formatTable([
      { orderId: 'o-1', status: 'placed', totalCents: 350 },
      { orderId: 'o-1000', status: 'shipped', totalCents: 5 },
    ]);

    expect(table.split('\n')).toEqual([
      'orderId  status   totalCents',
      '-------  -------  ----------',
      'o-1      placed   350',
      'o-1000   shipped  5',
    ]);
  });

  it('the columns given choose and order what is shown', () => {
    const table = formatTable([{ a: 1, b: 2, c: 3 }], ['c', 'a']);

    expect(table).toBe('c  a\n-  -\n3  1');
  });

  it('without columns, every key of every row is a column, in order of first appearance', () => {
    const table = formatTable([{ a: 1 }, { b: 2, a: 3 }]);

    expect(table.split('\n')).toEqual(['a  b', '-  -', '1', '3  2']);
  });

  it('null and undefined cells are blank; objects are JSON', () => {
    const table = formatTable(
      [{ id: 'x', meta: { k: [1, 2] }, gone: null, missing: undefined, ok: true, n: 10n }],
      ['id', 'meta', 'gone', 'missing', 'ok', 'n'],
    );

    expect(table.split('\n')[2]).toBe('x   {"k":[1,2]}                 true  10');
  });

  it('no line ends in spaces', () => {
    const table = formatTable([
      { name: 'a long value', note: '' },
      { name: 'b', note: '' },
    ]);

    for (const line of table.split('\n')) expect(line).toBe(line.trimEnd());
  });

  it('no rows give the header and the rule', () => {
    expect(formatTable([], ['orderId', 'status'])).toBe('orderId  status\n-------  ------');
  });

  it('a header wider than its cells sets the width', () => {
    expect(formatTable([{ longheader: 1, b: 2 }]).split('\n')[2]).toBe('1           2');
  });
});
