import { formatTable } from '../table.ts';
import { clientOf, clientOptions, defineCommand, jsonOption, need, print } from './shared.ts';

export const projections = defineCommand({
  name: 'projections',
  usage: ['projections'],
  does: 'projection status: generation, state, lag, staleness, dead letters',
  help: 'Usage: logfront projections [--json]\n\nShows every projection with its generation, state, lag, staleness and dead letters.',
  options: { ...jsonOption, ...clientOptions },
  run: async ({ values, positionals }, io) => {
    need('projections', positionals, 0, 'no arguments');
    const r = await clientOf(io, values).projections();
    print(io, values.json, r, () =>
      formatTable(r.projections, ['name', 'generation', 'state', 'lagEvents', 'stalenessMs', 'deadLettered']),
    );
    return 0;
  },
});
