import { formatTable } from '../table.ts';
import {
  clientOf,
  clientOptions,
  defineCommand,
  jsonOption,
  need,
  readOptions,
  readQuery,
  UsageError,
} from './shared.ts';

export const list = defineCommand({
  name: 'list',
  usage: ['list <projection> [--filter COLUMN=VALUE]… [--limit N] [--cursor C] [freshness options as get]'],
  does: 'one page of rows (keyset pages; --cursor continues)',
  help: 'Usage: logfront list <projection> [--filter COLUMN=VALUE]… [--limit N] [--cursor C] [--max-staleness-ms N] [--after TOKEN] [--consistency strong] [--on-stale error|serve] [--json]\n\nReads one page of rows through the facade, ordered by key; equality filters on columns. Prints the\ncursor of the next page, if any: pass it as --cursor.',
  options: {
    filter: { type: 'string', multiple: true },
    limit: { type: 'string' },
    cursor: { type: 'string' },
    ...readOptions,
    ...jsonOption,
    ...clientOptions,
  },
  run: async ({ values, positionals }, io) => {
    need('list', positionals, 1, '<projection>');
    if (values.limit !== undefined && !/^\d+$/.test(values.limit))
      throw new UsageError('--limit takes a whole number of rows');
    const filters: Record<string, string> = {};
    for (const f of values.filter ?? []) {
      const eq = f.indexOf('=');
      if (eq < 1) throw new UsageError(`--filter takes COLUMN=VALUE, got "${f.slice(0, 80)}"`);
      filters[f.slice(0, eq)] = f.slice(eq + 1);
    }
    const r = await clientOf(io, values).list(positionals[0]!, {
      ...readQuery(values),
      ...(values.limit !== undefined ? { limit: Number(values.limit) } : {}),
      ...(values.cursor ? { cursor: values.cursor } : {}),
      filters,
    });
    if (values.json) io.out(JSON.stringify(r));
    else {
      io.out(r.items.length ? formatTable(r.items) : '(no rows)');
      io.out(
        `\n${r.items.length} rows, staleness ${String(r.meta.stalenessMs)} ms${r.meta.stale ? ' (stale)' : ''}${r.next ? `\nnext page: --cursor ${r.next}` : ''}`,
      );
    }
    return 0;
  },
});
