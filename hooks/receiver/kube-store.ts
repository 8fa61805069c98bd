/**
 * The ProjectStore on a real API server, through @kubernetes/client-node. The library is loaded
 * only when push webhooks are turned on, so importing the hooks never touches it.
 */
import { API_VERSION, GROUP } from '../lib/labels.ts';
import { ConfigError } from '../server/config.ts';
import { projectView, repositorySelector, type ProjectStore, type ProjectView } from './projects.ts';

const PLURAL = 'projects';
const VERSION = API_VERSION.slice(GROUP.length + 1);

/** A store that reads `kubeconfig` when given, else the in-cluster service account. */
export async function kubeProjectStore(kubeconfig: string, env: Record<string, string | undefined> = process.env): Promise<ProjectStore> {
  const k8s = await import('@kubernetes/client-node');
  const config = new k8s.KubeConfig();
  if (kubeconfig === '') {
    // Outside a pod the library would only fail at the first request; say so at start instead.
    if (!env.KUBERNETES_SERVICE_HOST) throw new ConfigError('KAPSA_KUBECONFIG: required with KAPSA_RECEIVER_KEY outside a cluster (no in-cluster service account)');
    config.loadFromCluster();
  } else {
    try {
      config.loadFromFile(kubeconfig);
    } catch (error) {
      throw new ConfigError(`KAPSA_KUBECONFIG: cannot load ${kubeconfig}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message.split('\n')[0]}`);
    }
    if (!config.getCurrentCluster()) throw new ConfigError(`KAPSA_KUBECONFIG: ${kubeconfig} has no current cluster`);
  }
  const api = config.makeApiClient(k8s.CustomObjectsApi);
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  const target = { group: GROUP, version: VERSION, plural: PLURAL };
  return {
    async get(name: string): Promise<ProjectView | undefined> {
      try {
        return projectView(await api.getClusterCustomObject({ ...target, name }));
      } catch (error) {
        if (error instanceof k8s.ApiException && error.code === 404) return undefined;
        throw apiError('get', error);
      }
    },
    async listByRepository(hash: string): Promise<ProjectView[]> {
      try {
        const list = (await api.listClusterCustomObject({ ...target, labelSelector: repositorySelector(hash) })) as { items?: unknown[] };
        return (list.items ?? []).map(projectView).filter((view): view is ProjectView => view !== undefined);
      } catch (error) {
        throw apiError('list', error);
      }
    },
    async annotate(name: string, key: string, value: string): Promise<void> {
      try {
        await api.patchClusterCustomObject({ ...target, name, body: { metadata: { annotations: { [key]: value } } } }, mergePatch);
      } catch (error) {
        throw apiError('patch', error);
      }
    },
  };
}

/** The library's errors carry the whole response, headers included; keep the status only. */
function apiError(verb: string, error: unknown): Error {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : 'no response';
  return new Error(`${verb} projects.${GROUP} failed: ${code}`);
}
