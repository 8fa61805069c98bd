import { Type, type Static } from '@sinclair/typebox';
import { cel, DnsLabel, StringEnum } from '../lib/schema.ts';

/**
 * The Environment spec: everything the Environment hook needs to run one deployed version of a
 * Project. The Project hook writes it; a platform team may also write one by hand.
 */

const Quantity = (description: string) =>
  Type.String({ description, maxLength: 32, pattern: '^[0-9]+(\\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$' });

export const ResourceList = Type.Object(
  {
    cpu: Type.Optional(Quantity('CPU, in cores or millicores (`250m`).')),
    memory: Type.Optional(Quantity('Memory, in bytes with a unit (`256Mi`).')),
  },
  { description: 'A set of compute resource quantities.' },
);

export const Resources = Type.Object(
  {
    requests: Type.Optional(ResourceList),
    limits: Type.Optional(ResourceList),
  },
  { description: 'Compute resources of the application container.' },
);

export const Autoscaling = Type.Object(
  {
    enabled: Type.Boolean({ default: false, description: 'Scale with a HorizontalPodAutoscaler instead of a fixed replica count.' }),
    minReplicas: Type.Integer({ minimum: 1, maximum: 1000, default: 1, description: 'Lower bound of the autoscaler.' }),
    maxReplicas: Type.Integer({ minimum: 1, maximum: 1000, default: 5, description: 'Upper bound of the autoscaler.' }),
    targetCPUUtilizationPercentage: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 80,
      description: 'Average CPU utilisation, in percent of the request, that the autoscaler aims for.',
    }),
  },
  {
    description: 'Horizontal autoscaling.',
    ...cel({ rule: 'self.minReplicas <= self.maxReplicas', message: 'minReplicas must not exceed maxReplicas' }),
  },
);

export const Port = Type.Object(
  {
    name: DnsLabel({ maxLength: 15, description: 'Port name (an IANA service name, at most 15 characters).' }),
    containerPort: Type.Integer({ minimum: 1, maximum: 65535, description: 'Port the application listens on.' }),
    protocol: StringEnum(['TCP', 'UDP'] as const, { default: 'TCP', description: 'Transport protocol.' }),
  },
  { description: 'A port the application listens on.' },
);

export const Probe = Type.Object(
  {
    path: Type.String({ pattern: '^/[^\\s]*$', maxLength: 1024, description: 'HTTP path to GET.' }),
    port: Type.Optional(Type.String({ maxLength: 15, description: 'Name of the port to probe (defaults to the first port).' })),
    initialDelaySeconds: Type.Integer({ minimum: 0, maximum: 3600, default: 0, description: 'Seconds before the first probe.' }),
    periodSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 10, description: 'Seconds between probes.' }),
    timeoutSeconds: Type.Integer({ minimum: 1, maximum: 600, default: 1, description: 'Seconds before a probe times out.' }),
    failureThreshold: Type.Integer({ minimum: 1, maximum: 100, default: 3, description: 'Consecutive failures before the probe fails.' }),
  },
  { description: 'An HTTP GET probe.' },
);

export const Probes = Type.Object(
  {
    readiness: Type.Optional(Probe),
    liveness: Type.Optional(Probe),
    startup: Type.Optional(Probe),
  },
  { description: 'HTTP probes of the application container.' },
);

export const EnvVar = Type.Object(
  {
    name: Type.String({
      pattern: '^[-._a-zA-Z][-._a-zA-Z0-9]*$',
      maxLength: 253,
      description: 'Variable name.',
    }),
    value: Type.String({ maxLength: 32768, default: '', description: 'Literal value. Secrets belong in secretRefs, not here.' }),
  },
  { description: 'A literal environment variable.' },
);

/** Runtime settings, used as-is by an Environment and as defaults plus overrides by a Project. */
export const RuntimeProperties = {
  replicas: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, description: 'Replica count when autoscaling is off (default 1).' })),
  resources: Type.Optional(Resources),
  autoscaling: Type.Optional(Autoscaling),
  ports: Type.Optional(
    Type.Array(Port, {
      maxItems: 16,
      description: 'Ports the application listens on; the first one is exposed through the Ingress (default `http` 8080).',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    }),
  ),
  probes: Type.Optional(Probes),
  command: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 64, description: 'Overrides the image entrypoint.' })),
  args: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 64, description: 'Arguments to the entrypoint.' })),
};

