module belen.e2e/cert-manager

go 1.26

// Not the upstream controller-binary module (not served): this main wires cert-manager's own
// packages. Module-graph pruning keeps vcert (refused by the proxy) out: no Venafi package is imported.
require github.com/cert-manager/cert-manager CERT_MANAGER_VERSION
