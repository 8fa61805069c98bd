/**
 * A static checker for the Kubernetes Pod Security Standards (baseline and restricted, as of
 * Kubernetes 1.34: https://kubernetes.io/docs/concepts/security/pod-security-standards/), for pod
 * templates in manifests that are never admitted by a real cluster in a unit test.
 *
 * Each violation names the rule (the check IDs of the Pod Security admission library, e.g.
 * `seccompProfile_restricted`) and where it is, so a test can assert exactly which rules a
 * documented exception breaks.
 */

export type PodSecurityLevel = 'baseline' | 'restricted';

export interface Violation {
  /** The Pod Security check, e.g. `runAsNonRoot`, `capabilities_restricted`. */
  rule: string;
  /** Which level the check belongs to. */
  level: PodSecurityLevel;
  /** Where: `spec.containers[buildkit].securityContext.seccompProfile.type`. */
  path: string;
  message: string;
}

type Json = Record<string, unknown>;

const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const record = (value: unknown): Json => (isRecord(value) ? value : {});
const array = (value: unknown): Json[] => (Array.isArray(value) ? value.filter(isRecord) : []);

/** Capabilities baseline allows to be added. */
const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT',
]);
/** Volume types restricted allows. */
const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret', 'image']);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes',
]);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);

/** The pod spec inside a Pod, a workload with a pod template, or a CronJob. Undefined when the object has none. */
export function podSpecOf(object: Json): Json | undefined {
  const kind = object.kind;
  const spec = record(object.spec);
  if (kind === 'Pod') return spec;
  if (kind === 'CronJob') return record(record(record(record(spec.jobTemplate).spec).template).spec);
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'ReplicationController'].includes(String(kind))) {
    return record(record(spec.template).spec);
  }
  return undefined;
}

