import { Type, type Static } from '@sinclair/typebox';
import { DnsLabel, StringEnum } from '../lib/schema.ts';

export const REGISTRY_TYPES = ['generic', 'dockerhub', 'ghcr', 'gcr', 'ecr', 'acr', 'harbor'] as const;

export const RegistrySpec = Type.Object(
  {
    type: StringEnum(REGISTRY_TYPES, {
      default: 'generic',
      description: 'Kind of registry (informational; every kind speaks the Docker Registry HTTP API v2).',
    }),
    endpoint: Type.String({
      pattern: '^https?://[^\\s/@]+/?$',
      maxLength: 253,
      description: 'Registry base URL, such as `https://registry.example.com`. Image references use its host.',
    }),
    auth: Type.Object(
      {
        secretRef: Type.Object(
          {
            name: DnsLabel({ maxLength: 253, description: 'Secret name.' }),
            namespace: Type.Optional(DnsLabel({ description: "Secret namespace (default: Kapsa's namespace)." })),
          },
          { description: 'A `kubernetes.io/dockerconfigjson` or `kubernetes.io/basic-auth` Secret with push credentials.' },
        ),
      },
      { description: 'Push credentials.' },
    ),
    imagePullSecret: Type.Object(
      {
        name: DnsLabel({ maxLength: 253, default: 'kapsa-registry', description: 'Name of the pull Secret in every project namespace.' }),
        generatePerNamespace: Type.Boolean({ default: true, description: 'Copy a pull Secret into every project namespace.' }),
      },
      { default: {}, description: 'How workloads pull images.' },
    ),
    insecureSkipTLSVerify: Type.Boolean({ default: false, description: 'Skip TLS verification when probing (for test registries only).' }),
    caBundle: Type.Optional(
      Type.String({ maxLength: 65536, description: 'PEM (or base64 of PEM) CA certificates trusted, besides the system ones, when probing.' }),
    ),
  },
  { description: 'A container registry Kapsa pushes images to.' },
);

export type RegistrySpec = Static<typeof RegistrySpec>;
