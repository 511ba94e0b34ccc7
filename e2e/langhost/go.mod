module belen.e2e/langhost

go 1.26

require (
	github.com/pulumi/pulumi/sdk/v3 PULUMI_VERSION
)
