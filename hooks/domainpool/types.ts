import { Type, type Static } from '@sinclair/typebox';
import { DnsLabel } from '../lib/schema.ts';
import { IssuerRef } from '../environment/types.ts';

const BaseDomain = Type.String({
  pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)+[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
  maxLength: 190,
  description: 'A base domain whose subdomains Kapsa hands out.',
});

export const DomainPoolSpec = Type.Object(
  {
    baseDomains: Type.Array(BaseDomain, { minItems: 1, maxItems: 32, description: 'Base domains of the pool.', 'x-kubernetes-list-type': 'set' }),
    certManager: Type.Object(
      { issuerRef: IssuerRef },
      { description: 'The cert-manager issuer of per-host certificates.' },
    ),
    allocationPolicy: Type.Object(
      {
        reservedSubdomains: Type.Array(DnsLabel(), {
          default: [],
          maxItems: 256,
          description: 'Subdomains no Project may claim (`www`, `admin`, …).',
          'x-kubernetes-list-type': 'set',
        }),
      },
      { default: {}, description: 'Rules for handing out subdomains. The oldest claim on a hostname wins.' },
    ),
    wildcard: Type.Optional(
      Type.Object(
        {
          enabled: Type.Boolean({ default: false, description: 'Serve previews under one `*.<base>` certificate per base domain instead of one certificate per host.' }),
          issuerRef: Type.Optional(IssuerRef),
          secretName: Type.Optional(DnsLabel({ maxLength: 253, description: 'TLS Secret of the wildcard certificates (default `<pool>-wildcard-<n>`).' })),
        },
        { description: 'Wildcard certificates for previews (needs a DNS-01 issuer).' },
      ),
    ),
  },
  { description: 'Base domains and the issuer that Projects draw their hostnames from.' },
);

export type DomainPoolSpec = Static<typeof DomainPoolSpec>;
