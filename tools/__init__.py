"""Command-line tools that work without a cluster or the Pulumi CLI."""
