"""belen: stack config → validated settings → BelenCluster → stack outputs."""

import os

import pulumi

from components.cluster import BelenCluster, BelenClusterArgs
from components.kept_keys import held_generated_keys, refuse_dropped_keys
from components.settings import load_settings
from components.settings.source import current_stack, read_stack_config, refuse_lost_checkpoints

settings = load_settings(read_stack_config(), current_stack())
refuse_lost_checkpoints(settings.sealed_secrets, os.environ, pulumi.runtime.is_dry_run())
refuse_dropped_keys(settings, held_generated_keys())
cluster = BelenCluster(settings.cluster.name, BelenClusterArgs(settings))
for output_name, value in cluster.exports.items():
    pulumi.export(output_name, value)
