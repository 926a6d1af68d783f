#!/bin/sh
# Prints a v1 ExecCredential whose token shows what the plugin was given: its first argument, an
# env var from the kubeconfig, and whether KUBERNETES_EXEC_INFO carried the cluster.
case "$KUBERNETES_EXEC_INFO" in
  *'"server":"https://c.example.com"'*) cluster=with-cluster ;;
  *) cluster=no-cluster ;;
esac
cat <<JSON
{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1",
 "status":{"token":"exec-$1-$PLUGIN_MODE-$cluster","expirationTimestamp":"2099-01-01T00:00:00Z"}}
JSON
