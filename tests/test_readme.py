"""The README is the lab's front page: its links lead somewhere, and it lists every notebook."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
#: The targets of Markdown links and images, [text](target) and ![alt](target), nested ones (a badge) included.
LINKS = re.findall(r"\]\(([^)\s]+)\)", README)


def test_the_two_commands_come_first():
    first_section = README.split("\n## ", 2)[1]
    assert first_section.startswith("Two commands") and "make lab" in first_section and "make test" in first_section


def test_relative_links_and_images_exist():
    local = [t.split("#")[0] for t in LINKS if not urlparse(t).scheme and not t.startswith("#")]
    assert local, "the README links no file of the repository (its figure at least)"
    missing = [target for target in local if not (ROOT / target).exists()]
    assert not missing, f"the README links files that do not exist: {missing}"


def test_in_page_anchors_exist():
    headings = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-")
                for h in re.findall(r"^#+ (.+)$", README, re.M)}
    anchors = [t[1:] for t in LINKS if t.startswith("#")]
    assert all(a in headings for a in anchors), f"anchors {anchors} not among headings {sorted(headings)}"


def test_binder_link_opens_an_existing_notebook_in_jupyterlab():
    binder = [t for t in LINKS if t.startswith("https://mybinder.org/v2/gh/")]
    assert binder, "the README has no Binder link"
    for link in binder:
        url = urlparse(link)
        owner, repo, ref = url.path.split("/")[3:6]
        assert owner and repo and ref
        urlpath = parse_qs(url.query)["urlpath"][0]
        assert urlpath.startswith("lab/tree/"), "the link opens JupyterLab"
        assert (ROOT / urlpath.removeprefix("lab/tree/")).is_file(), f"{urlpath} is not a file of the repository"


def test_every_notebook_has_a_row_in_the_table():
    rows = set(re.findall(r"^\| `(\d\d_[\w]+\.ipynb)` \|", README, re.M))
    notebooks = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert not notebooks - rows, f"add a row to the README's notebook table for: {sorted(notebooks - rows)}"
    assert not rows - notebooks, f"the README's table lists notebooks that do not exist: {sorted(rows - notebooks)}"


def test_headings_name_no_issue_numbers_and_there_is_one_cleanup_section():
    headings = re.findall(r"^#+ (.+)$", README, re.M)
    assert not [h for h in headings if re.search(r"\bissue\s*#?\d", h, re.I)], headings
    assert len([h for h in headings if "cleanup" in h.lower()]) == 1, headings


def test_nothing_points_at_a_guide_outside_the_repository():
    files = [p for p in ROOT.rglob("*") if p.suffix in (".py", ".md", ".ipynb", ".toml", ".sh") and p.is_file()
             and not {".venv", "runs", ".git", "node_modules"} & set(p.relative_to(ROOT).parts)]
    offenders = [str(p.relative_to(ROOT)) for p in files if "GUIDE" + ".md" in p.read_text(errors="ignore")]
    assert offenders == []


def test_the_readme_does_not_say_services_tasks_are_not_started():
    assert "does not start a service's tasks" not in README


def test_the_readme_promises_no_expected_failure_the_bad_input_table_lacks():
    from tests.test_bad_input import BAD_INPUT

    promised = re.search(r"expected.failure|xfail", README, re.I)
    marked = [case for case in BAD_INPUT if len(case) > 4]
    assert not promised or marked, "the README promises expected-failure rows; tests/test_bad_input.py has none"
