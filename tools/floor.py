"""The bare-SDK floor of `python -m tools.bench`: a plain Pulumi program, no belen code, registering
the Secrets that a TLS-mirror render of the same published certificates registers (same names,
metadata and secret data, on one provider), under the same mock runtime as `tools.render`.

    python -m tools.floor OUTPUTS_JSON NAMESPACES

OUTPUTS_JSON is a `--stack-outputs` file holding `tlsCertificates`; each certificate is copied
into namespaces ns0 … ns<NAMESPACES-1>, as the benchmark's mirror settings ask.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

from tools import cli

with cli.requirements():
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
    parser = argparse.ArgumentParser(prog="python -m tools.floor", description=__doc__.split("\n\n")[0])
    parser.add_argument("outputs", metavar="OUTPUTS_JSON", help="a --stack-outputs file holding tlsCertificates")
    parser.add_argument("namespaces", metavar="NAMESPACES", type=int, help="namespaces each certificate is copied into")
    args = parser.parse_args(argv)
    try:
        published = json.loads(Path(args.outputs).read_text())["tlsCertificates"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: {args.outputs}: not a --stack-outputs file holding tlsCertificates ({exc.__class__.__name__}: "
              f"{exc}) — pass the ops outputs tools.bench writes", file=sys.stderr)
        return 2
    run = mockrun.run(lambda: program(published, args.namespaces), stack="floor", config={})
    print(f"registered {len(run.resources)} resources")
    return 0


if __name__ == "__main__":
    cli.run(main)
