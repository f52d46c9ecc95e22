// Preloaded with `node --require` (tests/integration/kafka-seam.test.ts): kafkajs's private files (its
// src/ folder) cannot be resolved from outside kafkajs, as if a kafkajs release had moved them. Resolving
// one from any other module fails as a missing file does (MODULE_NOT_FOUND); kafkajs's own requires,
// from inside its package, and its public entry points (index.js, package.json) resolve as before.
const Module = require('node:module');
const { dirname, join, sep } = require('node:path');

const kafkajs = dirname(require.resolve('kafkajs/package.json'));
const privateFiles = join(kafkajs, 'src') + sep;
const resolve = Module._resolveFilename;

Module._resolveFilename = function resolveFilename(request, parent, ...rest) {
  const file = resolve.call(this, request, parent, ...rest);
  const fromKafkajs = typeof parent?.filename === 'string' && parent.filename.startsWith(kafkajs + sep);
  if (file.startsWith(privateFiles) && !fromKafkajs) {
    const error = new Error(`Cannot find module '${request}' (hidden by ${__filename})`);
    error.code = 'MODULE_NOT_FOUND';
    throw error;
  }
  return file;
};
