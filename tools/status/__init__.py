"""Is my platform whole? One live, read-only check of everything belen promises on a stack's cluster.

    python -m tools.status STACK [--wait SECONDS] [--json] [--kubeconfig F] [--context C]
                                 [--stack-outputs FILE] [--expiry-days N]

Reads the stack's kubeconfig and context as its provider does (belen:kubeconfig, else the ambient
kubeconfig; belen:cluster.context, else the current context; --kubeconfig/--context override) and its
outputs (`pulumi stack output --json`, or --stack-outputs FILE), then checks the cluster, area by area:
sealing keys (exactly the state's sealingKeyFingerprints active), SealedSecrets (synced, each Secret
owned), ExternalSecrets and ClusterSecretStores (Ready, synced within the refresh interval), cert-manager
(ClusterIssuers and Certificates Ready, days to expiry, TLS mirror copies hold their source's certificate)
and Flux (the FluxInstance Ready at the stack's version, GitRepositories and Kustomizations Ready on one
revision). Only GET requests: nothing is ever written to the cluster.

Exit codes: 0 whole; 1 not whole (a problem line each), or the API server could not be reached; 2 bad
input (unknown stack, unreadable outputs or kubeconfig, credentials refused), or belen's requirements
missing from this Python.
"""
