from __future__ import annotations

import sys

from ml.cli import main

sys.exit(main())
