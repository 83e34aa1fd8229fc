"""AWS's page sizes and list limits, as the emulator enforces them: its own record, not the client's.

Each entry names the API reference page it comes from (read 2026-12-02; botocore 1.44.8's service
models carry the same text and ranges). Where the reference gives a range but no default page size
(``default_documented=False``), the emulator uses the top of the range and the README lists it as a
known difference. EC2's describes return every item when ``MaxResults`` is absent, as EC2 documents
("Pagination" in the EC2 API reference), so their default is None.
"""

from __future__ import annotations

from dataclasses import dataclass

READ_ON = "2026-12-02"

_ECS = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_{}.html"
_ECR = "https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_{}.html"
_LOGS = "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_{}.html"
_SECRETS = "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_{}.html"
_SSM = "https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_{}.html"
_EVENTS = "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_{}.html"
_EC2 = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_{}.html"
_IAM = "https://docs.aws.amazon.com/IAM/latest/APIReference/API_{}.html"


@dataclass(frozen=True)
class Paged:
    """A list operation's page: ``limit_key`` in ``low..high``, ``default`` items when absent (None: all)."""

    service: str  # the signing name (credential scope), e.g. "ecs"
    operation: str
    limit_key: str
    token_key: str  # the request's and the answer's token member (IAM: "Marker")
    result_keys: tuple[str, ...]  # JSON members, or for XML the element holding the items
    low: int
    high: int
    default: int | None
    source: str
    default_documented: bool = True


@dataclass(frozen=True)
class Capped:
    """A request list member that takes ``low..high`` items (DescribeServices: 1-10 services)."""

    service: str
    operation: str
    member: str
    low: int
    high: int
    source: str


def _ecs(op: str, result: str, default: int = 100) -> Paged:
    return Paged("ecs", op, "maxResults", "nextToken", (result,), 1, 100, default, _ECS.format(op))


def _ecr(op: str, result: str) -> Paged:
    return Paged("ecr", op, "maxResults", "nextToken", (result,), 1, 1000, 100, _ECR.format(op))


def _ec2(op: str, element: str) -> Paged:
    return Paged("ec2", op, "MaxResults", "NextToken", (element,), 5, 1000, None, _EC2.format(op))


def _iam(op: str, element: str) -> Paged:
    return Paged("iam", op, "MaxItems", "Marker", (element,), 1, 1000, 100, _IAM.format(op))


PAGED: tuple[Paged, ...] = (
    _ecs("ListTasks", "taskArns"),
    _ecs("ListServices", "serviceArns", default=10),
    _ecs("ListServicesByNamespace", "serviceArns", default=10),
    _ecs("ListClusters", "clusterArns"),
    _ecs("ListTaskDefinitions", "taskDefinitionArns"),
    _ecs("ListTaskDefinitionFamilies", "families"),
    _ecs("ListContainerInstances", "containerInstanceArns"),
    _ecr("DescribeImages", "imageDetails"),
    _ecr("ListImages", "imageIds"),
    _ecr("DescribeRepositories", "repositories"),
    Paged("logs", "DescribeLogGroups", "limit", "nextToken", ("logGroups",), 1, 50, 50,
          _LOGS.format("DescribeLogGroups")),
    Paged("logs", "DescribeLogStreams", "limit", "nextToken", ("logStreams",), 1, 50, 50,
          _LOGS.format("DescribeLogStreams")),
    Paged("secretsmanager", "ListSecrets", "MaxResults", "NextToken", ("SecretList",), 1, 100, 100,
          _SECRETS.format("ListSecrets"), default_documented=False),
    Paged("ssm", "DescribeParameters", "MaxResults", "NextToken", ("Parameters",), 1, 50, 50,
          _SSM.format("DescribeParameters"), default_documented=False),
    Paged("ssm", "GetParametersByPath", "MaxResults", "NextToken", ("Parameters",), 1, 10, 10,
          _SSM.format("GetParametersByPath"), default_documented=False),
    Paged("events", "ListRules", "Limit", "NextToken", ("Rules",), 1, 100, 100, _EVENTS.format("ListRules"),
          default_documented=False),
    Paged("events", "ListTargetsByRule", "Limit", "NextToken", ("Targets",), 1, 100, 100,
          _EVENTS.format("ListTargetsByRule"), default_documented=False),
    Paged("events", "ListEventBuses", "Limit", "NextToken", ("EventBuses",), 1, 100, 100,
          _EVENTS.format("ListEventBuses"), default_documented=False),
    _ec2("DescribeSubnets", "subnetSet"),
    _ec2("DescribeSecurityGroups", "securityGroupInfo"),
    _ec2("DescribeVpcs", "vpcSet"),
    _ec2("DescribeNetworkInterfaces", "networkInterfaceSet"),
    _iam("ListRoles", "Roles"),
    _iam("ListPolicies", "Policies"),
    _iam("ListAttachedRolePolicies", "AttachedPolicies"),
    _iam("ListRolePolicies", "PolicyNames"),
    _iam("ListRoleTags", "Tags"),
    _iam("ListInstanceProfilesForRole", "InstanceProfiles"),
)

