"""The whole suite, run as a runbook would run it, on an embedded backend that throttles 30% of the calls.

One run (``python -m helpers run``, every notebook in notebooks/, in order), then the cleanup notebook
with ``dry_run=False, confirm=True``, both recording every API call (instrumentation the test installs in those
processes: tests/instrument/). Then:

- the suite passed although 30% of the calls were throttled (and some got 5xx or were slow);
- every resource it created carries the suite's tags and this run's id;
- the cleanup left nothing of the suite behind, and touched nothing else;
- no secret (ECR token or password, secret values, the session's keys) is in any executed notebook or log;
- the IAM policy in iam/ grants exactly the operations made (iam/README.md explains the few that are
  implied, not calls).

Before the cleanup run, one resource of every kind is added (outside the recording), so every path of the
cleanup is exercised whatever the other notebooks create.

botocore backs off from 1 s after a throttling error; here, in the test's processes only, from 0.05 s
(``BACKOFF_SCALE``): the same retries, attempts and retry quota are exercised, without minutes of waiting.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest

from helpers import calls, cleanup, hygiene, local
from helpers.tags import suite_tags
from tests.conftest import ROOT
from tests.faulty import fault_counts, faulty_backend
from tests.instrument.lab_instrument import instrumented_env, shorten_backoff
from tests.resources import one_of_each, snapshot

FAULTS = "throttle=0.3,error=0.03,slow=0.03,slow_seconds=0.3,seed=8"
RUN_ID = "suite-run-test"
#: Seconds botocore's backoff after throttling starts from, in this test's processes (botocore's own: 1).
BACKOFF_SCALE = 0.05
#: Kinds whose snapshot entries are resources cleanup handles by name (tasks and images are checked apart).
NAMED_KINDS = ("cluster", "service", "task definition", "log group", "security group", "role", "secret",
               "repository")


@dataclass
class SuiteRun:
    run: subprocess.CompletedProcess
    clean: subprocess.CompletedProcess
    out: Path
    calls: Path
    before: dict
    after: dict
    final: dict
    found: list
    left: list
    secrets: list
    counts: dict
    log: Path
    tasks_tagged: dict


def helpers_run(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "helpers", "run", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=1200)


def task_tags(session, snapshot_tasks: set[str]) -> dict[str, bool]:
    """Whether each task (running or stopped) carries the suite's tags."""
    from helpers.tags import is_suite_tagged

    result = {}
    for name in snapshot_tasks:
        region, arn = name.split("/", 1)
        cluster = arn.split("/")[1]
        ecs = session.in_region(region).client("ecs")
        task = ecs.describe_tasks(cluster=cluster, tasks=[arn], include=["TAGS"])["tasks"][0]
        result[arn] = is_suite_tagged(task.get("tags"))
    return result


def snapshot_all(session) -> dict:
    """The snapshot of every region the lab uses, kind by kind, names prefixed by region."""
    merged: dict = {}
    for region in cleanup.LAB_REGIONS:
        for kind, names in snapshot(session.in_region(region)).items():
            prefix = "" if kind == "role" else f"{region}/"
            merged.setdefault(kind, set()).update(f"{prefix}{n}" for n in names)
    return merged


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory) -> SuiteRun:
    out = tmp_path_factory.mktemp("suite-run")
    record = out / "calls.txt"
    undo = shorten_backoff(BACKOFF_SCALE)
    try:
        with faulty_backend(FAULTS) as session:
            port = urlparse(session.endpoint_url).port
            env = instrumented_env(dict(os.environ, FARGATE_LAB_PORT=str(port), FARGATE_LAB_RUN_ID=RUN_ID),
                                   record_calls=record, backoff_scale=BACKOFF_SCALE)
            before = snapshot_all(session)
            run = helpers_run("--out", str(out / "run"), env=env)
            after = snapshot_all(session)
            found = cleanup.find(session)
            tagged = task_tags(session, after["task"] - before["task"])
            secrets = hygiene.backend_secrets(session) + hygiene.session_secrets(session)
            one_of_each(session, "seeded-for-cleanup", suite_tags())  # not recorded: this session has no recorder
            clean = helpers_run(str(ROOT / "notebooks" / "99_cleanup.ipynb"), "-p", "dry_run", "false",
                                "-p", "confirm", "true", "--out", str(out / "cleanup"), env=env)
            yield SuiteRun(run, clean, out, record, before, after, snapshot_all(session), found, cleanup.find(session),
                           secrets, fault_counts(session), local.log_path(port), tagged)
    finally:
        undo()


pytestmark = pytest.mark.slow


