import type { ClusterReader } from './cluster-reader.js';

interface SliceShape {
  ports?: { name?: string; port?: number }[];
  endpoints?: {
    conditions?: { ready?: boolean };
    targetRef?: { kind?: string; name?: string; namespace?: string };
  }[];
}

/** One ready endpoint of a Service: the pod behind it when the slice names one. */
export interface ReadyEndpoint {
  pod?: { namespace: string; name: string };
  /** The slice's `https` port, else its first. */
  port?: number;
}

/**
 * The ready endpoints of a Service, from its EndpointSlices (an endpoint without a
 * `ready` condition counts as ready, as the API says).
 * https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/#conditions
 */
export async function readyEndpoints(
  reader: ClusterReader,
  service: { namespace: string; name: string },
): Promise<ReadyEndpoint[]> {
  const slices = await reader.list<SliceShape>(
    `/apis/discovery.k8s.io/v1/namespaces/${service.namespace}/endpointslices`,
    { labelSelector: `kubernetes.io/service-name=${service.name}` },
  );
  return slices.flatMap((slice) => {
    const port = slice.ports?.find((p) => p.name === 'https')?.port ?? slice.ports?.[0]?.port;
    return (slice.endpoints ?? [])
      .filter((e) => e.conditions?.ready !== false)
      .map((e) => {
        const ref = e.targetRef;
        const pod =
          ref?.kind === 'Pod' && ref.name !== undefined
            ? { pod: { namespace: ref.namespace ?? service.namespace, name: ref.name } }
            : {};
        return { ...pod, ...(port === undefined ? {} : { port }) };
      });
  });
}
