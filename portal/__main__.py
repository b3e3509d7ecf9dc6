"""`python -m portal`: the admin CLI."""

from portal.cli import main

raise SystemExit(main())