export const Runtime = Type.Object(RuntimeProperties, { description: 'How the application runs.' });

const NameList = (description: string) =>
  Type.Array(DnsLabel({ maxLength: 253 }), { maxItems: 32, description, 'x-kubernetes-list-type': 'set' });

export const EnvList = Type.Array(EnvVar, {
  maxItems: 256,
  description: 'Literal environment variables of the application container.',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['name'],
});

export const IssuerRef = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 253, description: 'Name of the cert-manager issuer.' }),
    kind: StringEnum(['ClusterIssuer', 'Issuer'] as const, { default: 'ClusterIssuer', description: 'Issuer kind.' }),
    group: Type.String({ default: 'cert-manager.io', maxLength: 253, description: 'Issuer API group.' }),
  },
  { description: 'The cert-manager issuer that signs the certificate.' },
);

const HOSTNAME_PATTERN = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)+[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

export const EnvironmentIngress = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'Expose the environment through an Ingress.' }),
    host: Type.Optional(
      Type.String({ pattern: HOSTNAME_PATTERN, maxLength: 253, description: 'Fully qualified hostname the environment answers on.' }),
    ),
    path: Type.String({ default: '/', pattern: '^/[A-Za-z0-9/._~%!$&\'()*+,;=:@-]*$', maxLength: 1024, description: 'URL path prefix.' }),
    className: Type.Optional(Type.String({ maxLength: 253, description: 'IngressClass name; the cluster default when empty.' })),
    tls: Type.Optional(
      Type.Object(
        {
          enabled: Type.Boolean({ default: true, description: 'Serve HTTPS with a cert-manager Certificate.' }),
          secretName: Type.Optional(DnsLabel({ maxLength: 253, description: 'Secret that holds the certificate.' })),
          issuerRef: Type.Optional(IssuerRef),
          managed: Type.Boolean({
            default: true,
            description:
              'Request a Certificate for this host. False when the secret is provided otherwise (a wildcard certificate copied in).',
          }),
        },
        { description: 'TLS for the Ingress.' },
      ),
    ),
  },
  {
    description: 'How the environment is reached from outside the cluster.',
    ...cel({ rule: '!self.enabled || has(self.host)', message: 'ingress.host is required when the ingress is enabled' }),
  },
);

export const EnvironmentSpec = Type.Object(
  {
    project: DnsLabel({ description: 'The Project this environment belongs to.' }),
    type: StringEnum(['standard', 'preview'] as const, {
      default: 'standard',
      description: '`standard` for an environment listed in the Project, `preview` for a feature branch.',
    }),
    branch: Type.Optional(Type.String({ maxLength: 255, description: 'The git branch deployed here.' })),
    commit: Type.Optional(
      Type.String({ pattern: '^([0-9a-f]{7,64})?$', maxLength: 64, description: 'Git commit of the image (informational).' }),
    ),
    image: Type.String({
      default: '',
      maxLength: 1024,
      description: 'Image reference to run (digest preferred). Empty until the first build succeeds: no Deployment is made until then.',
    }),
    runtime: Type.Optional(Runtime),
    ingress: Type.Optional(EnvironmentIngress),
    configRefs: Type.Optional(NameList('ConfigMaps in this namespace whose keys become environment variables.')),
    secretRefs: Type.Optional(NameList('Secrets in this namespace whose keys become environment variables.')),
    env: Type.Optional(EnvList),
    imagePullSecrets: Type.Optional(NameList('Secrets used to pull the image.')),
    progressDeadlineSeconds: Type.Integer({
      minimum: 30,
      maximum: 86400,
      default: 600,
      description: 'How long a rollout may take before the environment is marked Failed.',
    }),
    serviceAccountName: Type.Optional(DnsLabel({ maxLength: 253, description: 'ServiceAccount the pods run as (its token is never mounted).' })),
  },
  { description: 'One deployed version of a Project.' },
);

export type EnvironmentSpec = Static<typeof EnvironmentSpec>;
export type RuntimeSpec = Static<typeof Runtime>;
export type PortSpec = Static<typeof Port>;
export type ProbeSpec = Static<typeof Probe>;
