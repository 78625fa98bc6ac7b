"""Config loading, devnet, Celery execution, ledger and the command line."""
