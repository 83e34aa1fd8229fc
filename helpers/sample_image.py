"""The sample app's image in ECR, pushed when a notebook needs a tag that is not there yet.

ECS fails a task whose image does not exist (CannotPullContainerError), on AWS and on the
embedded backend alike, so a notebook that runs the sample app standalone makes sure its tag
exists first: built (with Docker, else assembled in Python) and pushed through the ECR API.
"""

from __future__ import annotations

from collections.abc import Callable

from helpers import ecr, images

REPOSITORY = "fargate-lab/sample-app"


def has_tag(session, repository: str, tag: str) -> bool:
    """Whether ECR repository ``repository`` holds an image tagged ``tag`` (False when it does not exist)."""
    client = session.client("ecr")
    try:
        client.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
        return True
    except (client.exceptions.ImageNotFoundException, client.exceptions.RepositoryNotFoundException):
        return False


def build(tag: str = "v1", repository: str = REPOSITORY, *, app_dir: str | None = None, show_log: bool = False,
          echo: Callable[[str], None] = print) -> images.BuildResult:
    """Build the app (the sample app by default) as ``repository:tag``; the tag is its ``APP_VERSION``.

    So the images of two tags differ (in content and digest): the sample app prints its version first and
    shows it on its page. Without ``show_log`` the build's step-by-step log is kept in ``.log`` and only what
    a learner needs is echoed: how it was built, its layers and image id.
    """
    notes: list[str] = []
    built = images.build(app_dir or images.DEFAULT_APP_DIR, tag=f"{repository}:{tag}",
                         build_args={"APP_VERSION": tag}, echo=echo if show_log else notes.append)
    if not show_log:
        for note in notes:
            if note not in built.log:  # how it was built, not a step of the build
                echo(note)
    how = "built by the Docker engine" if built.method == "docker" else "assembled in Python"
    hidden = f" ({len(built.log)} lines of build log: show_build_log=True prints them)" if built.log and not show_log else ""
    echo(f"{repository}:{tag} {how}: {built.layers} layer(s), image id (the config's digest) {built.image_id}{hidden}")
    return built


def ensure_pushed(session, tag: str = "v1", repository: str = REPOSITORY, *, app_dir: str | None = None,
                  echo: Callable[[str], None] = print) -> str:
    """``URI:tag`` of the sample app in ECR; built and pushed first only when the tag is missing."""
    ecr.validate_tag(tag)
    uri = ecr.ensure_repository(session, repository)
    if has_tag(session, repository, tag):
        return f"{uri}:{tag}"
    echo(f"{repository}:{tag} is not in ECR yet: building and pushing it (what notebook 01 does).")
    built = build(tag, repository, app_dir=app_dir, echo=lambda _: None)
    echo(ecr.push(session, built.source, repository, tag, method="api", progress=False).summary())
    return f"{uri}:{tag}"
