// Replaces pkg/generator/register/register.go in the build's copy of external-secrets (build_eso in
// e2e/build-toolchain): only the generators that need no cloud SDK.
package register

import (
	_ "github.com/external-secrets/external-secrets/pkg/generator/fake"
	_ "github.com/external-secrets/external-secrets/pkg/generator/password"
	_ "github.com/external-secrets/external-secrets/pkg/generator/uuid"
)
