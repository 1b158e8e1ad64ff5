"""``python -m gradcheck``: the same command as ``gradcheck``."""
from .cli import main

raise SystemExit(main())
