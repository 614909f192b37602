"""``python -m gensr``: the command line (:func:`gensr.cli.main`)."""

import sys

try:
    from gensr.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python is still importing the command line: one line, exit 130
    sys.stderr.write("gensr: interrupted\n")
    sys.exit(130)

sys.exit(main())
