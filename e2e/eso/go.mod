module belen.e2e/eso

go 1.26

require github.com/external-secrets/external-secrets ESO_CONTROLLER_VERSION

// Copied from external-secrets' go.mod (replace lines of a dependency do not apply to the main module).
replace github.com/Masterminds/sprig/v3 => github.com/external-secrets/sprig/v3 v3.3.0
