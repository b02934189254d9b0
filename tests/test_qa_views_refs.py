"""QA: the view commands name contacts exactly as the recording commands do."""

from __future__ import annotations

from .conftest import Recip
from .test_views_cli import home, run  # noqa: F401 (fixtures)


def test_an_ambiguous_reference_lists_a_few_candidates_not_all(run: Recip) -> None:  # noqa: F811
    """One readable error line even when a short prefix matches hundreds of contacts."""
    for i in range(30):
        run.ok("contact", "add", f"Person {i}")
    for argv in (("timeline", "0"), ("ledger", "0"), ("log", "0"), ("contact", "show", "0")):
        err = run.fails(*argv)
        assert err.count("\n") == 1, err
        assert "matches 30 contacts" in err
        assert "and 20 more" in err
        assert len(err) < 700, err
