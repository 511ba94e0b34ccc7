from tools import cli

with cli.requirements():
    from tools.status.cli import main

cli.run(main)
