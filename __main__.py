"""belen: stack config → validated settings → BelenCluster → stack outputs."""

import pulumi

from components.cluster import BelenCluster, BelenClusterArgs
from components.settings import load_settings
from components.settings.source import current_stack, read_stack_config

settings = load_settings(read_stack_config(), current_stack())
cluster = BelenCluster(settings.cluster.name, BelenClusterArgs(settings))
for output_name, value in cluster.exports.items():
    pulumi.export(output_name, value)
