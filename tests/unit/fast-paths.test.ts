import { describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../app/logger.ts';
import {
  createFastPaths,
  KAFKAJS_VERSION,
  type KafkajsModules,
  kafkaFastPaths,
  kafkajsModules,
} from '../../connectors/kafka/fast-paths.ts';
import { type ProduceArgs, produceRequest } from '../../connectors/kafka/produce-encoder.ts';
import { decodeRecord } from '../../connectors/kafka/record-decoder.ts';

const REQUEST = 'src/protocol/request.js';
const PRODUCE_V3 = 'src/protocol/requests/produce/v3/request.js';
const RECORD_DECODER = 'src/protocol/recordBatch/record/v0/decoder.js';
const RECORD_BATCH_DECODER = 'src/protocol/recordBatch/v0/decoder.js';

/**
 * A kafkajs as the fast paths see it: the installed one's files (loaded for real, but never replaced:
 * replacements are only recorded), except those listed as missing or as loaded by kafkajs already.
 */
const givenKafkajs = (
  given: { version?: string; missing?: string[]; loadedAlready?: string[] } = {},
): KafkajsModules & { loads: string[]; replaced: [string, unknown][] } => {
  const loads: string[] = [];
  const replaced: [string, unknown][] = [];
  return {
    version: 'version' in given ? given.version : KAFKAJS_VERSION,
    loads,
    replaced,
    load: (file) => {
      loads.push(file);
      if (given.missing?.includes(file)) throw new Error(`Cannot find module '${file}'`);
      return kafkajsModules.load(file);
    },
    loaded: (file) => given.loadedAlready?.includes(file) ?? false,
    replace: (file, exports) => void replaced.push([file, exports]),
  };
};

const capturedLogger = () => {
  const lines: { level: number; msg: string; kafkaFastPaths?: unknown }[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
};

const args: ProduceArgs = { acks: -1, timeout: 1000, topicData: [] };

describe('kafkajs fast paths', () => {
  it('importing the Kafka connector installs nothing: the encoder and decoder say so if called', () => {
    expect(kafkaFastPaths()).toEqual({
      produceEncoder: false,
      recordDecoder: false,
      requestFraming: false,
      reason: 'not installed: no Kafka log or reader made yet',
    });
    expect(() => produceRequest(args)).toThrow(/the produce encoder is not installed/);
    expect(() => decodeRecord({} as never)).toThrow(/the record decoder is not installed/);
  });

  it('another kafkajs version: no private file is asked for, every fast path is off and says why', () => {
    const kafkajs = givenKafkajs({ version: '2.3.0' });
    const warnings: string[] = [];
    const paths = createFastPaths(kafkajs, (m) => warnings.push(m));

    const status = paths.install();

    expect(kafkajs.loads).toEqual([]);
    expect(kafkajs.replaced).toEqual([]);
    expect(status).toEqual({
      produceEncoder: false,
      recordDecoder: false,
      requestFraming: false,
      reason: 'kafkajs 2.3.0 is installed; the fast paths are written for 2.2.4',
    });
    expect(warnings).toHaveLength(1);
  });

  it('no kafkajs to be found: the fast paths are off, nothing throws', () => {
    const status = createFastPaths(givenKafkajs({ version: undefined }), () => {}).install();

    expect(status).toMatchObject({ produceEncoder: false, recordDecoder: false });
    expect(status.reason).toBe('kafkajs (not found) is installed; the fast paths are written for 2.2.4');
  });

  it('kafkajs’s files missing: every fast path falls back to kafkajs’s own code, with one warning through the logger', () => {
    const kafkajs = givenKafkajs({
      missing: [REQUEST, PRODUCE_V3, 'src/utils/long.js', 'src/protocol/encoder.js'],
    });
    const processWarnings: string[] = [];
    const paths = createFastPaths(kafkajs, (m) => processWarnings.push(m));
    const { logger, lines } = capturedLogger();

    const first = paths.install(logger);
    const again = paths.install(logger);

    expect(first).toEqual(again);
    expect(first).toMatchObject({ produceEncoder: false, recordDecoder: false, requestFraming: false });
    expect(first.reason).toBe(
      [
        "produce encoder: Cannot find module 'src/protocol/encoder.js'",
        "record decoder: Cannot find module 'src/utils/long.js'",
        "request framing: Cannot find module 'src/protocol/request.js'",
      ].join('; '),
    );
    expect(kafkajs.replaced).toEqual([]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 40,
      msg: `kafka fast paths: produce encoder off, record decoder off, request framing off; kafkajs's own code runs instead (${first.reason})`,
      kafkaFastPaths: first,
    });
    expect(processWarnings).toEqual([]);
  });

  it('without a logger, the one warning is a process warning', () => {
    const emit = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const paths = createFastPaths(givenKafkajs({ missing: [RECORD_DECODER] }));
      paths.install();
      paths.install();
      const { logger, lines } = capturedLogger();
      paths.install(logger);

      expect(emit).toHaveBeenCalledTimes(1);
      expect(emit.mock.calls[0]![0]).toMatch(/record decoder off.*Cannot find module/);
      expect(emit.mock.calls[0]![1]).toEqual({ type: 'LogfrontWarning', code: 'LOGFRONT_KAFKA_FAST_PATHS' });
      expect(lines).toEqual([]);
    } finally {
      emit.mockRestore();
    }
  });

  it('a record batch decoder kafkajs loaded first keeps its own record decoder; the produce encoder still goes in', () => {
    const kafkajs = givenKafkajs({ loadedAlready: [RECORD_BATCH_DECODER] });
    const status = createFastPaths(kafkajs, () => {}).install();

    expect(status).toEqual({
      produceEncoder: true,
      recordDecoder: false,
      requestFraming: true,
      reason:
        "record decoder: kafkajs had loaded its record batch decoder (fetched) before logfront's first Kafka log or reader",
    });
    expect(kafkajs.replaced.map(([file]) => file)).toEqual([REQUEST, PRODUCE_V3]);
    expect(kafkajs.replaced[1]![1]).toBe(produceRequest);
  });

  it('a record batch decoder that is not there puts kafkajs’s record decoder back', () => {
    const kafkajs = givenKafkajs({ missing: [RECORD_BATCH_DECODER] });
    const status = createFastPaths(kafkajs, () => {}).install();

    expect(status.recordDecoder).toBe(false);
    expect(status.reason).toBe(`record decoder: Cannot find module '${RECORD_BATCH_DECODER}'`);
    const decoders = kafkajs.replaced.filter(([file]) => file === RECORD_DECODER).map(([, e]) => e);
    expect(decoders).toEqual([decodeRecord, kafkajsModules.load(RECORD_DECODER)]);
  });

  it('kafkajs loaded before the connector: no framing, the rest goes in', () => {
    const status = createFastPaths(givenKafkajs({ loadedAlready: [REQUEST] }), () => {}).install();

    expect(status).toEqual({
      produceEncoder: true,
      recordDecoder: true,
      requestFraming: false,
      reason: "request framing: kafkajs was loaded before logfront's Kafka connector",
    });
  });

  it('the installed kafkajs is the one the fast paths are written for; a file it has not loaded is not replaced', () => {
    expect(kafkajsModules.version).toBe(KAFKAJS_VERSION);
    expect(() => kafkajsModules.replace('src/no-such-file.js', {})).toThrow(/is not loaded/);
  });
});