#: Operations whose page size is checked but whose paging moto already does (log events use their own tokens).
RANGE_ONLY: tuple[Paged, ...] = (
    Paged("logs", "GetLogEvents", "limit", "nextToken", ("events",), 1, 10000, 10000, _LOGS.format("GetLogEvents")),
    Paged("logs", "FilterLogEvents", "limit", "nextToken", ("events",), 1, 10000, 10000,
          _LOGS.format("FilterLogEvents")),
)

CAPPED: tuple[Capped, ...] = (
    Capped("ecs", "DescribeTasks", "tasks", 1, 100, _ECS.format("DescribeTasks")),
    Capped("ecs", "DescribeServices", "services", 1, 10, _ECS.format("DescribeServices")),
    Capped("ecs", "DescribeClusters", "clusters", 0, 100, _ECS.format("DescribeClusters")),
    Capped("ecr", "DescribeImages", "imageIds", 1, 100, _ECR.format("DescribeImages")),
    Capped("ecr", "BatchGetImage", "imageIds", 1, 100, _ECR.format("BatchGetImage")),
    Capped("ecr", "BatchDeleteImage", "imageIds", 1, 100, _ECR.format("BatchDeleteImage")),
    Capped("ecr", "DescribeRepositories", "repositoryNames", 1, 100, _ECR.format("DescribeRepositories")),
    Capped("ssm", "GetParameters", "Names", 1, 10, _SSM.format("GetParameters")),
    Capped("logs", "FilterLogEvents", "logStreamNames", 1, 100, _LOGS.format("FilterLogEvents")),
)

#: The error code each service answers a page size or list length outside its range with.
RANGE_ERROR = {
    "ecs": "InvalidParameterException", "ecr": "InvalidParameterException", "logs": "InvalidParameterException",
    "secretsmanager": "InvalidParameterException", "ssm": "ValidationException", "events": "ValidationException",
    "ec2": "InvalidParameterValue", "iam": "ValidationError",
}
#: ... and a token it did not hand out with.
TOKEN_ERROR = {
    "ecs": "InvalidParameterException", "ecr": "InvalidParameterException", "logs": "InvalidParameterException",
    "secretsmanager": "InvalidNextTokenException", "ssm": "InvalidNextToken", "events": "ValidationException",
    "ec2": "InvalidPaginationToken", "iam": "ValidationError",
}

PAGED_BY_CALL = {(p.service, p.operation): p for p in PAGED + RANGE_ONLY}
CAPPED_BY_CALL: dict[tuple[str, str], list[Capped]] = {}
for _cap in CAPPED:
    CAPPED_BY_CALL.setdefault((_cap.service, _cap.operation), []).append(_cap)
