import { readFileSync } from 'node:fs';
import { parseDurationSeconds } from '../lib/duration.ts';
import { isDnsLabel } from '../lib/names.ts';

/**
 * Every setting of the service, read from `KAPSA_*` environment variables and checked once at
 * start. The table is also the documentation: the README's configuration section and the chart's
 * values mirror it (a test keeps them in step).
 */

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Parser<T> = (raw: string, variable: string) => T;

const fail = (variable: string, message: string): never => {
  throw new ConfigError(`${variable}: ${message}`);
};

const text: Parser<string> = (raw) => raw;
const integer =
  (min: number, max: number): Parser<number> =>
  (raw, variable) => {
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) fail(variable, `must be an integer from ${min} to ${max}, got "${raw}"`);
    return value;
  };
const boolean: Parser<boolean> = (raw, variable) => {
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  return fail(variable, `must be true or false, got "${raw}"`);
};
const oneOf =
  <const T extends readonly string[]>(values: T): Parser<T[number]> =>
  (raw, variable) =>
    (values as readonly string[]).includes(raw) ? (raw as T[number]) : fail(variable, `must be one of ${values.join(', ')}, got "${raw}"`);
const durationSeconds =
  (min: number, max = Infinity): Parser<number> =>
  (raw, variable) => {
    const seconds = parseDurationSeconds(raw);
    if (seconds === undefined) return fail(variable, `must be a duration such as 30s, 5m or 1h, got "${raw}"`);
    if (seconds < min) return fail(variable, `must be at least ${min}s, got "${raw}"`);
    if (seconds > max) return fail(variable, `must be at most ${max}s, got "${raw}"`);
    return seconds;
  };
const dnsLabel: Parser<string> = (raw, variable) => (isDnsLabel(raw) ? raw : fail(variable, `must be a DNS label, got "${raw}"`));

const list: Parser<string[]> = (raw) =>
  raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
const namespacePrefix: Parser<string> = (raw, variable) =>
  raw === '' || /^[a-z0-9]([-a-z0-9]*)?$/.test(raw) ? raw : fail(variable, `must be lowercase letters, digits and dashes, got "${raw}"`);

/** Shorter keys could be guessed offline from one Project's token. */
const RECEIVER_KEY_MIN_LENGTH = 32;
const receiverKey: Parser<string> = (raw, variable) =>
  raw === '' || raw.length >= RECEIVER_KEY_MIN_LENGTH ? raw : fail(variable, `must be at least ${RECEIVER_KEY_MIN_LENGTH} characters (or empty to turn push webhooks off)`);
/** Where forges reach the service; only ever shown to tenants, so it must be an absolute base URL. */
const receiverUrl: Parser<string> = (raw, variable) => {
  if (raw === '') return raw;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail(variable, `must be an absolute https URL such as https://kapsa.example.com, got "${raw}"`);
  }
  const loopback = url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) return fail(variable, `must be an https URL (http only for localhost), got "${raw}"`);
  // Not echoed: a URL with credentials in it should not end up in a crash log.
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') return fail(variable, 'must carry no credentials, query or fragment');
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
};

interface Setting<T> {
  variable: string;
  default: string;
  description: string;
  parse: Parser<T>;
}

const setting = <T>(variable: string, defaultValue: string, description: string, parse: Parser<T>): Setting<T> => ({
  variable,
  default: defaultValue,
  description,
  parse,
});

