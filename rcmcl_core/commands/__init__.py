"""Subcommands of the `rcmcl` command line (rcmcl_core/cli.py): thin shells over training, evaluation
and plotting."""
