import { Type, type Static } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../lib/duration.ts';
import { BRANCH_GLOB_PATTERN, BRANCH_NAME_DESCRIPTION, BRANCH_NAME_PATTERN, KAPSA_SHORT_NAME_RULE } from '../lib/git-refs.ts';
import { cel, DnsLabel, StringEnum } from '../lib/schema.ts';
import { EnvList, RuntimeProperties } from '../environment/types.ts';

/**
 * The Project spec, the one resource a developer writes. Field names follow the original Kapsa
 * CRDs (repository, build, registry, domain, environments, previewEnvironments); `runtime`,
 * `primary`, `revision` and `maxActive` are additions.
 */

const Duration = (description: string, minimumSeconds: number, defaultValue?: string) =>
  Type.String({
    pattern: DURATION_PATTERN,
    minLength: 2,
    maxLength: 16,
    description,
    ...(defaultValue === undefined ? {} : { default: defaultValue }),
    ...cel({ rule: `duration(self) >= duration('${minimumSeconds}s')`, message: `must be at least ${minimumSeconds}s` }),
  });

/** A branch Kapsa follows: git's branch-name rules and Kapsa's short-name rule (lib/git-refs.ts). */
const BranchName = (options: { description: string; default?: string }) =>
  Type.String({
    minLength: 1,
    maxLength: 255,
    pattern: BRANCH_NAME_PATTERN,
    ...options,
    description: `${options.description} Must be ${BRANCH_NAME_DESCRIPTION}.`,
    ...cel(KAPSA_SHORT_NAME_RULE),
  });

/** A glob of branch names (`feature/*`): the branch-name characters and components, with `*`. */
const BranchGlob = Type.String({
  minLength: 1,
  maxLength: 255,
  pattern: BRANCH_GLOB_PATTERN,
  description: 'A glob of branch names; `*` is the only wildcard character git names leave free, so the rest follows the branch-name rules.',
});

/**
 * A path inside the repository (build.dockerfile, build.context): relative, `/`-separated, and
 * never leaving the repository, so no `..` segment, no leading `/`, no backslash (BuildKit would
 * read a Windows-style path as one odd file name, or another tool as a separator), no whitespace
 * or control characters. Written for both regex dialects (ECMAScript and RE2): no lookaround.
 */
const PATH_CHAR = '[^\\x00-\\x20\\x7f/\\\\]';
const PATH_NON_DOT = '[^\\x00-\\x20\\x7f/\\\\.]';
const PATH_SEGMENT = `(?:${PATH_NON_DOT}${PATH_CHAR}*|\\.(?:${PATH_NON_DOT}${PATH_CHAR}*|\\.${PATH_CHAR}+)?)`;
/** A relative path of segments other than `..` (empty segments and a trailing `/` are allowed). */
export const REPOSITORY_PATH_PATTERN = `^${PATH_SEGMENT}(?:/${PATH_SEGMENT}?)*$`;
/** The same, or empty (the repository root). */
export const REPOSITORY_DIRECTORY_PATTERN = `^(?:${PATH_SEGMENT}(?:/${PATH_SEGMENT}?)*)?$`;

const SecretRef = Type.Object(
  {
    name: DnsLabel({ maxLength: 253, description: 'Secret name.' }),
    namespace: Type.Optional(
      DnsLabel({
        description:
          "Namespace of the Secret: the project namespace (default), or Kapsa's own namespace when that Secret is annotated `kapsa-project.io/share-with-projects` with this Project's name.",
      }),
    ),
  },
  { description: 'A reference to a Secret.' },
);

export const Repository = Type.Object(
  {
    url: Type.String({
      pattern: '^https?://[^\\s/@]+(/[^\\s]*)?$',
      maxLength: 2048,
      description: 'Git repository URL (https; http only where the platform allows it). No credentials in the URL: use credentials.',
    }),
    branch: BranchName({ default: 'main', description: 'Default branch, deployed by environments that name none.' }),
    pollInterval: Type.Optional(Duration('How often the branch heads are polled (default from KAPSA_DEFAULT_POLL_INTERVAL).', 10)),
    credentials: Type.Optional(
      Type.Object(
        { secretRef: SecretRef },
        { description: 'A Secret with `username` and `password` (or `token`) keys for HTTP basic auth to the git server.' },
      ),
    ),
  },
  { description: 'The git repository Kapsa polls and builds.' },
);

const BuildArg = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', maxLength: 253, description: 'Name.' }),
    value: Type.String({ default: '', maxLength: 32768, description: 'Value.' }),
  },
  { description: 'A name and a value.' },
);

