# Shared by the e2e scripts that start host processes (sourced, not run).

# free_ports N: N free TCP ports on 127.0.0.1
free_ports() {
  python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))' "$1"
}

# wait_healthy URL PIDFILE LOG [CAFILE]: wait until URL (on 127.0.0.1; https: its certificate chains to
# CAFILE) answers; fail, with the log's tail, when the process has exited or 60 s have passed
wait_healthy() {
  for _ in $(seq 1 120); do
    python3 -c 'import ssl, sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=1, context=ssl.create_default_context(cafile=sys.argv[2] or None))' \
      "$1" "${4:-}" 2>/dev/null && return 0
    kill -0 "$(cat "$2")" 2>/dev/null || { tail -20 "$3" >&2; return 1; }
    sleep 0.5
  done
  echo "$1 did not answer within 60 s" >&2
  tail -20 "$3" >&2
  return 1
}

# sa_kubeconfig KUBECONFIG NAMESPACE SERVICEACCOUNT OUT: a kubeconfig for the cluster of KUBECONFIG that
# authenticates with a token of NAMESPACE/SERVICEACCOUNT (what a pod of that account would hold), so a
# host process runs on the RBAC its Deployment grants, not the admin's
sa_kubeconfig() {
  local admin="$1" namespace="$2" account="$3" out="$4" server ca token
  server="$("$bin/kubectl" --kubeconfig "$admin" config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
  ca="$("$bin/kubectl" --kubeconfig "$admin" config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
  token="$("$bin/kubectl" --kubeconfig "$admin" create token "$account" -n "$namespace" --duration 24h)"
  umask 077
  cat >"$out" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters: [{name: cluster, cluster: {server: "$server", certificate-authority-data: "$ca"}}]
users: [{name: $namespace-$account, user: {token: "$token"}}]
contexts: [{name: $namespace-$account, context: {cluster: cluster, user: $namespace-$account, namespace: $namespace}}]
current-context: $namespace-$account
KUBECONFIG
}

# flux_operator_src: the Flux Operator module's source in the module cache (downloaded if needed; its
# go.mod asks for Go 1.27); config/data there holds the Flux manifests the operator image ships in /data
flux_operator_src() {
  (cd "$(dirname "${BASH_SOURCE[0]}")" && GOTOOLCHAIN="$FLUX_OPERATOR_GOTOOLCHAIN" GOFLAGS=-mod=mod go mod download -json \
    "github.com/controlplaneio-fluxcd/flux-operator@$FLUX_OPERATOR_VERSION") | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'
}

# read_workload KUBECONFIG SELECTOR CONTAINER: what a kubelet would run for CONTAINER of the cluster's
# one Deployment matching SELECTOR; sets namespace, account, args (array) and env (array of NAME=value)
read_workload() {
  local spec line lines
  spec="$("$bin/kubectl" --kubeconfig "$1" get deployments -A -l "$2" -o json \
    | python3 "$(dirname "${BASH_SOURCE[0]}")/workload_spec.py" "$3")" || return 1
  mapfile -t lines <<<"$spec"
  namespace="${lines[0]}" account="${lines[1]}" args=() env=()
  for line in "${lines[@]:2}"; do
    case "$line" in arg\ *) args+=("${line#arg }") ;; env\ *) env+=("${line#env }") ;; esac
  done
}
