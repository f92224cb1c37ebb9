"""Where the tests find their real captured fixtures: one constant, used by every test.

`tests/resources/shared` holds the pages, feeds, sitemaps, ground truth and labelled sets the tests
read: a pinned subset of `../shared/data`, copied byte for byte, with the source manifest's rows
(repository, commit, licence, original path, sha256) in its `manifest.json`. It lives in the
repository, so a fresh clone runs the suite on its own; `tests/test_fixtures.py` checks every file
against the manifest. Rebuild it with `infra/scripts/build_test_fixtures.py`.
"""

from __future__ import annotations

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parent / "resources" / "shared"
