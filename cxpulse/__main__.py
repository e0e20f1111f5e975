"""``python -m cxpulse`` is the ``cxpulse`` command."""

from cxpulse.cli import main

raise SystemExit(main())