export const SETTINGS = {
  port: setting('KAPSA_PORT', '8080', 'Port of the hook server.', integer(1, 65535)),
  host: setting('KAPSA_HOST', '0.0.0.0', 'Address the hook server binds to.', text),
  logLevel: setting('KAPSA_LOG_LEVEL', 'info', 'Log level: fatal, error, warn, info, debug, trace.', oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const)),
  logFormat: setting('KAPSA_LOG_FORMAT', 'json', 'Log format: `json` (one object per line) or `console` (human readable).', oneOf(['json', 'console'] as const)),
  metricsEnabled: setting('KAPSA_METRICS_ENABLED', 'true', 'Serve Prometheus metrics on `/metrics`.', boolean),
  metricsPort: setting('KAPSA_METRICS_PORT', '0', 'A separate port for `/metrics`; 0 serves them on the hook port.', integer(0, 65535)),
  bodyLimitBytes: setting('KAPSA_BODY_LIMIT', '16777216', 'Largest hook request body, in bytes.', integer(1024, 1024 * 1024 * 1024)),
  namespace: setting('KAPSA_NAMESPACE', 'kapsa-system', "Kapsa's own namespace (shared Secrets, wildcard certificates).", dnsLabel),
  metacontrollerNamespace: setting('KAPSA_METACONTROLLER_NAMESPACE', 'metacontroller', "Metacontroller's namespace; never given to a Project.", dnsLabel),
  projectNamespacePrefix: setting('KAPSA_PROJECT_NAMESPACE_PREFIX', '', 'Prefix of every project namespace (`<prefix><project>`).', namespacePrefix),
  reservedNamespaces: setting('KAPSA_RESERVED_NAMESPACES', '', 'More namespace names no Project may take, comma separated (`default`, `kube-*` and Kapsa\'s and Metacontroller\'s are always reserved).', list),
  ingressClass: setting('KAPSA_INGRESS_CLASS', '', 'IngressClass of every Ingress; the cluster default when empty.', text),
  defaultPollIntervalSeconds: setting('KAPSA_DEFAULT_POLL_INTERVAL', '1m', 'Git poll interval of a Project that sets none.', durationSeconds(10)),
  reconciliationTimeoutSeconds: setting('KAPSA_RECONCILIATION_TIMEOUT', '10m', 'How long a rollout may take before its environment is marked failed (Deployment progress deadline).', durationSeconds(30)),
  kpackClusterBuilder: setting('KAPSA_KPACK_BUILDER', 'default', 'kpack ClusterBuilder used by buildpack builds.', text),
  kpackServiceAccount: setting('KAPSA_KPACK_SERVICE_ACCOUNT', 'kapsa-build', 'Name of the build ServiceAccount made in every project namespace.', dnsLabel),
  buildkitImage: setting('KAPSA_BUILDKIT_IMAGE', 'moby/buildkit:v0.25.2-rootless', 'BuildKit image of Dockerfile build Jobs.', text),
  gitAllowHttp: setting('KAPSA_GIT_ALLOW_HTTP', 'false', 'Allow plain-HTTP git repositories.', boolean),
  gitAllowedHosts: setting('KAPSA_GIT_ALLOWED_HOSTS', '', 'Hosts (`host` or `host:port`, comma separated) exempt from the private-address guard.', list),
  gitTimeoutSeconds: setting('KAPSA_GIT_TIMEOUT', '10s', 'Time limit of one git poll.', durationSeconds(1)),
  gitMaxConcurrentPolls: setting('KAPSA_GIT_MAX_CONCURRENT_POLLS', '8', 'Polls running at once, across all Projects.', integer(1, 256)),
  gitMaxTrackedBranches: setting('KAPSA_GIT_MAX_TRACKED_BRANCHES', '100', 'Branches recorded per Project (environment branches first).', integer(1, 1000)),
  registryProbeIntervalSeconds: setting('KAPSA_REGISTRY_PROBE_INTERVAL', '5m', 'How often a Registry\'s credentials are checked.', durationSeconds(10)),
  registryProbeTimeoutSeconds: setting('KAPSA_REGISTRY_PROBE_TIMEOUT', '5s', 'Time limit of one registry check.', durationSeconds(1)),
  webhookToken: setting('KAPSA_WEBHOOK_TOKEN', '', 'Bearer token every `/hooks/*` request must carry; no check when empty.', text),
  webhookTokenFile: setting('KAPSA_WEBHOOK_TOKEN_FILE', '', 'File holding the bearer token (wins over KAPSA_WEBHOOK_TOKEN).', text),
  receiverKey: setting('KAPSA_RECEIVER_KEY', '', "Key every Project's push-webhook token is derived from (at least 32 characters); push webhooks are off and no `kapsa-webhook` Secret is made when empty.", receiverKey),
  receiverUrl: setting('KAPSA_RECEIVER_URL', '', 'Public base URL where forges reach the service (https); a Project\'s webhook URL is `<this>/receivers/projects/<project>`.', receiverUrl),
  reconcileMinIntervalSeconds: setting('KAPSA_RECONCILE_MIN_INTERVAL', '5s', 'At most one forced poll (reconcile request or push) per repository per this interval.', durationSeconds(1, 3600)),
  tlsCertFile: setting('KAPSA_TLS_CERT_FILE', '', 'Serve HTTPS with this certificate (PEM); plain HTTP when empty.', text),
  tlsKeyFile: setting('KAPSA_TLS_KEY_FILE', '', 'Private key of KAPSA_TLS_CERT_FILE.', text),
  // Metacontroller calls every hook with `timeout: 30s` over keep-alive connections of Go's default
  // transport (idle ones closed after 90s); these limits sit around those numbers.
  httpHeadersTimeoutSeconds: setting('KAPSA_HTTP_HEADERS_TIMEOUT', '10s', 'Time a client gets to send the request headers; then the connection is closed.', durationSeconds(1, 3600)),
  httpRequestTimeoutSeconds: setting('KAPSA_HTTP_REQUEST_TIMEOUT', '60s', "Time a client gets to send a whole request, body included; keep it above Metacontroller's hook timeout (30s).", durationSeconds(1, 3600)),
  httpKeepAliveTimeoutSeconds: setting('KAPSA_HTTP_KEEPALIVE_TIMEOUT', '95s', "How long an idle keep-alive connection stays open; above the 90s Metacontroller's HTTP client keeps one, so the client closes first.", durationSeconds(1, 3600)),
  httpMaxConnections: setting('KAPSA_HTTP_MAX_CONNECTIONS', '256', 'Open connections each server (hooks, metrics) accepts; more are closed at once.', integer(1, 65536)),
  // Forges send a few KiB per push (Bitbucket caps its payloads at 256 KiB); a body is held whole
  // in memory to check its signature, and anyone who can reach /receivers/ can send one.
  receiverBodyLimitBytes: setting('KAPSA_RECEIVER_BODY_LIMIT', '1048576', 'Largest push-webhook body, in bytes.', integer(1024, 32 * 1024 * 1024)),
  kubeconfig: setting('KAPSA_KUBECONFIG', '', 'Kubeconfig file the push-webhook receiver talks to the API server with; the in-cluster service account when empty.', text),
} as const;

