"""A Fargate task's network interface, as ECS and EC2 document it.

"The task's ENI gets a primary private IPv4 address from the subnet"; with ``assignPublicIp`` ENABLED it also gets a
public IP (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-networking.html); the ENI has
the task's security groups and is deleted when the task is deprovisioned, and the attachment's status goes to
DELETED (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Attachment.html). EC2's DeleteSecurityGroup
fails with ``DependencyViolation`` while a network interface uses the group
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSecurityGroup.html).
"""

from __future__ import annotations

import ipaddress

import botocore.exceptions
import pytest

from helpers import local

CLUSTER = "network"


def _details(task: dict) -> dict:
    return {d["name"]: d["value"] for d in task["attachments"][0]["details"]}


def test_addresses_from_the_subnet_public_ip_groups_and_release(aws, client):
    ecs, ec2 = aws.client("ecs"), aws.client("ec2")
    ecs.create_cluster(clusterName=CLUSTER)
    local.set_clock("manual", client.info.port)
    subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]
    group = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=subnet["VpcId"])["GroupId"]
    definition = ecs.register_task_definition(
        family="net", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "busybox", "essential": True}])["taskDefinition"]
    tasks = ecs.run_task(cluster=CLUSTER, taskDefinition=definition["taskDefinitionArn"], count=2,
                         launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {
                             "subnets": [subnet["SubnetId"]], "securityGroups": [group],
                             "assignPublicIp": "ENABLED"}})["tasks"]
    addresses = [_details(t)["privateIPv4Address"] for t in tasks]
    assert len(set(addresses)) == 2
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network(subnet["CidrBlock"]) for a in addresses)
    assert tasks[0]["containers"][0]["networkInterfaces"][0]["privateIpv4Address"] == addresses[0]
    enis = [_details(t)["networkInterfaceId"] for t in tasks]
    described = ec2.describe_network_interfaces(NetworkInterfaceIds=enis)["NetworkInterfaces"]
    for eni in described:
        assert eni["Status"] == "in-use" and eni["SubnetId"] == subnet["SubnetId"]
        assert eni["PrivateIpAddress"] in addresses
        assert [g["GroupId"] for g in eni["Groups"]] == [group]
        assert eni["Association"]["PublicIp"]
        assert eni["Description"].startswith("arn:aws:ecs:us-east-1:")

    with pytest.raises(botocore.exceptions.ClientError) as caught:
        ec2.delete_security_group(GroupId=group)
    assert caught.value.response["Error"]["Code"] == "DependencyViolation"

    local.advance_clock(60, client.info.port)
    stopped = ecs.describe_tasks(cluster=CLUSTER, tasks=[t["taskArn"] for t in tasks])["tasks"]
    assert {(t["lastStatus"], t["attachments"][0]["status"]) for t in stopped} == {("STOPPED", "DELETED")}
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        ec2.describe_network_interfaces(NetworkInterfaceIds=enis[:1])
    assert caught.value.response["Error"]["Code"] == "InvalidNetworkInterfaceID.NotFound"
    ec2.delete_security_group(GroupId=group)  # nothing uses it now


def test_no_public_ip_unless_asked(aws, client):
    ecs, ec2 = aws.client("ecs"), aws.client("ec2")
    ecs.create_cluster(clusterName=CLUSTER)
    subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]
    definition = ecs.register_task_definition(
        family="net", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "busybox", "essential": True}])["taskDefinition"]
    [task] = ecs.run_task(cluster=CLUSTER, taskDefinition=definition["taskDefinitionArn"], launchType="FARGATE",
                          networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet["SubnetId"]]}})["tasks"]
    [eni] = ec2.describe_network_interfaces(NetworkInterfaceIds=[_details(task)["networkInterfaceId"]])[
        "NetworkInterfaces"]
    assert "Association" not in eni
    default = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]},
                                                    {"Name": "vpc-id", "Values": [subnet["VpcId"]]}])
    assert [g["GroupId"] for g in eni["Groups"]] == [default["SecurityGroups"][0]["GroupId"]]
