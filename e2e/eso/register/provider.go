// Replaces pkg/provider/register/register.go in the build's copy of external-secrets (build_eso in
// e2e/build-toolchain): the controllers import that package for its side effect of registering every
// provider; the drill's stores use only these two, and the other 33 (cloud SDKs) would multiply the
// build time.
package register

import (
	_ "github.com/external-secrets/external-secrets/pkg/provider/fake"
	_ "github.com/external-secrets/external-secrets/pkg/provider/kubernetes"
)
