"""Creates one resource of every kind the suite makes, tagged or not, straight through boto3 (test data)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import boto3

from helpers.tags import as_aws

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]})


def network(session: boto3.Session, group_id: str) -> dict:
    subnet = session.client("ec2").describe_subnets()["Subnets"][0]["SubnetId"]
    return {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group_id], "assignPublicIp": "ENABLED"}}


def one_of_each(session: boto3.Session, name: str, tags: Mapping[str, str] | None,
                desired_count: int = 1) -> dict[str, str]:
    """A cluster, service, task, listener, load balancer, target group, task definition, event rule, log policy, log group, security group, role, secret
    and repository
    (with one image) named ``name``, and a runbook bucket (with one object) named after it; ``tags=None`` creates them without any tag. Returns kind -> name."""
    ecs, ecr, ec2 = session.client("ecs"), session.client("ecr"), session.client("ec2")
    ecs_tags = {"tags": as_aws(tags, "key")} if tags else {}
    aws_tags = {"Tags": as_aws(tags)} if tags else {}
    ecs.create_cluster(clusterName=name, **ecs_tags)
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    spec = [{"ResourceType": "security-group", "Tags": as_aws(tags)}] if tags else []
    group = ec2.create_security_group(GroupName=name, Description="test", VpcId=vpc, TagSpecifications=spec)
    elbv2 = session.client("elbv2")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    balancer = elbv2.create_load_balancer(Name=name, Subnets=subnets[:2], SecurityGroups=[group["GroupId"]],
                                          **aws_tags)["LoadBalancers"][0]
    target_group = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip",
                                             **aws_tags)["TargetGroups"][0]
    elbv2.create_listener(LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": target_group["TargetGroupArn"]}], **aws_tags)
    session.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, **aws_tags)
    session.client("iam").put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}]}))
    policy = session.client("iam").create_policy(PolicyName=f"{name}-policy", PolicyDocument=POLICY)["Policy"]
    session.client("iam").attach_role_policy(RoleName=name, PolicyArn=policy["Arn"])
    logs, events = session.client("logs"), session.client("events")
    logs.create_log_group(logGroupName=f"/{name}", **({"tags": dict(tags)} if tags else {}))
    group_arn = logs.describe_log_groups(logGroupNamePrefix=f"/{name}")["logGroups"][0]["arn"].removesuffix(":*")
    logs.put_resource_policy(policyName=f"{name}-delivery", policyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                                                "Action": "logs:PutLogEvents", "Resource": f"{group_arn}:*"}]}))
    events.put_rule(Name=name, EventPattern=json.dumps({"source": ["aws.ecs"]}), **aws_tags)
    events.put_targets(Rule=name, Targets=[{"Id": "logs", "Arn": group_arn}])
    session.client("secretsmanager").create_secret(Name=name, SecretString="not-a-real-secret", **aws_tags)
    ecs.register_task_definition(
        family=name, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "busybox", "memory": 512, "essential": True,
                               "environment": [{"name": "FARGATE_LAB_SIMULATED_SECONDS", "value": "600"}]}],
        **ecs_tags)  # a simulated task that keeps RUNNING, so cleanup has one to stop
    ecs.create_service(cluster=name, serviceName=name, taskDefinition=name, desiredCount=desired_count,
                       launchType="FARGATE", networkConfiguration=network(session, group["GroupId"]),
                       propagateTags="SERVICE", **ecs_tags)
    ecs.run_task(cluster=name, taskDefinition=name, launchType="FARGATE",
                 networkConfiguration=network(session, group["GroupId"]), **ecs_tags)
    ecr.create_repository(repositoryName=name, **({"tags": as_aws(tags)} if tags else {}))
    config = json.dumps({"architecture": "amd64", "os": "linux", "name": name}).encode()
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    upload = ecr.initiate_layer_upload(repositoryName=name)["uploadId"]
    ecr.upload_layer_part(repositoryName=name, uploadId=upload, partFirstByte=0, partLastByte=len(config) - 1,
                          layerPartBlob=config)
    ecr.complete_layer_upload(repositoryName=name, uploadId=upload, layerDigests=[digest])
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                      "size": len(config), "digest": digest}, "layers": []})
    ecr.put_image(repositoryName=name, imageManifest=manifest, imageTag="v1")
    bucket = runbook_bucket(name)
    s3 = session.client("s3")
    where = {} if session.region_name == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": session.region_name}}
    s3.create_bucket(Bucket=bucket, **where)
    if tags:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": as_aws(tags)})
    s3.put_object(Bucket=bucket, Key="runs/r1/out/check.ipynb", Body=b"{}")
    return {"bucket": bucket, "cluster": name, "service": name, "listener": f"{name}:80", "load balancer": name, "target group": name,
            "task definition": f"{name}:1", "event rule": name,
            "log policy": f"{name}-delivery", "log group": f"/{name}",
            "security group": name, "role": name, "secret": name, "repository": name}


def runbook_bucket(name: str) -> str:
    """The runbook bucket one_of_each makes for ``name`` (cleanup looks at ``fargate-lab-runbooks-*`` only)."""
    return f"fargate-lab-runbooks-{name.removeprefix('fargate-lab-')}"


def snapshot(session: boto3.Session) -> dict[str, set[str]]:
    """Names of what exists, tagged or not: to see what a notebook or cleanup created or touched."""
    ecs, ec2, ecr = session.client("ecs"), session.client("ec2"), session.client("ecr")
    clusters = [c for c in ecs.describe_clusters(clusters=ecs.list_clusters()["clusterArns"])["clusters"]
                if c["status"] == "ACTIVE"]
    services = {s["serviceName"] for c in clusters
                for s in ecs.describe_services(cluster=c["clusterArn"], services=ecs.list_services(
                    cluster=c["clusterArn"])["serviceArns"] or ["none"])["services"] if s["status"] == "ACTIVE"}
    elbv2 = session.client("elbv2")
    balancers = elbv2.describe_load_balancers()["LoadBalancers"]
    return {
        "cluster": {c["clusterName"] for c in clusters},
        "listener": {f"{b['LoadBalancerName']}:{listener['Port']}" for b in balancers
                     for listener in elbv2.describe_listeners(LoadBalancerArn=b["LoadBalancerArn"])["Listeners"]},
        "load balancer": {b["LoadBalancerName"] for b in balancers},
        "target group": {g["TargetGroupName"] for g in elbv2.describe_target_groups()["TargetGroups"]},
        "service": services,
        "task definition": {a.rsplit("/", 1)[1] for a in ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]},
        "log group": {g["logGroupName"] for g in session.client("logs").describe_log_groups()["logGroups"]},
        "event rule": {r["Name"] for r in session.client("events").list_rules()["Rules"]},
        "log policy": {p["policyName"] for p in session.client("logs").describe_resource_policies()["resourcePolicies"]},
        "security group": {g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]} - {"default"},
        "role": {r["RoleName"] for r in session.client("iam").list_roles()["Roles"]},
        "secret": {s["Name"] for s in session.client("secretsmanager").list_secrets()["SecretList"]},
        "repository": {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]},
        "bucket": {b["Name"] for b in session.client("s3").list_buckets()["Buckets"]
                   if b["Name"].startswith("fargate-lab-runbooks-")},
        "task": {a for c in clusters for status in ("RUNNING", "STOPPED")
                 for a in ecs.list_tasks(cluster=c["clusterArn"], desiredStatus=status)["taskArns"]},
        "image": {f"{r['repositoryName']}@{i['imageDigest']}" for r in ecr.describe_repositories()["repositories"]
                  for i in ecr.list_images(repositoryName=r["repositoryName"])["imageIds"]},
        "parameter": {p["Name"] for p in session.client("ssm").describe_parameters()["Parameters"]},
    }