def test_the_suite_passes_with_30_percent_throttling(suite_run):
    assert suite_run.run.returncode == 0, suite_run.run.stdout + suite_run.run.stderr
    assert suite_run.clean.returncode == 0, suite_run.clean.stdout + suite_run.clean.stderr
    assert suite_run.counts["throttle"] > 10, suite_run.counts  # the faults really happened


def test_everything_the_suite_created_carries_its_tags_and_run_id(suite_run):
    found = {(r.kind, r.name if r.kind == "role" else f"{r.region}/{r.name}") for r in suite_run.found}
    for kind in NAMED_KINDS:
        for name in suite_run.after[kind] - suite_run.before[kind]:
            assert (kind, name) in found, f"the suite created {kind} {name!r} without the suite's tags"
    assert all(suite_run.tasks_tagged.values()), f"untagged tasks: {suite_run.tasks_tagged}"
    assert not suite_run.after["parameter"] - suite_run.before["parameter"], "SSM parameters: cleanup lacks them"
    assert {r.run_id for r in suite_run.found} <= {RUN_ID}


def test_cleanup_leaves_nothing_of_the_suite_and_touches_nothing_else(suite_run):
    assert suite_run.left == [], [(r.kind, r.name) for r in suite_run.left]
    for kind in NAMED_KINDS + ("parameter",):
        assert suite_run.final[kind] == suite_run.before[kind], kind


def test_no_secret_in_any_executed_notebook_or_log(suite_run):
    notebooks = sorted(suite_run.out.rglob("*.ipynb"))
    assert len(notebooks) >= 2 and suite_run.secrets, "nothing to scan, or no secret to look for"
    (suite_run.out / "runner-output.log").write_text(
        suite_run.run.stdout + suite_run.run.stderr + suite_run.clean.stdout + suite_run.clean.stderr)
    findings = hygiene.scan_paths(notebooks + [suite_run.out / "runner-output.log", suite_run.log],
                                  known=suite_run.secrets)
    assert findings == [], hygiene.findings_table(findings).to_string()


def test_the_policy_grants_exactly_the_operations_the_suite_makes(suite_run):
    made = calls.recorded_actions(suite_run.calls)
    granted = calls.policy_actions()
    implied = calls.implied_actions()
    missing, unused = calls.compare(made, granted)
    assert not missing, f"the suite calls these, iam/fargate-lab-policy.json does not grant them: {sorted(missing)}"
    unjustified = {a for a in implied if not calls.IMPLIED_BY.get(a, set()) & made}
    assert not unjustified, f"implied by no call the suite makes: {sorted(unjustified)}"
    unused -= implied | calls.on_aws_actions() | calls.runbook_actions()  # checked against their own recorded calls
    assert not unused, f"the policy grants these, the suite never calls them: {sorted(unused)}"


def _shown(notebook: Path) -> list[tuple[str, str]]:
    """(cell source, text) of every table and value an executed notebook shows (text/plain and text/html)."""
    import json

    shown = []
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for kind in ("text/plain", "text/html"):
                if kind in data and output.get("output_type") in ("execute_result", "display_data"):
                    text = data[kind] if isinstance(data[kind], str) else "".join(data[kind])
                    shown.append(("".join(cell["source"]), text))
    return shown


def test_executed_notebooks_show_tables_a_person_can_read(suite_run):
    """Money in fixed decimals (no e-notation anywhere), unknown as empty, long text not cut, and the image table
    with the basic scan's result (the repository scans on push)."""
    import re

    notebooks = sorted(suite_run.out.rglob("*.ipynb"))
    tables = [(nb.name, source, text) for nb in notebooks for source, text in _shown(nb) if "<table" in text]
    assert len(tables) >= 10, [t[0] for t in tables]
    for name, source, text in tables:
        where = f"{name}, cell {source[:60]!r}"
        assert not re.search(r"(?<![\w.-])\d+(\.\d+)?e[+-]\d+(?![\w-])", text), f"{where}: e-notation"
        assert not re.search(r">(None|NaN|NaT|nan|&lt;NA&gt;)<", text), f"{where}: unknown shown as a word"
        assert not re.search(r"\w\.\.\.<", text), f"{where}: text cut"
    images = [text for name, source, text in tables if name.startswith("01_") and "scan_status" in text]
    assert images and "COMPLETE" in images[-1], "notebook 01's image table has no scan result"


#: What a passing run must not print, whoever prints it (kernels, papermill, pip, the runner).
NOISE = re.compile(r"warning|error|traceback|keyboardinterrupt|timeout waiting", re.I)


