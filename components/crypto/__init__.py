"""Pure key and certificate handling (no Pulumi resources): parsing, checks, kubeseal's format."""
