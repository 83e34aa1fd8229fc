"""The client's Fargate size table and the emulator's own record of ECS's rules agree.

They are written separately from the AWS documentation (Amazon ECS Developer Guide, "Task CPU and memory",
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size), so a
mistake in either shows here instead of the emulator confirming the client's own table.
"""

from __future__ import annotations

import pytest

from emulator import facts
from helpers import fargate


def test_both_tables_list_the_same_linux_sizes():
    assert fargate.valid_sizes() == facts.FARGATE_LINUX_SIZES


@pytest.mark.parametrize("os_family", ["LINUX", "WINDOWS_SERVER_2022_CORE"])
def test_both_sides_accept_and_refuse_the_same_sizes(os_family):
    cpus = sorted(facts.FARGATE_LINUX_SIZES)
    memories = sorted({m for ms in facts.FARGATE_LINUX_SIZES.values() for m in ms} | {256, 3072, 125000})
    for cpu in [128, *cpus, 32768]:
        for memory in memories:
            assert fargate.is_valid_size(cpu, memory, os_family) == facts.fargate_size_is_valid(cpu, memory, os_family), \
                (cpu, memory, os_family)


def test_windows_takes_one_two_or_four_vcpu_only():
    assert {c for c, _ in fargate.all_sizes("WINDOWS_SERVER_2022_CORE")} == set(facts.FARGATE_WINDOWS_CPU) \
        == {1024, 2048, 4096}
    assert not facts.fargate_size_is_valid(8192, 16384, "WINDOWS_SERVER_2022_CORE")


def test_each_record_says_where_it_comes_from_and_when():
    assert facts.SOURCE == fargate.size_table()["source"]
    assert facts.READ_ON and fargate.size_table()["retrieved"]
