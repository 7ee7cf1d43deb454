"""Judge an archive's images in worker processes (``--jobs``): the same verdict, on every core.

Threads would not help: the verification is mostly Python, under the GIL.
After the one-pass intake, :func:`~appliance.core.archive.verify.verify_archive`
hands its :class:`~appliance.core.archive.verify.Work` (every claimed image,
the contents, the trust, ``now``) to a runner; :func:`runner` returns one that
spreads the images over ``jobs`` processes and puts the verdicts back in claim
order, so the report is the same byte for byte whatever ``jobs`` is.

How the workers start, and why (docs/verification.md, "Parallel verification"):

* **fork**, on purpose. A forked worker inherits the seal (the audit hook of
  :mod:`appliance._seal` is part of the process image), the trust material
  already loaded and checked (once, by the parent: no worker parses or
  replays it again), and the archive's contents, shared copy-on-write: the
  only bytes that cross a pipe are an image's index out and its verdict back.
  spawn and forkserver would re-import the appliance in a fresh interpreter
  (unsealed until it seals itself), re-read the trust, and copy every
  document the image needs into each worker; forkserver would also bind a
  listening socket.
* the pipes are ``os.pipe`` pairs (``multiprocessing`` queues): nothing but
  ``AF_UNIX``-free file descriptors, which the seal has no reason to refuse.
* a worker ignores SIGINT (the parent, which the terminal also signals,
  stops the run and says so once) and dies with SIGTERM's default action.
* a worker that dies (killed, out of memory) breaks the pool: the command
  ends with one line and exit 2, naming ``--jobs 1`` as the way to run
  without workers; nothing is judged twice or half-reported.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from appliance.core.errors import InputError, Reason

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from appliance.core.archive.verdict import ImageVerdict
    from appliance.core.archive.verify import Work

# The work of the run the worker serves: set in the parent right before the
# fork, so each worker inherits it (never pickled).
_WORK: Work | None = None
# Tasks per worker: each task's images take a worker about a tenth of a
# second or more at this count (ten signatures an image: ~15 images), so
# the pipe's round trip (about a millisecond) is a small part of it, while
# the last task, which one worker may run while the other has finished,
# stays short: at 8 tasks per worker the tail left a core idle for up to
# half a second at 10,000 signatures.
_TASKS_PER_WORKER = 32


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity), the default ``--jobs``."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux: no affinity call
        return max(1, os.cpu_count() or 1)


def _worker_start() -> None:
    """In each worker, once: the signals a worker must not act on."""
    import signal  # noqa: PLC0415 - only workers need it

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _judge(indices: range) -> list[ImageVerdict]:
    """In a worker: the verdicts of the images ``indices`` of the inherited work."""
    if _WORK is None:  # pragma: no cover - a worker is always forked with its work
        msg = "a verification worker started without its work"
        raise RuntimeError(msg)
    return [_WORK.judge(i) for i in indices]


def _chunks(count: int, jobs: int) -> list[range]:
    """``range(count)`` in contiguous tasks, in order: about 32 a worker, the last ones shorter.

    Near the end a task is at most half of each worker's share of what is
    left (``remaining // (2 * jobs)``, down to one image), so that the
    workers finish together: with equal tasks, the last one (15 images,
    about 0.2 s at 10,000 signatures) ran while the other worker had
    nothing left, half a task's time on average. At most twice the tasks.
    """
    size = max(1, count // (jobs * _TASKS_PER_WORKER))
    chunks: list[range] = []
    start = 0
    while start < count:
        step = max(1, min(size, (count - start) // (2 * jobs)))
        chunks.append(range(start, start + step))
        start += step
    return chunks


def runner(jobs: int) -> Callable[[Work], Sequence[ImageVerdict]]:
    """A runner judging a work's images in ``jobs`` forked processes (1: here, in turn).

    Raises (when run):
        InputError: a worker process ended abruptly (``--jobs``, exit 2).
    """
    if jobs < 1:
        msg = f"must be at least 1, not {jobs}"
        raise InputError(msg, where="--jobs", reason=Reason.USAGE)

    def run(work: Work) -> Sequence[ImageVerdict]:
        from appliance.core.archive.verify import in_order  # noqa: PLC0415

        if jobs == 1 or len(work) < 2:  # noqa: PLR2004 - one image: no pool to pay for
            return in_order(work)
        return _in_processes(work, min(jobs, len(work)))

    return run


def _in_processes(work: Work, jobs: int) -> list[ImageVerdict]:
    # Imported here: a start that verifies nothing (or one image) pays nothing.
    import multiprocessing  # noqa: PLC0415
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415
    from concurrent.futures.process import BrokenProcessPool  # noqa: PLC0415

    global _WORK  # noqa: PLW0603 - handed to the forked workers by inheritance
    # What is buffered now would be written again by every worker on its exit.
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    _WORK = work
    executor = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_worker_start,
    )
    verdicts: list[ImageVerdict] = []
    try:
        for part in executor.map(_judge, _chunks(len(work), jobs)):
            verdicts += part
    except BrokenProcessPool as exc:
        msg = (
            f"a verification worker process ended abruptly ({exc}); "
            "nothing was decided: run again, or with --jobs 1 to verify without workers"
        )
        raise InputError(
            msg, where=f"--jobs {jobs}", reason=Reason.INTERRUPTED
        ) from exc
    finally:
        _WORK = None
        executor.shutdown(wait=True, cancel_futures=True)
    return verdicts
