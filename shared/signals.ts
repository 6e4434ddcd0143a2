/**
 * Resolves with the first SIGTERM or SIGINT: the kubelet sends SIGTERM on pod deletion
 * (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination),
 * a person at a terminal sends SIGINT. Both listeners are removed once one fires.
 */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}
