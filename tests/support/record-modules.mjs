// Preloaded with `node --import` (tests/integration/loaded-modules.test.ts): records every module the
// process loads, one path or URL a line, in the file named by LOGFRONT_RECORD_MODULES.
// - ESM: a resolve hook (registered from this same file; hooks run on their own thread) appends each
//   resolved URL as it is resolved, before the import can run;
// - CommonJS: every file in the require cache when the process exits (what a CommonJS package loads
//   with `require` never passes the ESM hooks).
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

let out;

/** the hooks thread: `data` is the output file */
export const initialize = (data) => {
  out = data.out;
};

export const resolve = async (specifier, context, next) => {
  const resolved = await next(specifier, context);
  appendFileSync(out, `${resolved.url}\n`);
  return resolved;
};

const file = process.env.LOGFRONT_RECORD_MODULES;
if (isMainThread && file) {
  register(import.meta.url, { data: { out: file } });
  const cache = createRequire(import.meta.url).cache;
  process.on('exit', () => {
    appendFileSync(file, `${Object.keys(cache).join('\n')}\n`);
  });
}
