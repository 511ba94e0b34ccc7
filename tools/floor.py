"""The bare-SDK floor of `python -m tools.bench`: a plain Pulumi program, no belen code, registering
the Secrets that a TLS-mirror render of the same published certificates registers (same names,
metadata and secret data, on one provider), under the same mock runtime as `tools.render`.

    python -m tools.floor OUTPUTS_JSON NAMESPACES

OUTPUTS_JSON is a `--stack-outputs` file holding `tlsCertificates`; each certificate is copied
into namespaces ns0 … ns<NAMESPACES-1>, as the benchmark's mirror settings ask.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from tools import mockrun

SOURCE = "organization/belen/ops"


def program(published: dict[str, dict[str, Any]], namespaces: int) -> None:
    provider = k8s.Provider("floor")
    for name, cert in sorted(published.items()):
        data = {key: base64.b64encode(cert[key].encode()).decode() for key in ("tls.crt", "tls.key", "ca.crt") if key in cert}
        for index in range(namespaces):
            k8s.core.v1.Secret(
                f"floor-{name}-ns{index}",
                metadata={
                    "name": f"{name}-tls",
                    "namespace": f"ns{index}",
                    "labels": {"app.kubernetes.io/managed-by": "belen", "belen.io/certificate": name},
                    "annotations": {"belen.io/source-stack": SOURCE, "belen.io/not-after": cert["notAfter"],
                                    "belen.io/fingerprint": cert["fingerprint"]},
                },
                type="kubernetes.io/tls",
                data=pulumi.Output.secret(data),
                opts=pulumi.ResourceOptions(provider=provider),
            )


def main(argv: list[str] | None = None) -> int:
    path, namespaces = argv if argv is not None else sys.argv[1:]
    published = json.loads(Path(path).read_text())["tlsCertificates"]
    run = mockrun.run(lambda: program(published, int(namespaces)), stack="floor", config={})
    print(f"registered {len(run.resources)} resources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