/** Every violation of `level` (restricted includes baseline) in a pod spec. */
export function checkPodSpec(pod: Json, level: PodSecurityLevel = 'restricted'): Violation[] {
  const out: Violation[] = [];
  const add = (rule: string, ruleLevel: PodSecurityLevel, path: string, message: string) => {
    if (level === 'restricted' || ruleLevel === 'baseline') out.push({ rule, level: ruleLevel, path, message });
  };
  const podContext = record(pod.securityContext);
  const containers = [
    ...array(pod.initContainers).map((container) => ({ container, path: `spec.initContainers[${String(container.name)}]` })),
    ...array(pod.containers).map((container) => ({ container, path: `spec.containers[${String(container.name)}]` })),
    ...array(pod.ephemeralContainers).map((container) => ({ container, path: `spec.ephemeralContainers[${String(container.name)}]` })),
  ];

  // ---- baseline ----
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
    if (pod[field] === true) add('hostNamespaces', 'baseline', `spec.${field}`, `${field} must not be true`);
  }
  if (record(podContext.windowsOptions).hostProcess === true) add('hostProcess', 'baseline', 'spec.securityContext.windowsOptions.hostProcess', 'hostProcess must not be true');
  for (const volume of array(pod.volumes)) {
    if ('hostPath' in volume) add('hostPathVolumes', 'baseline', `spec.volumes[${String(volume.name)}]`, 'hostPath volumes are forbidden');
  }
  const checkSeccomp = (context: Json, path: string): void => {
    const type = record(context.seccompProfile).type;
    if (type === 'Unconfined') add('seccompProfile_baseline', 'baseline', `${path}.seccompProfile.type`, 'seccompProfile must not be Unconfined');
  };
  const checkAppArmor = (context: Json, path: string): void => {
    const type = record(context.appArmorProfile).type;
    if (type !== undefined && type !== 'RuntimeDefault' && type !== 'Localhost') {
      add('appArmorProfile', 'baseline', `${path}.appArmorProfile.type`, `appArmorProfile must be RuntimeDefault or Localhost, got ${String(type)}`);
    }
  };
  const checkSeLinux = (context: Json, path: string): void => {
    const options = record(context.seLinuxOptions);
    if (options.type !== undefined && !SELINUX_TYPES.has(String(options.type))) add('seLinuxOptions', 'baseline', `${path}.seLinuxOptions.type`, 'seLinuxOptions.type is not allowed');
    if (options.user !== undefined || options.role !== undefined) add('seLinuxOptions', 'baseline', `${path}.seLinuxOptions`, 'seLinuxOptions user and role must be unset');
  };
  checkSeccomp(podContext, 'spec.securityContext');
  checkAppArmor(podContext, 'spec.securityContext');
  checkSeLinux(podContext, 'spec.securityContext');
  for (const sysctl of array(podContext.sysctls)) {
    if (!SAFE_SYSCTLS.has(String(sysctl.name))) add('sysctls', 'baseline', 'spec.securityContext.sysctls', `sysctl ${String(sysctl.name)} is not safe`);
  }
  const annotations = record(record(pod.metadata).annotations);
  for (const [key, value] of Object.entries(annotations)) {
    if (key.startsWith('container.apparmor.security.beta.kubernetes.io/') && value !== 'runtime/default' && !String(value).startsWith('localhost/')) {
      add('appArmorProfile', 'baseline', `metadata.annotations[${key}]`, 'AppArmor annotation must be runtime/default or localhost/*');
    }
  }

  for (const { container, path } of containers) {
    const context = record(container.securityContext);
    const where = `${path}.securityContext`;
    if (context.privileged === true) add('privileged', 'baseline', `${where}.privileged`, 'privileged containers are forbidden');
    if (record(context.windowsOptions).hostProcess === true) add('hostProcess', 'baseline', `${where}.windowsOptions.hostProcess`, 'hostProcess must not be true');
    const capabilities = record(context.capabilities);
    const added = Array.isArray(capabilities.add) ? capabilities.add.map(String) : [];
    for (const capability of added) {
      if (!BASELINE_CAPABILITIES.has(capability)) add('capabilities_baseline', 'baseline', `${where}.capabilities.add`, `capability ${capability} may not be added`);
    }
    for (const port of array(container.ports)) {
      if (port.hostPort !== undefined && port.hostPort !== 0) add('hostPorts', 'baseline', `${path}.ports`, `hostPort ${String(port.hostPort)} is forbidden`);
    }
    if (context.procMount !== undefined && context.procMount !== 'Default') add('procMount', 'baseline', `${where}.procMount`, 'procMount must be Default');
    checkSeccomp(context, where);
    checkAppArmor(context, where);
    checkSeLinux(context, where);
  }

  // ---- restricted ----
  for (const volume of array(pod.volumes)) {
    const types = Object.keys(volume).filter((key) => key !== 'name');
    for (const type of types) {
      if (!RESTRICTED_VOLUMES.has(type)) add('restrictedVolumes', 'restricted', `spec.volumes[${String(volume.name)}]`, `volume type ${type} is not allowed`);
    }
  }
  const podNonRoot = podContext.runAsNonRoot;
  if (podNonRoot === false) add('runAsNonRoot', 'restricted', 'spec.securityContext.runAsNonRoot', 'runAsNonRoot must not be false');
  if (podContext.runAsUser === 0) add('runAsUser', 'restricted', 'spec.securityContext.runAsUser', 'runAsUser must not be 0');
  const podSeccomp = record(podContext.seccompProfile).type;
  const seccompOk = (type: unknown) => type === 'RuntimeDefault' || type === 'Localhost';
  for (const { container, path } of containers) {
    const context = record(container.securityContext);
    const where = `${path}.securityContext`;
    if (context.allowPrivilegeEscalation !== false) add('allowPrivilegeEscalation', 'restricted', `${where}.allowPrivilegeEscalation`, 'allowPrivilegeEscalation must be false');
    const nonRoot = context.runAsNonRoot ?? podNonRoot;
    if (nonRoot !== true) add('runAsNonRoot', 'restricted', `${where}.runAsNonRoot`, 'runAsNonRoot must be true (on the pod or the container)');
    if (context.runAsUser === 0) add('runAsUser', 'restricted', `${where}.runAsUser`, 'runAsUser must not be 0');
    const containerSeccomp = record(context.seccompProfile).type;
    if (containerSeccomp !== undefined ? !seccompOk(containerSeccomp) : !seccompOk(podSeccomp)) {
      add('seccompProfile_restricted', 'restricted', `${where}.seccompProfile.type`, `seccompProfile must be RuntimeDefault or Localhost, got ${String(containerSeccomp ?? podSeccomp)}`);
    }
    const capabilities = record(context.capabilities);
    const dropped = Array.isArray(capabilities.drop) ? capabilities.drop.map(String) : [];
    if (!dropped.includes('ALL')) add('capabilities_restricted', 'restricted', `${where}.capabilities.drop`, 'capabilities must drop ALL');
    const added = Array.isArray(capabilities.add) ? capabilities.add.map(String) : [];
    for (const capability of added) {
      if (capability !== 'NET_BIND_SERVICE') add('capabilities_restricted', 'restricted', `${where}.capabilities.add`, `only NET_BIND_SERVICE may be added, not ${capability}`);
    }
  }
  return out;
}

/** Violations of every pod template in `object` (none for objects without one). */
export function checkObject(object: Json, level: PodSecurityLevel = 'restricted'): Violation[] {
  const pod = podSpecOf(object);
  if (!pod) return [];
  // Pod-level annotations live on the template's metadata.
  const template = object.kind === 'Pod' ? object : record(record(object.spec).template);
  return checkPodSpec({ ...pod, metadata: record(template.metadata) }, level);
}

/** Human-readable list, for assertion messages. */
export function describeViolations(violations: Violation[]): string {
  return violations.map((violation) => `${violation.rule} at ${violation.path}: ${violation.message}`).join('\n');
}
