"""Will the replica converge? A pre-flight check of a GitOps repository against a stack, offline.

    python -m tools.preflight STACK --repo DIR [--config-file F]... [--stack-outputs REF=F]... [--keys F]... [--json]
    python -m tools.preflight STACK --secrets    the `pulumi config set --secret` line of each secret it still needs

Evaluates the stack's settings and program under the mock runtime (as `tools.render` does) to learn
what the platform will hold, builds what Flux will apply from DIR the way Flux builds it, and checks
every object against that platform: SealedSecrets open, stores, issuers and ingress classes exist,
variables are substituted, Flux references resolve, API versions are served, namespaces exist.

Exit codes: 0 nothing fails; 1 findings (--secrets: a secret is missing); 2 bad input. Secret values are never
printed.
"""