export const Build = Type.Object(
  {
    strategy: StringEnum(['buildpacks', 'dockerfile'] as const, {
      default: 'buildpacks',
      description: '`buildpacks` builds with kpack (Cloud Native Buildpacks); `dockerfile` builds the Dockerfile with BuildKit.',
    }),
    dockerfile: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        pattern: REPOSITORY_PATH_PATTERN,
        description: 'Dockerfile path relative to the context (strategy dockerfile; default `Dockerfile`). Relative, without `..` segments, backslashes or whitespace.',
      }),
    ),
    context: Type.Optional(
      Type.String({
        maxLength: 1024,
        pattern: REPOSITORY_DIRECTORY_PATTERN,
        description: 'Build context: a directory of the repository, relative to its root (default the root). Relative, without `..` segments, backslashes or whitespace.',
      }),
    ),
    args: Type.Optional(
      Type.Array(BuildArg, {
        maxItems: 64,
        description: 'Build arguments (Dockerfile ARG values).',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      }),
    ),
    env: Type.Optional(
      Type.Array(BuildArg, {
        maxItems: 64,
        description: 'Environment variables of the build (buildpack settings such as BP_NODE_VERSION).',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      }),
    ),
  },
  {
    default: {},
    description: 'How images are built.',
    ...cel(
      { rule: "!has(self.dockerfile) || self.strategy == 'dockerfile'", message: 'build.dockerfile is only allowed with strategy dockerfile' },
      { rule: "!has(self.args) || self.strategy == 'dockerfile'", message: 'build.args are only allowed with strategy dockerfile' },
    ),
  },
);

export const ProjectRegistry = Type.Object(
  {
    name: DnsLabel({ maxLength: 253, description: 'The Registry (cluster-scoped, provided by an admin) images are pushed to.' }),
    imageRepository: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$',
        maxLength: 255,
        description: 'Repository path inside the registry (default: the Project name).',
      }),
    ),
  },
  { description: 'Where images go.' },
);

export const Domain = Type.Object(
  {
    subdomain: DnsLabel({ description: 'The Project\'s subdomain: the primary environment answers on `<subdomain>.<base domain>`.' }),
    domainPoolRef: Type.Object({ name: DnsLabel({ maxLength: 253, description: 'DomainPool name.' }) }, { description: 'The DomainPool the base domain comes from.' }),
    baseDomain: Type.Optional(
      Type.String({ maxLength: 253, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?$', description: 'One of the pool\'s base domains; by default Kapsa picks one, stably.' }),
    ),
  },
  { description: 'Hostnames of the Project.' },
);

const Runtime = Type.Object(RuntimeProperties, { description: 'Runtime defaults of every environment; each environment may override them.' });

const NameList = (description: string) =>
  Type.Array(DnsLabel({ maxLength: 253 }), { maxItems: 32, description, 'x-kubernetes-list-type': 'set' });

export const ProjectEnvironment = Type.Object(
  {
    name: DnsLabel({
      maxLength: 30,
      pattern: '^[a-z]([-a-z0-9]*[a-z0-9])?$',
      description: 'Environment name (a DNS label starting with a letter); also its hostname label (`<name>.<subdomain>.<base>`).',
    }),
    branch: Type.Optional(BranchName({ description: 'Branch deployed here (default: repository.branch).' })),
    autoSync: Type.Boolean({ default: true, description: 'Deploy every new commit of the branch once its build succeeds. When false, the environment moves only by `revision`.' }),
    primary: Type.Optional(Type.Boolean({ description: 'Serve the bare `<subdomain>.<base>` hostname (default: the environment named prod or production).' })),
    revision: Type.Optional(
      Type.String({ pattern: '^[0-9a-f]{7,40}$', maxLength: 40, description: 'Commit (full SHA or a prefix of at least 7) to promote here; it must have been built before.' }),
    ),
    runtime: Type.Optional(Runtime),
    env: Type.Optional(EnvList),
    configRefs: Type.Optional(NameList('ConfigMaps in the project namespace whose keys become environment variables.')),
    secretRefs: Type.Optional(
      NameList(
        "Secrets in the project namespace whose keys become environment variables; the Project's admins and developers may read and change these (and no other Secret). Kapsa's own copies (kapsa-registry-push, the Registry's pull Secret, kapsa-git, kapsa-wildcard-tls, kapsa-webhook) are refused.",
      ),
    ),
  },
  { description: 'A long-lived environment.' },
);

