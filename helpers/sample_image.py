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


def ensure_pushed(session, tag: str = "v1", repository: str = REPOSITORY, *, app_dir: str | None = None,
                  echo: Callable[[str], None] = print) -> str:
    """``URI:tag`` of the sample app in ECR; built and pushed first only when the tag is missing."""
    ecr.validate_tag(tag)
    uri = ecr.ensure_repository(session, repository)
    if has_tag(session, repository, tag):
        return f"{uri}:{tag}"
    echo(f"{repository}:{tag} is not in ECR yet: building and pushing it (what notebook 01 does).")
    built = images.build(app_dir or images.DEFAULT_APP_DIR, tag=f"{repository}:{tag}", echo=lambda _: None)
    ecr.push(session, built.source, repository, tag, method="api", progress=False)
    return f"{uri}:{tag}"
