"""What a kubelet would run for a host-process controller: from the cluster's one Deployment that
`kubectl get deployments -A -l SELECTOR -o json` lists on standard input, the container CONTAINER.

    kubectl get deployments -A -l SELECTOR -o json | python3 e2e/workload_spec.py CONTAINER

Prints one line each: the namespace, the ServiceAccount, then `arg X` and `env NAME=value` in order
(`env` from literal values and the pod's namespace only; `$(NAME)` in an arg expanded from them as the
kubelet does, e.g. cert-manager's `--cluster-resource-namespace=$(POD_NAMESPACE)`). Used by e2e/lib.sh's
read_workload.
"""

import json
import re
import sys

# Kubernetes' expansion of container args: $(NAME) of a defined variable, $$ for a literal $.
REFERENCE = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


def expand(arg: str, env: dict[str, str]) -> str:
    return REFERENCE.sub(lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), arg)


def main(container_name: str) -> None:
    items = json.load(sys.stdin)["items"]
    if len(items) != 1:
        sys.exit(f"expected one Deployment, found {len(items)}")
    namespace, pod = items[0]["metadata"]["namespace"], items[0]["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == container_name)
    values = {}
    for env in container.get("env", []):
        if "value" in env:
            values[env["name"]] = env["value"]
        elif env.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            values[env["name"]] = namespace
        else:
            sys.exit(f"{container_name} env {env['name']}: only values and the pod namespace are supported here")
    print(namespace, pod.get("serviceAccountName", "default"), sep="\n")
    for arg in container.get("args", []):
        print("arg", expand(arg, values))
    for name, value in values.items():
        print("env", f"{name}={value}")


if __name__ == "__main__":
    main(sys.argv[1])
