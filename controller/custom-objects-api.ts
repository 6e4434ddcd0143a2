import {
  createConfiguration,
  CustomObjectsApi,
  ServerConfiguration,
} from '@kubernetes/client-node';
import type { ReusedConnections } from '../shared/kube/reused-connections.js';

/**
 * KubeConfig.makeApiClient(CustomObjectsApi), but authenticating through `access`, so
 * every write shares its kept-alive connections instead of opening a TLS connection
 * each (issue 13).
 */
export function customObjectsApi(access: ReusedConnections): CustomObjectsApi {
  const server = access.getCurrentCluster()?.server;
  if (server === undefined) throw new Error('no current cluster');
  return new CustomObjectsApi(
    createConfiguration({
      baseServer: new ServerConfiguration(server, {}),
      authMethods: { default: access },
    }),
  );
}
