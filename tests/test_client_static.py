"""`recip serve` serves the browser client's modules under `/client/` (ADR 0090)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.service import ServerConfig
from web import CLIENT_DIR

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
MODULES = sorted(p.name for p in CLIENT_DIR.glob("*.js"))


def test_every_module_is_served_as_javascript_and_imports_only_served_modules(
    tmp_path: Path,
) -> None:
    assert "index.js" in MODULES
    with TestClient(create_app(ServerConfig(tmp_path))) as client:
        for name in MODULES:
            response = client.get(f"/client/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"].startswith("text/javascript"), name
            assert response.text == (CLIENT_DIR / name).read_text(encoding="utf-8")
            for target in re.findall(r'from "\./([\w-]+\.js)"', response.text):
                assert target in MODULES, f"{name} imports {target}, which is not served"
        assert client.get("/client/missing.js").status_code == 404
        assert client.get("/client/../pyproject.toml").status_code == 404


def test_the_package_data_carries_the_client() -> None:
    """`pip install .` installs what `package-data` names (checked against the files)."""
    import tomllib

    root = CLIENT_DIR.parent.parent
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["web"]
    found = (p for pattern in patterns for p in CLIENT_DIR.parent.glob(pattern))
    carried = {p.name for p in found if p.parent == CLIENT_DIR}  # web/app is the app's
    assert carried == set(MODULES)
    assert "web*" in config["tool"]["setuptools"]["packages"]["find"]["include"]
