"""Every service the lab's clients reach is kept across ``kill -9``, including those whose objects hold locks.

moto's SQS keeps a ``threading.Condition`` per queue; a state write that cannot pickle it would turn every SQS
request into a refused write (503 ``ServiceUnavailable``) (emulator/persistence.py saves a lock as a new, unheld one).
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from helpers import local
from tests.backends import free_port, lab_session


@pytest.fixture
def port():
    chosen = free_port()
    yield chosen
    local.stop(chosen)


def _kill(info: local.ServerInfo) -> None:
    os.kill(info.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while local._pid_alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_sqs_sns_and_event_targets_survive_kill_9(port):
    info = local.start(port, runtime="simulated")
    session = lab_session(info)
    sqs, sns, events = session.client("sqs"), session.client("sns"), session.client("events")
    queue = sqs.create_queue(QueueName="kept-queue")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="kept message")
    topic = sns.create_topic(Name="kept-topic")["TopicArn"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="kept-to-queue", EventPattern=json.dumps({"source": ["aws.ecs"]}))
    events.put_targets(Rule="kept-to-queue", Targets=[{"Id": "q", "Arn": queue_arn}])
    _kill(info)

    session = lab_session(local.start(port, runtime="simulated"))
    sqs, sns, events = session.client("sqs"), session.client("sns"), session.client("events")
    received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)["Messages"]
    assert [m["Body"] for m in received] == ["kept message"]
    assert topic in [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    assert [t["Arn"] for t in events.list_targets_by_rule(Rule="kept-to-queue")["Targets"]] == [queue_arn]
    # the queue's lock was rebuilt: it still takes new messages after the restart
    sqs.send_message(QueueUrl=queue, MessageBody="after the restart")
    counts = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert counts == {"ApproximateNumberOfMessages": "1", "ApproximateNumberOfMessagesNotVisible": "1"}
