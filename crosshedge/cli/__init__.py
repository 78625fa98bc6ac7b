"""The command line: ``crosshedge <command>``, one module per command, each imported only when it runs.

Usage::

    from crosshedge.cli import main
    main()
"""

from crosshedge.cli.app import COMMANDS, app, main

__all__ = ["COMMANDS", "app", "main"]
