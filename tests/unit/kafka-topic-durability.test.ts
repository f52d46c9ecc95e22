import { describe, expect, it } from 'vitest';
import { durabilityConfigs, minInsyncReplicasFor } from '../../connectors/kafka/topics.ts';

describe('the durability of the topics logfront makes', () => {
  it('asks two in-sync replicas from replication 3 on, and every replica below', () => {
    expect([1, 2, 3, 4, 5].map(minInsyncReplicasFor)).toEqual([1, 1, 2, 2, 2]);
  });

  it('sets min.insync.replicas from the replication unless it is given', () => {
    expect(durabilityConfigs(3)).toEqual([{ name: 'min.insync.replicas', value: '2' }]);
    expect(durabilityConfigs(1)).toEqual([{ name: 'min.insync.replicas', value: '1' }]);
    expect(durabilityConfigs(3, 3)).toEqual([{ name: 'min.insync.replicas', value: '3' }]);
  });
});
