import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Logger } from '../../core/logger.ts';
import { installProduceEncoder, installRequestFraming } from './produce-encoder.ts';
import { installRecordDecoder } from './record-decoder.ts';

// logfront's fast paths through kafkajs 2.2.4 (its last release), and whether they are on.
//
// - produce encoder (produce-encoder.ts): kafkajs's Produce request, written once into one buffer;
// - request framing (produce-encoder.ts): the request header written in front of that buffer;
// - record decoder (record-decoder.ts): kafkajs's record decoder without its quadratic headers.
//
// Each writes or reads the same bytes and objects as kafkajs's own code (tested against it). kafkajs has
// no per-client hook for encoding or decoding, so each is put in Node's module cache in place of a
// kafkajs file (src/protocol/requests/produce/v3/request.js, src/protocol/request.js,
// src/protocol/recordBatch/record/v0/decoder.js). That cannot be confined to logfront's own clients:
// module-cache replacement is PROCESS-WIDE. Once installed, every kafkajs client of the process that
// loads the same kafkajs copy (same resolved directory) uses them, logfront's or not (an application's
// own producer next to the SDK, the benchmarks' raw producer). A kafkajs installed elsewhere (another
// copy in node_modules) is untouched. Confining them per client would mean reaching further into
// kafkajs's private objects (each client's broker pool, each broker's request lookup, a private copy of
// its fetch decoders): more private surface, not a safer seam. What is confined: the produce encoder and the record decoder are
// installed when a Kafka event log or partition reader is made (`installKafkaFastPaths`), never by an
// import, so an embedded-mode process keeps kafkajs's own code. The framing is put in place when this
// module is imported, because kafkajs reads src/protocol/request.js once, when it loads; until the
// produce encoder is installed it hands every request to kafkajs's framing unchanged.
//
// The rule for kafkajs's private files: none is loaded unless the installed kafkajs is exactly 2.2.4,
// each is loaded inside try/catch, and nothing here throws at import. A file that is not where 2.2.4
// has it (or any other failure) leaves that fast path off, kafkajs's own code in place, and ONE warning
// in the process: through the logger of the first log or reader that finds it, else a process warning.
// `kafkaFastPaths()` says which are on (logged when a Kafka event log is made, and the
// logfront_kafka_fast_path gauge).

/** the kafkajs version whose private files the fast paths replace and use */
export const KAFKAJS_VERSION = '2.2.4';

/** kafkajs's own files, reached by their path inside its package */
export interface KafkajsModules {
  /** the installed kafkajs's version; undefined when its package.json cannot be read */
  readonly version: string | undefined;
  /** the module at `file` (e.g. 'src/protocol/request.js'), loaded; throws when it is not there */
  load(file: string): unknown;
  /** whether `file` is loaded already (by kafkajs, or by `load`) */
  loaded(file: string): boolean;
  /** what a `require` of the loaded `file` returns from now on, kafkajs's included */
  replace(file: string, exports: unknown): void;
}

const require = createRequire(import.meta.url);

/** the installed kafkajs: its public package.json only, until a fast path asks for a private file */
export const kafkajsModules: KafkajsModules = (() => {
  let dir: string | undefined;
  let version: string | undefined;
  try {
    const manifest = require.resolve('kafkajs/package.json');
    dir = dirname(manifest);
    version = (require(manifest) as { version?: string }).version;
  } catch {
    // no kafkajs to speak of: `version` stays undefined and nothing private is asked for
  }
  const path = (file: string) => join(dir ?? 'kafkajs', file);
  return {
    version,
    load: (file) => require(path(file)),
    loaded: (file) => require.cache[path(file)] !== undefined,
    replace: (file, exports) => {
      const entry = require.cache[path(file)];
      if (!entry) throw new Error(`kafkajs's ${file} is not loaded`);
      entry.exports = exports;
    },
  };
})();

export interface KafkaFastPaths {
  /** Produce requests are written by logfront's encoder */
  produceEncoder: boolean;
  /** fetched records are decoded by logfront's decoder */
  recordDecoder: boolean;
  /** requests the produce encoder wrote are framed in place, not copied once more */
  requestFraming: boolean;
  /** why a fast path is off */
  reason?: string;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** runs `install`; undefined when it worked, else why not */
const attempt = (what: string, install: () => void): string | undefined => {
  try {
    install();
    return undefined;
  } catch (error) {
    return `${what}: ${messageOf(error)}`;
  }
};

/** a short line: which fast paths are on */
export const describeFastPaths = (s: KafkaFastPaths) =>
  `kafka fast paths: produce encoder ${s.produceEncoder ? 'on' : 'off'}, record decoder ${
    s.recordDecoder ? 'on' : 'off'
  }, request framing ${s.requestFraming ? 'on' : 'off'}`;

/**
 * The fast paths of one kafkajs (the installed one for the process; tests give others). The framing is
 * put in place at once; the rest by the first `install`.
 */
export const createFastPaths = (
  modules: KafkajsModules,
  processWarning: (message: string) => void = (message) =>
    process.emitWarning(message, { type: 'LogfrontWarning', code: 'LOGFRONT_KAFKA_FAST_PATHS' }),
) => {
  const unsupported =
    modules.version === KAFKAJS_VERSION
      ? undefined
      : `kafkajs ${modules.version ?? '(not found)'} is installed; the fast paths are written for ${KAFKAJS_VERSION}`;
  const framing = unsupported ?? attempt('request framing', () => installRequestFraming(modules));
  let installed: { produce: string | undefined; decoder: string | undefined } | undefined;
  let warned = false;

  const status = (): KafkaFastPaths => {
    const produce = installed ? installed.produce : 'not installed: no Kafka log or reader made yet';
    const decoder = installed ? installed.decoder : 'not installed: no Kafka log or reader made yet';
    const reasons = [...new Set([produce, decoder, framing].filter((r) => r !== undefined))];
    return {
      produceEncoder: produce === undefined,
      recordDecoder: decoder === undefined,
      requestFraming: framing === undefined && produce === undefined,
      ...(reasons.length ? { reason: reasons.join('; ') } : {}),
    };
  };

  // at-most-once: the first call installs; later ones only report
  const install = (logger?: Logger): KafkaFastPaths => {
    installed ??= {
      produce: unsupported ?? attempt('produce encoder', () => installProduceEncoder(modules)),
      decoder: unsupported ?? attempt('record decoder', () => installRecordDecoder(modules)),
    };
    const s = status();
    if (!warned && !(s.produceEncoder && s.recordDecoder)) {
      warned = true;
      const message = `${describeFastPaths(s)}; kafkajs's own code runs instead (${s.reason})`;
      if (logger) logger.warn({ kafkaFastPaths: s }, message);
      else processWarning(message);
    }
    return s;
  };

  return { install, status };
};

const fastPaths = createFastPaths(kafkajsModules);

/**
 * Installs the produce encoder and the record decoder (the first call in the process; later calls only
 * report). A fast path that cannot be installed stays off, kafkajs's own code runs, and the first call
 * that finds one off warns once: through `logger`, or as a process warning without one.
 */
export const installKafkaFastPaths = (logger?: Logger): KafkaFastPaths => fastPaths.install(logger);

/** which of logfront's kafkajs fast paths this process runs, and why one is off */
export const kafkaFastPaths = (): KafkaFastPaths => fastPaths.status();
