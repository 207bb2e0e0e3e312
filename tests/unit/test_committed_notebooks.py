"""The committed notebooks' stored outputs travel: no warnings on stderr, no paths of the machine that ran them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LOCAL_PATH = re.compile(r"(/work/|/tmp/|/home/|/root/|/Users/|[A-Z]:\\\\)")


def _outputs(path: Path) -> list[tuple[int, dict]]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [(i, o) for i, c in enumerate(cells) for o in c.get("outputs", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_stderr_and_no_local_paths_in_stored_outputs(path: Path) -> None:
    outputs = _outputs(path)
    assert outputs, f"{path.name} has no stored outputs: run `make notebooks`"
    stderr = [i for i, o in outputs if o.get("name") == "stderr"]
    assert not stderr, f"{path.name}: stderr stored in cells {stderr} (nbval compares it, and it names local paths)"
    text = [(i, "".join(o.get("text", "")) + json.dumps(o.get("data", {}).get("text/plain", ""))) for i, o in outputs]
    local = [i for i, t in text if LOCAL_PATH.search(t)]
    assert not local, f"{path.name}: a local path in the stored output of cells {local}"