type Settings = typeof SETTINGS;
export type Config = { readonly [K in keyof Settings]: Settings[K] extends Setting<infer T> ? T : never };

/** Reads the configuration; throws a ConfigError naming the variable at the first bad value. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const values: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(SETTINGS) as Array<[string, Setting<unknown>]>) {
    values[key] = item.parse(env[item.variable] ?? item.default, item.variable);
  }
  const config = values as Config;
  if (config.tlsCertFile !== '' && config.tlsKeyFile === '') fail('KAPSA_TLS_KEY_FILE', 'is required with KAPSA_TLS_CERT_FILE');
  if (config.tlsKeyFile !== '' && config.tlsCertFile === '') fail('KAPSA_TLS_CERT_FILE', 'is required with KAPSA_TLS_KEY_FILE');
  if (config.metricsPort !== 0 && config.metricsPort === config.port) fail('KAPSA_METRICS_PORT', 'must differ from KAPSA_PORT (or be 0)');
  // The headers are part of the request: a longer headers limit would never apply (and node refuses it).
  if (config.httpHeadersTimeoutSeconds > config.httpRequestTimeoutSeconds) {
    fail('KAPSA_HTTP_HEADERS_TIMEOUT', `must not be longer than KAPSA_HTTP_REQUEST_TIMEOUT (${config.httpRequestTimeoutSeconds}s), got ${config.httpHeadersTimeoutSeconds}s`);
  }
  return config;
}

/** The default configuration, for tests and the render CLI. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({}), ...overrides };
}

/** The webhook token, read from its file when one is named. */
export function webhookToken(config: Config): string {
  if (config.webhookTokenFile === '') return config.webhookToken;
  try {
    return readFileSync(config.webhookTokenFile, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(`KAPSA_WEBHOOK_TOKEN_FILE: cannot read ${config.webhookTokenFile}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}
