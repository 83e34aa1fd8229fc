"""ECS's rules as the emulator enforces them, written from the AWS documentation (not from the client's data).

Source: Amazon ECS Developer Guide, "Amazon ECS task definition parameters for Fargate", Task size
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size),
read 2026-12-02. 8 and 16 vCPU need Linux platform version 1.4.0 or later; Windows takes 1, 2 or 4 vCPU only.
"""

from __future__ import annotations

SOURCE = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size"
READ_ON = "2026-12-02"


def _steps(low: int, high: int, step: int) -> tuple[int, ...]:
    return tuple(range(low, high + 1, step))


#: CPU units -> every memory size (MiB) Fargate accepts with it, on Linux.
FARGATE_LINUX_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: _steps(1024, 4096, 1024),
    1024: _steps(2048, 8192, 1024),
    2048: _steps(4096, 16384, 1024),
    4096: _steps(8192, 30720, 1024),
    8192: _steps(16384, 61440, 4096),
    16384: _steps(32768, 122880, 8192),
}
#: Windows containers on Fargate: 1, 2 or 4 vCPU, with the memory Linux allows at that CPU.
FARGATE_WINDOWS_CPU = (1024, 2048, 4096)


def fargate_size_is_valid(cpu_units: int, memory_mib: int, os_family: str = "LINUX") -> bool:
    """Whether Fargate accepts this task size on this operating system family."""
    if os_family.upper() != "LINUX" and cpu_units not in FARGATE_WINDOWS_CPU:
        return False
    return memory_mib in FARGATE_LINUX_SIZES.get(cpu_units, ())
