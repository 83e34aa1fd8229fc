"""ECS's tag rules on the embedded backend, as the API reference's Tag type states them
(https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Tag.html): moto stores any tag, AWS refuses these."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from helpers.tags import tag_value

BAD = [
    ([{"key": "notebook", "value": "check (copy).ipynb"}], "characters tags may not have"),
    ([{"key": "k" * 129, "value": "x"}], "1 to 128 characters"),
    ([{"key": "k", "value": "v" * 257}], "at most 256 characters"),
    ([{"key": f"k{i}", "value": "v"} for i in range(51)], "at most 50 tags"),
    ([{"key": "k", "value": "a"}, {"key": "k", "value": "b"}], "appears twice"),
]


@pytest.mark.parametrize(("tags", "says"), BAD)
def test_a_cluster_with_tags_ecs_refuses_is_not_created(session, tags, says):
    ecs = session.client("ecs")
    with pytest.raises(ClientError, match=says) as refused:
        ecs.create_cluster(clusterName="tagged", tags=tags)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    assert ecs.list_clusters()["clusterArns"] == []


def test_tag_resource_refuses_them_too_and_accepts_what_ecs_allows(session):
    ecs = session.client("ecs")
    arn = ecs.create_cluster(clusterName="tagged")["cluster"]["clusterArn"]
    with pytest.raises(ClientError, match="characters tags may not have"):
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "why", "value": "it's, (mine)!"}])
    allowed = [{"key": "Équipe", "value": "data science: run/2 = +1 @ 09.30_Z"}, {"key": "empty", "value": ""}]
    ecs.tag_resource(resourceArn=arn, tags=allowed)
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == allowed


def test_the_helpers_make_any_name_a_tag_value_ecs_accepts(session):
    value = tag_value("check (copy), v2!.ipynb")
    assert value == "check _copy__ v2_.ipynb"
    session.client("ecs").create_cluster(clusterName="named", tags=[{"key": "notebook", "value": value}])
    assert len(tag_value("x" * 300)) == 256
