import sys

from gensr.cli import main

sys.exit(main())
