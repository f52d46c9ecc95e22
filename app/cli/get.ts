import { formatTable } from '../table.ts';
import {
  clientOf,
  clientOptions,
  defineCommand,
  jsonOption,
  need,
  readOptions,
  readQuery,
} from './shared.ts';

export const get = defineCommand({
  name: 'get',
  usage: [
    'get <projection> <key> [--max-staleness-ms N] [--after TOKEN] [--consistency strong] [--on-stale serve]',
  ],
  help: 'Usage: logfront get <projection> <key> [--max-staleness-ms N] [--after TOKEN] [--consistency strong] [--on-stale error|serve] [--json]\n\nReads one row through the facade.',
  options: { ...readOptions, ...jsonOption, ...clientOptions },
  run: async ({ values, positionals }, io) => {
    need('get', positionals, 2, '<projection> <key>');
    const r = await clientOf(io, values).get(positionals[0]!, positionals[1]!, readQuery(values));
    if (values.json) io.out(JSON.stringify(r));
    else {
      io.out(formatTable([r.data]));
      io.out(
        `\nsource ${r.meta.source}, staleness ${r.meta.stalenessMs} ms${r.meta.stale ? ' (stale)' : ''}`,
      );
    }
    return 0;
  },
});
