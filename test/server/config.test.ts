import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, SETTINGS } from '../../hooks/server/config.ts';

const root = join(import.meta.dirname, '..', '..');

describe('configuration', () => {
  it('has a default for every setting and the documented defaults', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8080);
    expect(config.host).toBe('0.0.0.0');
    expect(config.bodyLimitBytes).toBe(16 * 1024 * 1024);
    expect(config.logFormat).toBe('json');
    expect(config.metricsEnabled).toBe(true);
    expect(config.defaultPollIntervalSeconds).toBe(60);
    expect(config.namespace).toBe('kapsa-system');
    // Around Metacontroller's hook calls: 30s timeout, keep-alive connections idle for up to 90s.
    expect(config.httpHeadersTimeoutSeconds).toBe(10);
    expect(config.httpRequestTimeoutSeconds).toBe(60);
    expect(config.httpKeepAliveTimeoutSeconds).toBe(95);
    expect(config.httpMaxConnections).toBe(256);
    expect(Object.values(SETTINGS).every((setting) => setting.variable.startsWith('KAPSA_'))).toBe(true);
  });

  it('reads every variable', () => {
    const config = loadConfig({
      KAPSA_PORT: '9000',
      KAPSA_LOG_LEVEL: 'debug',
      KAPSA_LOG_FORMAT: 'console',
      KAPSA_METRICS_ENABLED: 'false',
      KAPSA_DEFAULT_POLL_INTERVAL: '5m',
      KAPSA_RESERVED_NAMESPACES: 'platform, monitoring,,',
      KAPSA_GIT_ALLOWED_HOSTS: '127.0.0.1:3000,git.internal',
      KAPSA_PROJECT_NAMESPACE_PREFIX: 'app-',
      KAPSA_HTTP_HEADERS_TIMEOUT: '5s',
      KAPSA_HTTP_REQUEST_TIMEOUT: '2m',
      KAPSA_HTTP_KEEPALIVE_TIMEOUT: '1m30s',
      KAPSA_HTTP_MAX_CONNECTIONS: '64',
    });
    expect(config).toMatchObject({
      port: 9000,
      logLevel: 'debug',
      logFormat: 'console',
      metricsEnabled: false,
      defaultPollIntervalSeconds: 300,
      reservedNamespaces: ['platform', 'monitoring'],
      gitAllowedHosts: ['127.0.0.1:3000', 'git.internal'],
      projectNamespacePrefix: 'app-',
      httpHeadersTimeoutSeconds: 5,
      httpRequestTimeoutSeconds: 120,
      httpKeepAliveTimeoutSeconds: 90,
      httpMaxConnections: 64,
    });
  });

  it.each([
    ['KAPSA_PORT', 'http'],
    ['KAPSA_PORT', '70000'],
    ['KAPSA_LOG_LEVEL', 'loud'],
    ['KAPSA_LOG_FORMAT', 'xml'],
    ['KAPSA_METRICS_ENABLED', 'yes please'],
    ['KAPSA_DEFAULT_POLL_INTERVAL', '1s'],
    ['KAPSA_DEFAULT_POLL_INTERVAL', 'often'],
    ['KAPSA_NAMESPACE', 'Not_A_Label'],
    ['KAPSA_BODY_LIMIT', '-1'],
    ['KAPSA_PROJECT_NAMESPACE_PREFIX', 'UPPER'],
    ['KAPSA_HTTP_HEADERS_TIMEOUT', '0s'],
    ['KAPSA_HTTP_HEADERS_TIMEOUT', '10'],
    ['KAPSA_HTTP_REQUEST_TIMEOUT', 'soon'],
    ['KAPSA_HTTP_REQUEST_TIMEOUT', '2h'],
    ['KAPSA_HTTP_KEEPALIVE_TIMEOUT', ''],
    ['KAPSA_HTTP_MAX_CONNECTIONS', '0'],
    ['KAPSA_HTTP_MAX_CONNECTIONS', 'many'],
  ])('refuses %s=%s with a message naming the variable', (variable, value) => {
    expect(() => loadConfig({ [variable]: value })).toThrowError(ConfigError);
    expect(() => loadConfig({ [variable]: value })).toThrowError(new RegExp(`^${variable}: `));
  });

  it('refuses a TLS certificate without its key, and a metrics port equal to the hook port', () => {
    expect(() => loadConfig({ KAPSA_TLS_CERT_FILE: '/tmp/cert.pem' })).toThrowError(/KAPSA_TLS_KEY_FILE/);
    expect(() => loadConfig({ KAPSA_METRICS_PORT: '8080' })).toThrowError(/KAPSA_METRICS_PORT/);
  });

  it('refuses a headers timeout longer than the request timeout (the headers are part of the request)', () => {
    expect(() => loadConfig({ KAPSA_HTTP_HEADERS_TIMEOUT: '30s', KAPSA_HTTP_REQUEST_TIMEOUT: '20s' })).toThrowError(
      /^KAPSA_HTTP_HEADERS_TIMEOUT: must not be longer than KAPSA_HTTP_REQUEST_TIMEOUT \(20s\), got 30s$/,
    );
    expect(() => loadConfig({ KAPSA_HTTP_HEADERS_TIMEOUT: '20s', KAPSA_HTTP_REQUEST_TIMEOUT: '20s' })).not.toThrow();
  });

  it.each([
    ['KAPSA_HTTP_REQUEST_TIMEOUT', 'a minute', 'KAPSA_HTTP_REQUEST_TIMEOUT: must be a duration such as 30s, 5m or 1h, got "a minute"'],
    ['KAPSA_HTTP_MAX_CONNECTIONS', '0', 'KAPSA_HTTP_MAX_CONNECTIONS: must be an integer from 1 to 65536, got "0"'],
  ])('stops the process with exit code 2 for %s=%s', (variable, value, message) => {
    const result = spawnSync(join(root, 'node_modules', '.bin', 'node'), [join(root, 'hooks', 'main.ts')], {
      env: { ...process.env, [variable]: value },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(`kapsa: invalid configuration: ${message}\n`);
  });

  it('stops the process with exit code 2 and names the variable', () => {
    const result = spawnSync(join(root, 'node_modules', '.bin', 'node'), [join(root, 'hooks', 'main.ts')], {
      env: { ...process.env, KAPSA_PORT: 'eighty' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('KAPSA_PORT');
  });
});

describe('the README configuration table', () => {
  it('lists every setting with its default', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    for (const setting of Object.values(SETTINGS)) {
      const shown = setting.default === '' ? '""' : setting.default;
      expect(readme, setting.variable).toContain(`| \`${setting.variable}\` | \`${shown}\` |`);
    }
  });
});
