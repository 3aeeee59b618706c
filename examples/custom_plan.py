"""A job type of your own: a ``JobConfig`` (what to do) plus a ``JobPlan`` (how).

``WordCount`` splits its lines across the job workers (``select_executors``, on the
master), counts words on each worker (``run_task``), and adds the counts up
(``join``, on the master, once every task completed).
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import ClassVar

import attrs

from alluxio_jobs import (
    JobConfig,
    JobMaster,
    JobPlan,
    LocalTransport,
    PlanRegistry,
    RunTaskContext,
    SelectContext,
    WorkerInfo,
)
from alluxio_jobs.render import format_job_stat


@attrs.frozen(kw_only=True)
class WordCountConfig(JobConfig):
    """Count the words of ``lines``; the result names the ``top`` most common ones."""

    name: ClassVar[str] = "WordCount"  # the job's name in `job ls`

    lines: tuple[str, ...]
    top: int = 3


# A task's argument: the slice of lines one worker counts (plain data, so any transport
# can carry it). Its result: a {word: count} dict, also plain data.
Lines = list[str]
Counts = dict[str, int]


class WordCountPlan(JobPlan[WordCountConfig, Lines, Counts]):
    def select_executors(self, config: WordCountConfig, workers: Sequence[WorkerInfo],
                         ctx: SelectContext) -> list[tuple[WorkerInfo, Lines]]:
        """On the master: one task per worker, lines dealt out round-robin."""
        shares: list[Lines] = [[] for _ in workers]
        for i, line in enumerate(config.lines):
            shares[i % len(workers)].append(line)
        return [(worker, share) for worker, share in zip(workers, shares, strict=True) if share]

    def run_task(self, config: WordCountConfig, args: Lines, ctx: RunTaskContext) -> Counts:
        """On a worker: count the words of this task's lines."""
        counts: Counter[str] = Counter()
        for line in args:
            ctx.check_canceled()  # stop between chunks of work if the job was canceled
            counts.update(word.strip(".,;:!?").lower() for word in line.split())
        return dict(counts)

    def join(self, config: WordCountConfig, results: Mapping[int, Counts]) -> str:
        """On the master, once every task completed: the job's result string."""
        total: Counter[str] = Counter()
        for counts in results.values():
            total.update(counts)
        top = ", ".join(f"{word}={n}" for word, n in total.most_common(config.top))
        return f"{sum(total.values())} words, {len(total)} distinct; top: {top}"

    def describe_task(self, config: WordCountConfig, args: Lines) -> str:
        """What `job stat -v` shows for a task."""
        return f"{len(args)} line" + ("" if len(args) == 1 else "s")


POEM = tuple("""\
The job master takes a job and splits it into tasks,
the job workers run the tasks,
and the job master joins what the tasks return.
A job is finished when none of its tasks runs,
and the job service keeps the job for the job ls command.
""".splitlines())


def main() -> None:
    plans = PlanRegistry.default()  # the built-in job types...
    plans.register(WordCountConfig, WordCountPlan())  # ...plus ours
    with JobMaster(transport=LocalTransport(num_workers=3), plans=plans) as master:
        job_id = master.run(WordCountConfig(lines=POEM))
        info = master.wait(job_id, timeout=30)
        print(f"{info.name} job {job_id}: {info.status}")
        print(f"join result: {info.result}")
        print()
        print(format_job_stat(master.get_status(job_id, verbose=True), verbose=True), end="")


if __name__ == "__main__":
    main()
