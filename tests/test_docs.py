"""The docs name real things: every test docs/reliability.md cites exists."""

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_every_test_named_in_the_reliability_table_exists():
    text = (ROOT / "docs" / "reliability.md").read_text()
    cited, current = [], None
    # a cell names `test_file.py::test_name`, and further tests of the same file as `test_name`
    for match in re.finditer(r"`(?:(test_\w+\.py)::)?(test_\w+)`", text):
        current = match.group(1) or current
        cited.append((current, match.group(2)))
    assert len(cited) > 30
    missing = [
        f"{file}::{name}" for file, name in cited
        if f"def {name}(" not in (ROOT / "tests" / file).read_text()
    ]
    assert not missing, f"docs/reliability.md names tests that do not exist: {missing}"
