from tools import cli

with cli.requirements():
    from tools.preflight.cli import main

cli.run(main)
