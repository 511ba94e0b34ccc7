"""The cloud replica is the homelab built from the same code: after normalising what is declared
per cluster (name, context, substitutions, key source, whether belen installs the ingress
controller), the two resource sets are identical."""

import json

from tests.graph import PROJECT_DIR, render_stack

HOMELAB_OUTPUTS = json.loads((PROJECT_DIR / "tests/stack-outputs/organization~belen~homelab.json").read_text())
# Values each stack declares for itself; everything else must match exactly.
PER_CLUSTER_SUBSTITUTIONS = ("cluster_name", "ingress_host_suffix")


def normalised(graph, cluster: str) -> dict[str, dict]:
    def name(value: str) -> str:
        if value == f"belen-{cluster}":  # the stack resource
            return "belen-CLUSTER"
        return "CLUSTER" + value[len(cluster):] if value == cluster or value.startswith(cluster + "-") else value

    def urn(value: str) -> str:
        head, _, last = value.rpartition("::")
        return head.replace(f"urn:pulumi:{cluster}::", "urn:pulumi:STACK::") + "::" + name(last)

    ingress = graph.one("belen:index:Ingress")
    declared = {r.urn for r in graph.find("pulumi:pulumi:StackReference")}
    declared |= {r.urn for r in graph.resources if r.parent == ingress.urn}
    result = {}
    for resource in graph.resources:
        if resource.urn in declared:
            continue
        inputs = resource.inputs()
        if resource.type == "pulumi:providers:kubernetes":
            inputs = {**inputs, "context": "DECLARED", "clusterIdentifier": "DECLARED"}  # the cluster's name
        if resource.type.endswith(":Kustomization"):
            substitute = inputs["spec"]["postBuild"]["substitute"]
            for key in PER_CLUSTER_SUBSTITUTIONS:
                substitute[key] = "DECLARED"
        result[urn(resource.urn)] = {
            "type": resource.type,
            "name": name(resource.name),
            "parent": resource.parent and urn(resource.parent),
            "provider": resource.provider and urn(resource.provider),
            "dependencies": sorted(urn(d) for d in resource.dependencies if d not in declared),
            "protect": resource.protect,
            "retainOnDelete": resource.retain_on_delete,
            "inputs": inputs,
        }
    return result


def test_cloud_replica_matches_the_homelab_but_for_declared_values():
    # The homelab restored from the same keys the cloud takes from its stack outputs.
    homelab = render_stack("homelab", {"belen:sealingKeys": HOMELAB_OUTPUTS["sealingKeys"]})
    cloud = render_stack("cloud", stack_outputs={"organization/belen/homelab": HOMELAB_OUTPUTS})
    left, right = normalised(homelab, "homelab"), normalised(cloud, "cloud")
    assert sorted(left) == sorted(right)
    for urn in left:
        assert left[urn] == right[urn], urn


def test_the_parity_check_notices_a_difference():
    homelab = render_stack("homelab", {"belen:sealingKeys": HOMELAB_OUTPUTS["sealingKeys"],
                                       "belen:sealedSecrets": {"keyRenewPeriod": "720h"}})
    cloud = render_stack("cloud", stack_outputs={"organization/belen/homelab": HOMELAB_OUTPUTS})
    assert normalised(homelab, "homelab") != normalised(cloud, "cloud")
