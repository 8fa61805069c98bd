/** The test registry itself: it fails loudly (never skips) without the Debian package. */
import { describe, expect, it } from 'vitest';
import { startRegistryServer } from '../support/registry-server.ts';

describe('startRegistryServer', () => {
  it('fails with the Debian package name when the binary is missing', async () => {
    await expect(startRegistryServer({ binary: '/nonexistent/docker-registry' })).rejects.toThrow(
      /\/nonexistent\/docker-registry not found: .*Debian package "docker-registry".*apt-get install -y docker-registry apache2-utils openssl/,
    );
  });

  it('serves the v2 API and stops cleanly', async () => {
    const server = await startRegistryServer({ auth: 'none' });
    try {
      const response = await fetch(`${server.endpoint}/v2/`);
      expect(response.status).toBe(200);
      expect(response.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    } finally {
      await server.stop();
    }
    await expect(fetch(`${server.endpoint}/v2/`)).rejects.toThrow();
  });
});
