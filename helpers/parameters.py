"""Each notebook's parameters as one pydantic model, checked all at once before anything is created.

A value may arrive typed (set in the notebook, ``papermill -y``, ``python -m helpers run -p``, which reads YAML)
or as text (``papermill -p`` passes ``'[us-east-1, eu-west-1]'`` and ``'{"APP_EXIT_CODE": "3"}'`` as strings):
text is read as YAML for every parameter that is not text itself. Every bad value is reported in one
:class:`~helpers.errors.InvalidParameters`, each naming the parameter and what would be valid; checks that
combine parameters (a Fargate size, ``confirm``) follow once each value is valid on its own.

A notebook's first code cell after its parameters calls ``Model.check(globals())``, which also puts the parsed
values back, so later cells use ``cpu``, ``regions`` as usual. ``python -m helpers run`` checks its ``-p`` values
with the same models (:func:`for_notebook`) before any notebook starts.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

from helpers.errors import InvalidParameter, InvalidParameters
from helpers.fargate import ARCHITECTURES, CAPACITY_PROVIDERS
from helpers.periods import VALID_PERIOD, is_period_days
from helpers.session import REGION_PATTERN


class Valid(str):
    """What a valid value of a parameter is, in words (the second half of its error message)."""


NONE_WORDS = ("None", "none", "null", "~", "Null", "NULL")


class _Yaml(yaml.SafeLoader):
    """YAML with only true/false as booleans: "no", "on" or "y" stay text (YAML 1.1 would read them as bools)."""


_Yaml.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
_Yaml.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                            list("tTfF"))


def parse_text(raw: str) -> Any:
    """A value given as text: YAML (``512``, ``true``, ``[a, b]``, ``{K: v}``), ``None``/``null`` -> None, else the text."""
    if raw.strip() in NONE_WORDS:
        return None
    try:
        value = yaml.load(raw, Loader=_Yaml)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        return raw
    return raw if value is None else value


def _text_only(annotation: Any) -> bool:
    """Whether a parameter's type takes only text (and None): such a value is never read as YAML."""
    if annotation is str:
        return True
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _text_only(typing.get_args(annotation)[0])
    if origin is Literal:
        return all(isinstance(a, str) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(args) and all(_text_only(a) for a in args)
    return False


def _must(predicate: Any) -> AfterValidator:
    def check(value: Any) -> Any:
        if not predicate(value):
            raise ValueError("out of range")
        return value
    return AfterValidator(check)


Region = Annotated[str, _must(REGION_PATTERN.fullmatch)]
Seconds = Annotated[int | float, _must(lambda v: v > 0)]
Fraction = Annotated[int | float, _must(lambda v: 0 < v <= 1)]


class NotebookParameters(BaseModel):
    """The parameters every notebook has; a subclass per notebook adds its own (same names, same defaults)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    notebook: ClassVar[str] = ""

    backend: Annotated[Literal["local", "aws"], Valid("one of 'local', 'aws' ('local': the embedded backend on "
                                                      "127.0.0.1, 'aws': your account)")] = "local"

    # -- checking ---------------------------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """What is wrong with a combination of values that are each valid (a subclass adds its rules)."""
        return []

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Self:
        """The model of ``values`` (missing ones take their defaults); InvalidParameters lists every bad one."""
        given = {name: cls._read(name, value) for name, value in values.items()}
        try:
            model = cls.model_validate(given)
        except ValidationError as exc:
            raise InvalidParameters(cls._messages(exc, values)) from None
        found = model.problems()
        if found:
            raise InvalidParameters(found)
        return model

    @classmethod
    def check(cls, namespace: MutableMapping[str, Any]) -> Self:
        """Check the parameters defined in a notebook's ``namespace`` (``globals()``); put the parsed values back."""
        model = cls.from_values({name: namespace[name] for name in cls.model_fields if name in namespace})
        namespace.update({name: getattr(model, name) for name in cls.model_fields})
        return model

    @classmethod
    def _read(cls, name: str, value: Any) -> Any:
        field = cls.model_fields.get(name)
        if field is None or not isinstance(value, str):
            return value
        if _text_only(field.annotation):
            return None if value.strip() in NONE_WORDS and _allows_none(field) else value
        return parse_text(value)

    @classmethod
    def _messages(cls, exc: ValidationError, values: Mapping[str, Any]) -> list[str]:
        messages: dict[str, str] = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else ""
            if name in messages:
                continue
            if error["type"] == "extra_forbidden":
                messages[name] = unknown_name(name, list(cls.model_fields))
                continue
            valid = valid_text(cls.model_fields[name]) or error["msg"]
            messages[name] = str(InvalidParameter(name, values.get(name), valid))
        return list(messages.values())


def valid_text(field: FieldInfo) -> str:
    """The words a parameter's error message says a valid value is."""
    return next((str(m) for m in field.metadata if isinstance(m, Valid)), "")


def _allows_none(field: FieldInfo) -> bool:
    return type(None) in typing.get_args(field.annotation)


def unknown_name(name: str, known: list[str], where: str = "this notebook") -> str:
    """The message for a parameter name nobody declares, with the closest known name."""
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"the parameters are {', '.join(sorted(known))}"
    return f"parameter {name!r} is not a parameter of {where}: {hint}"


# -- the notebooks' models -------------------------------------------------------------------------------------

REGION = Valid("an AWS region code such as 'us-east-1' or 'eu-west-3'")
REGIONS = Valid("a list of region codes such as ['us-east-1', 'eu-west-1']")
BOOL = Valid("True or False")
TIMEOUT = Valid("a number of seconds above 0")
NAME = Valid("a name: text")


class EnvironmentParameters(NotebookParameters):
    """notebooks/00_environment.ipynb."""

    notebook: ClassVar[str] = "00_environment"
    region: Annotated[Region, REGION] = "us-east-1"


def _repository(value: str) -> str:
    from helpers.ecr import validate_repository_name

    try:
        return validate_repository_name(value)
    except InvalidParameter as exc:
        raise ValueError(exc.valid) from None


def _tag(value: str) -> str:
    from helpers.ecr import validate_tag

    try:
        return validate_tag(value)
    except InvalidParameter as exc:
        raise ValueError(exc.valid) from None


Repository = Annotated[str, AfterValidator(_repository),
                       Valid("2-256 characters: lowercase letters, digits, and '.', '_', '-' between them, optionally "
                             "in '/'-separated parts, e.g. 'fargate-lab/sample-app'")]
ImageTag = Annotated[str, AfterValidator(_tag),
                     Valid("1-128 characters: letters, digits, '_', '.', '-', not starting with '.' or '-'")]


class PushParameters(NotebookParameters):
    """notebooks/01_push_to_ecr.ipynb."""

    notebook: ClassVar[str] = "01_push_to_ecr"
    region: Annotated[Region, REGION] = "us-east-1"
    repository: Repository = "fargate-lab/sample-app"
    image_tag: ImageTag = "v1"
    app_dir: Annotated[str, Valid("a directory with a Dockerfile, or '' for the sample app")] = ""
    push_method: Annotated[Literal["api", "docker"],
                           Valid("'api' (through the ECR API, no Docker needed) or 'docker' (docker push)")] = "api"
    image_archive: Annotated[str, Valid("a `docker save` archive or an OCI layout directory, or ''")] = ""
    show_build_log: Annotated[bool, BOOL] = False

    def problems(self) -> list[str]:
        if self.push_method != "docker":
            return []
        if self.image_archive:
            return [str(InvalidParameter("push_method", self.push_method, "'api' for an archive or a directory: "
                                         "'docker' pushes a local Docker image"))]
        from helpers.engine import docker_client

        if docker_client() is None:
            return [str(InvalidParameter("push_method", self.push_method, "'api' here: 'docker' needs a Docker "
                                         "engine and none answers (start Docker, or push through the ECR API)"))]
        return []


def _max_count() -> int:
    from helpers.tasks import MAX_COUNT

    return MAX_COUNT


class RunTaskParameters(NotebookParameters):
    """notebooks/02_run_fargate_task.ipynb."""

    notebook: ClassVar[str] = "02_run_fargate_task"
    region: Annotated[Region, REGION] = "us-east-1"
    cluster: Annotated[str, NAME] = "fargate-lab"
    family: Annotated[str, NAME] = "fargate-lab-hello"
    image: Annotated[str, Valid("an image URI, or '' for the sample app notebook 01 pushes")] = ""
    cpu: Annotated[int | str, Valid("CPU units (256, 512, 1024, ...) or '1 vCPU'")] = 256
    memory: Annotated[int | str, Valid("MiB (512, 1024, ...) or '2 GB'")] = 512
    command: Annotated[list[str] | str | None,
                       Valid("None (the image's command), a list such as [echo, hi], or a shell line")] = None
    environment: Annotated[dict[str, str | int | float | bool],
                           Valid("a mapping of names to values such as {APP_SECONDS: '2'}")] = {"APP_SECONDS": "2"}
    count: Annotated[int, _must(lambda v: 1 <= v <= _max_count()),
                     Valid(f"an integer from 1 to {_max_count()} (RunTask's limit per call)")] = 1
    capacity: Annotated[Literal[CAPACITY_PROVIDERS],  # type: ignore[valid-type]
                        Valid(f"one of {', '.join(map(repr, CAPACITY_PROVIDERS))}")] = "FARGATE"
    arch: Annotated[Literal[ARCHITECTURES], Valid(" or ".join(map(repr, ARCHITECTURES)))] = "X86_64"  # type: ignore[valid-type]
    timeout: Annotated[Seconds, TIMEOUT] = 600
    allow_create_role: Annotated[bool, BOOL] = True

    def problems(self) -> list[str]:
        from helpers.taskdef import size_problems

        return size_problems(self.cpu, self.memory, self.arch)


class DeployParameters(NotebookParameters):
    """notebooks/03_deploy_service.ipynb."""

    notebook: ClassVar[str] = "03_deploy_service"
    region: Annotated[Region, REGION] = "us-east-1"
    cluster: Annotated[str, NAME] = "fargate-lab"
    service: Annotated[str, NAME] = "sample-app"
    image_tag: ImageTag = "v1"
    desired_count: Annotated[int, _must(lambda v: v >= 0), Valid("a whole number of tasks, 0 or more")] = 2
    timeout: Annotated[Seconds, TIMEOUT] = 900
    rollback_on_failure: Annotated[bool, BOOL] = True
    push_if_missing: Annotated[bool, BOOL] = True
    allow_create_role: Annotated[bool, BOOL] = True
    delete_after: Annotated[bool, BOOL] = False
    confirm: Annotated[bool, BOOL] = False
    load_balancer: Annotated[bool, BOOL] = False

    def problems(self) -> list[str]:
        if self.delete_after and not self.confirm:
            return [str(InvalidParameter("confirm", self.confirm, "True to delete the service at the end "
                                                                  "(delete_after=True is destructive)"))]
        return []


class CostParameters(NotebookParameters):
    """notebooks/04_cost_and_state.ipynb."""

    notebook: ClassVar[str] = "04_cost_and_state"
    regions: Annotated[list[Region], _must(bool), REGIONS] = ["us-east-1", "eu-west-1"]
    period_days: Annotated[int, _must(is_period_days), Valid(VALID_PERIOD)] = 14
    clusters: Annotated[list[str] | None, Valid("None (every cluster) or a list of cluster names")] = None
    demo_fleet: Annotated[bool, BOOL] = True
    spot_discount: Annotated[Annotated[int | float, _must(lambda v: 0 <= v < 1)],
                             Valid("a fraction from 0 to below 1, such as 0.7")] = 0.7
    peak_cpu: Annotated[Fraction, Valid("a fraction above 0 and at most 1, such as 0.4")] = 0.4
    peak_memory: Annotated[Fraction, Valid("a fraction above 0 and at most 1, such as 0.5")] = 0.5


class CostHistoryParameters(NotebookParameters):
    """notebooks/05_cost_history.ipynb: the engine's own settings are checked by ``cur.choose_engine``."""

    notebook: ClassVar[str] = "05_cost_history"
    period_days: Annotated[int, _must(is_period_days), Valid(VALID_PERIOD)] = 7
    engine: Annotated[Literal["auto", "athena", "duckdb"], Valid("'auto', 'athena' or 'duckdb'")] = "auto"
    athena_database: Annotated[str | None, Valid("None, or the Athena database of the CUR 2.0 table")] = None
    athena_table: Annotated[str | None, Valid("None, or the Athena table of the CUR 2.0 export")] = None
    athena_workgroup: Annotated[str, NAME] = "primary"
    athena_output_location: Annotated[str | None, Valid("None, or s3://bucket/prefix/ for query results")] = None
    cur_path: Annotated[str | None, Valid("None (the embedded backend's own export), a folder or an s3:// URI")] = None


def _kinds() -> tuple[str, ...]:
    from helpers.cleanup import KINDS

    return KINDS


class CleanupParameters(NotebookParameters):
    """notebooks/99_cleanup.ipynb: deleting needs dry_run=False and confirm=True."""

    notebook: ClassVar[str] = "99_cleanup"
    region: Annotated[Region, REGION] = "us-east-1"
    dry_run: Annotated[bool, Valid("True (list only, the default) or False (delete)")] = True
    confirm: Annotated[bool, Valid("False (the default) or True (allow deleting)")] = False
    run_id: Annotated[str | None, _must(lambda v: v is None or v.strip()),
                      Valid("None (every run) or a run id such as '20261128T025122Z' (the fargate-lab:run-id tag)")
                      ] = None
    kinds: Annotated[list[str] | None, _must(lambda v: v is None or (v and set(v) <= set(_kinds()))),
                     Valid(f"None (every kind) or a list drawn from {list(_kinds())}")] = None
    regions: Annotated[list[Region] | None, _must(lambda v: v is None or v),
                       Valid("None (the session's region and the lab's) or " + REGIONS)] = None

    def problems(self) -> list[str]:
        if not self.dry_run and not self.confirm:
            return [str(InvalidParameter("confirm", self.confirm, "True to delete for real with dry_run=False "
                                                                  "(or keep dry_run=True to only list)"))]
        return []


MODELS: dict[str, type[NotebookParameters]] = {
    model.notebook: model
    for model in (EnvironmentParameters, PushParameters, RunTaskParameters, DeployParameters, CostParameters,
                  CostHistoryParameters, CleanupParameters)
}


def for_notebook(path: str | Path) -> type[NotebookParameters] | None:
    """The parameter model of a notebook of the suite (by its file name), None for any other notebook."""
    return MODELS.get(Path(path).stem)
