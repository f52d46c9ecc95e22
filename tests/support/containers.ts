// The Docker path of the test harness, for machines with a Docker engine: docker-compose.yml through
// testcontainers. infra.sh then finds the ports answering, reuses them and finishes their setup
// (registry compatibility, the bucket). Opt in with LOGFRONT_TEST_SERVICES=docker.
import { join } from 'node:path';

export const startComposeServices = async (root: string) => {
  const { DockerComposeEnvironment } = await import('testcontainers');
  const environment = await new DockerComposeEnvironment(root, 'docker-compose.yml').up();
  return async () => {
    await environment.down();
  };
};

export const composeFile = (root: string) => join(root, 'docker-compose.yml');