def test_a_passing_run_prints_no_warning_or_error_and_ends_with_what_still_runs(suite_run):
    run = suite_run.run
    assert run.returncode == 0, run.stdout + run.stderr
    noisy = [line for line in (run.stdout + run.stderr).splitlines() if NOISE.search(line)]
    assert noisy == [], "\n".join(noisy) + "\n\nstderr:\n" + run.stderr[-4000:]
    for line in (f"executed notebooks: {(suite_run.out / 'run').resolve()}/",
                 "the embedded backend keeps running at http://127.0.0.1:",
                 "still running in the embedded backend:",
                 "  us-east-1 service fargate-lab/sample-app: ",  # notebook 03's service, still deployed
                 "delete what the notebooks created: python -m helpers run notebooks/99_cleanup.ipynb",
                 "stop the backend and its containers: python -m helpers.local stop"):
        assert line in run.stdout, f"the closing summary lacks {line!r}:\n{run.stdout}"
    server_log = suite_run.log.read_text(errors="replace")
    assert "Traceback" not in server_log, server_log[server_log.index("Traceback") - 2000:][:5000]


def _outputs(notebook: Path) -> list[tuple[str, str]]:
    """(cell source, everything it printed or showed as text) per code cell of an executed notebook."""
    import json

    cells = []
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        texts = []
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")))
            plain = output.get("data", {}).get("text/plain", "")
            texts.append(plain if isinstance(plain, str) else "".join(plain))
        cells.append(("".join(cell["source"]), "\n".join(t for t in texts if t)))
    return cells


def test_notebook_01_shows_what_a_learner_needs_and_keeps_the_build_log_behind_a_parameter(suite_run):
    cells = _outputs(suite_run.out / "run" / "01_push_to_ecr.ipynb")
    everything = "\n".join(text for _, text in cells)
    # no raw dump of describe_repositories (a pd.Series of its answer)
    for raw in ("repositoryArn", "registryId", "imageScanningConfiguration", "dtype: object"):
        assert raw not in everything, f"notebook 01 shows {raw!r}"
    assert "mutable tags, scanned on push" in everything  # what the repository dump meant, in words
    build = next(text for source, text in cells if "sample_image.build(" in source)
    assert len(build.splitlines()) <= 6, f"the build printed {len(build.splitlines())} lines:\n{build}"
    if "built by the Docker engine" in build:
        assert re.search(r"\(\d+ lines of build log: show_build_log=True prints them\)", build), build


def test_notebook_02_shows_the_definition_once_compactly_and_no_diff_without_a_live_revision(suite_run):
    cells = _outputs(suite_run.out / "run" / "02_run_fargate_task.ipynb")
    everything = "\n".join(text for _, text in cells)
    assert everything.count("family fargate-lab-hello: cpu") == 1, "the task definition is shown more than once"
    assert "containerDefinitions" not in everything and '"family"' not in everything, "a JSON dump of it"
    shown = next(text for source, text in cells if "show.definition(" in source)
    assert len(shown.splitlines()) <= 6, shown
    registered = next(text for source, text in cells if "show.register(" in source)
    # the suite's first run of the family: nothing to compare with, so no diff against "(none)"
    assert re.fullmatch(r"registered fargate-lab-hello:\d+, the family's first ACTIVE revision \(nothing to compare "
                        r"with\)", registered.strip()), registered
    assert "--- (none)" not in everything and "+++ desired" not in everything


def test_notebook_03_says_no_change_exactly_when_its_deploy_registers_nothing(suite_run):
    """The plan and the text around it agree with what the deploy did (a v1 to v2 diff under "No diff" misled)."""
    import json

    from helpers import services

    executed = suite_run.out / "run" / "03_deploy_service.ipynb"
    cells = json.loads(executed.read_text())["cells"]
    prose = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "No diff:" not in prose, "the text decides the plan's outcome before the plan is made"
    plan = next(text for source, text in _outputs(executed) if "services.plan(" in source)
    record = services.read_record(executed)
    assert plan.startswith("No change") == (not record["registered"]), (plan, record)


def test_progress_bars_are_saved_at_their_end_once(suite_run):
    """An executed notebook keeps each bar's last state, one line (tqdm.auto widgets were saved at 0%)."""
    bars = []
    for notebook in sorted(suite_run.out.rglob("*.ipynb")):
        for _source, text in _outputs(notebook):
            lines = [line for line in text.splitlines() if re.search(r"\|\s*[\d.]+[kMG]?/[\d.]+[kMG]?\s\[", line)]
            names = [line.split(":", 1)[0] for line in lines]
            assert len(names) == len(set(names)), f"{notebook.name}: a bar saved more than once:\n{text}"
            for line in lines:
                done, total = re.search(r"\|\s*([\d.]+[kMG]?)/([\d.]+[kMG]?)\s\[", line).groups()
                assert done == total and "100%" in line, f"{notebook.name}: a bar saved before its end: {line}"
            bars += lines
    assert len(bars) >= 3, bars  # 01's upload, 02's wait, 04's demo fleet at least
