from veille.cli import cli

cli()
