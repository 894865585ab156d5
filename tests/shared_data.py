"""Where the tests find the shared data: ``../shared`` beside the repository (read-only in CI).

Tests that need it skip cleanly when it is absent; ``CWM_CRUXEVAL`` points elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CRUXEVAL = Path(os.environ.get("CWM_CRUXEVAL") or SHARED / "data" / "cruxeval.jsonl")