export const PreviewEnvironments = Type.Object(
  {
    enabled: Type.Boolean({ default: false, description: 'Give matching branches an ephemeral environment each.' }),
    ttl: Duration('How long a preview lives after it was created; a new commit revives an expired one.', 60, '168h'),
    maxActive: Type.Integer({ minimum: 0, maximum: 100, default: 10, description: 'Most previews alive at once (the newest branches by name order win).' }),
    branches: Type.Object(
      {
        include: Type.Array(BranchGlob, { default: ['*', '**'], maxItems: 32, description: 'Glob patterns of branches that get a preview (`feature/*`).' }),
        exclude: Type.Array(BranchGlob, { default: [], maxItems: 32, description: 'Glob patterns of branches that never get one.' }),
      },
      { default: {}, description: 'Which branches get previews.' },
    ),
    runtime: Type.Optional(Runtime),
  },
  { description: 'Ephemeral environments for feature branches.' },
);

/**
 * Who may manage a Project and use its namespace: RBAC subjects. Cluster RBAC cannot tell one
 * cluster-scoped Project from another, so the chart's admission policy reads `admins` to decide
 * who may change or delete this Project, and the Project hook binds each list to a ClusterRole
 * in the project namespace (hooks/project/access.ts).
 */
export const AccessSubject = Type.Object(
  {
    kind: StringEnum(['User', 'Group', 'ServiceAccount'] as const, { description: 'An RBAC subject kind: User, Group or ServiceAccount.' }),
    name: Type.String({
      minLength: 1,
      maxLength: 253,
      pattern: '^[^\\x00-\\x1f\\x7f]+$',
      description: 'User or group name as the API server authenticates it, or the ServiceAccount name.',
    }),
    namespace: Type.Optional(DnsLabel({ description: 'Namespace of a ServiceAccount; required for ServiceAccount, not allowed for User and Group.' })),
  },
  {
    description: 'A user, group or ServiceAccount.',
    ...cel(
      {
        rule: "self.kind == 'ServiceAccount' ? has(self.namespace) : !has(self.namespace)",
        message: 'namespace is required for a ServiceAccount and not allowed for a User or Group',
      },
      {
        rule: "self.kind != 'ServiceAccount' || self.name.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",
        message: 'a ServiceAccount name must be a DNS subdomain',
      },
    ),
  },
);

const SubjectList = (description: string) =>
  Type.Array(AccessSubject, { maxItems: 50, description, 'x-kubernetes-list-type': 'atomic' });

export const Access = Type.Object(
  {
    admins: Type.Optional(
      SubjectList(
        'May update and delete this Project (the admission policy checks it) and hold the kapsa-project-admin role in its namespace. On create, the requester must be listed here (or be a platform admin).',
      ),
    ),
    developers: Type.Optional(SubjectList('Hold the kapsa-project-developer role in the project namespace, and with admins the kapsa-project-secrets Role on the Secrets the environments name.')),
    viewers: Type.Optional(SubjectList('Hold the kapsa-project-viewer role in the project namespace (read-only, no Secrets).')),
  },
  { description: 'Who may manage this Project and use its namespace. Without it, only platform admins may update or delete the Project.' },
);

export const ProjectSpec = Type.Object(
  {
    repository: Repository,
    build: Build,
    registry: ProjectRegistry,
    domain: Domain,
    runtime: Type.Optional(Runtime),
    environments: Type.Array(ProjectEnvironment, {
      minItems: 1,
      maxItems: 20,
      description: 'Long-lived environments, each deploying one branch.',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      ...cel({ rule: 'self.filter(e, has(e.primary) && e.primary).size() <= 1', message: 'at most one environment may be primary' }),
    }),
    previewEnvironments: Type.Optional(PreviewEnvironments),
    access: Type.Optional(Access),
  },
  { description: 'A git repository deployed to one or more environments.' },
);

export type ProjectSpec = Static<typeof ProjectSpec>;
export type AccessSubject = Static<typeof AccessSubject>;
export type ProjectEnvironmentSpec = Static<typeof ProjectEnvironment>;

/**
 * The parts of a Project's status that have a schema. The rest of the status is kept as the hook
 * writes it (the CRD preserves unknown status fields).
 */
export const ProjectStatus = Type.Object(
  {
    webhook: Type.Optional(
      Type.Object(
        {
          url: Type.Optional(Type.String({ maxLength: 2048, description: 'Where the forge sends push events (`<KAPSA_RECEIVER_URL>/receivers/projects/<project>`); absent while KAPSA_RECEIVER_URL is unset.' })),
          secretName: Type.String({ maxLength: 253, description: 'Secret in the project namespace whose `token` key is the secret to give the forge (never shown here).' }),
        },
        { description: 'Push webhook of this Project; present when Kapsa has a receiver key (KAPSA_RECEIVER_KEY).' },
      ),
    ),
  },
  { description: 'What Kapsa observed: conditions, environments and their URLs, builds.' },
);
