"""``liteagent jobs``: run background jobs and see their status.

    liteagent jobs run refresh_datasource datasource_id=docs
    liteagent jobs run deliver_webhook webhook_url=https://hooks.example.com/x \\
        event_type=test 'payload={"hello": "world"}'
    liteagent jobs list --status dead_letter
    liteagent jobs show <job id>
    liteagent jobs schedule          # the periodic jobs in this process (no Celery beat)

Arguments are ``name=value``; a value that parses as JSON is used as JSON, else as a string.
With Celery configured (``REDIS_URL``), ``run`` queues the job for the workers (``--wait`` waits
for it); otherwise it runs here and waits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

__all__ = ["add_jobs_command"]


def add_jobs_command(sub: Any) -> None:
    """Register ``jobs`` on ``liteagent``'s sub-parsers."""
    parser = sub.add_parser(
        "jobs",
        help="run background jobs and see their status",
        description=__doc__.split("\n")[0] if __doc__ else None,
        epilog="\n".join(__doc__.split("\n")[2:9]) if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    jobs = parser.add_subparsers(dest="jobs_command", required=True)
    run = jobs.add_parser("run", help="run (or queue) one job")
    run.add_argument("name", help="the job, e.g. refresh_datasource")
    run.add_argument("arguments", nargs="*", metavar="name=value")
    run.add_argument("--wait", action="store_true", help="with Celery: wait until it finishes")
    listing = jobs.add_parser("list", help="the newest jobs")
    listing.add_argument("--status", help="queued, running, retrying, succeeded, failed, …")
    listing.add_argument("--name", help="only this job")
    listing.add_argument("--limit", type=int, default=20)
    show = jobs.add_parser("show", help="one job as JSON")
    show.add_argument("job_id")
    jobs.add_parser("schedule", help="run the periodic jobs in this process until stopped")
    parser.set_defaults(func=cmd_jobs)


def _parse_arguments(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"'{item}' is not name=value")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def cmd_jobs(args: argparse.Namespace) -> int:
    from liteagent.config import get_settings
    from liteagent.errors import LiteAgentError
    from liteagent.log import configure_logging

    settings = get_settings()
    configure_logging("WARNING", "text")
    try:
        return asyncio.run(_dispatch(args, settings))
    except LiteAgentError as exc:
        print(f"liteagent jobs: {exc.message}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"liteagent jobs: {exc}", file=sys.stderr)
        return 2


def _print_job(job: Any) -> None:
    data = {
        "id": job.id,
        "name": job.name,
        "status": job.status.value,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "args": job.args,
        "result": job.result,
        "error": job.error,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    print(json.dumps(data, indent=2, default=str))


async def _dispatch(args: argparse.Namespace, settings: Any) -> int:
    from liteagent.tasks.jobs import JobStatus, JobStore
    from liteagent.tasks.runner import InProcessJobRunner, get_job_runner

    if args.jobs_command in ("list", "show"):
        async with JobStore.open(settings.database_url) as store:
            if args.jobs_command == "show":
                job = await store.get(args.job_id)
                if job is None:
                    print(f"liteagent jobs: no job {args.job_id}", file=sys.stderr)
                    return 1
                _print_job(job)
                return 0
            status = JobStatus(args.status) if args.status else None
            for job in await store.list(name=args.name, status=status, limit=args.limit):
                error = f"  {job.error}" if job.error else ""
                print(
                    f"{job.created_at:%Y-%m-%d %H:%M:%S}  {job.id}  {job.name:<28} "
                    f"{job.status.value:<11} {job.attempts}/{job.max_attempts}{error}"
                )
            return 0
    runner = get_job_runner(settings)
    try:
        if args.jobs_command == "schedule":
            if not isinstance(runner, InProcessJobRunner):
                print(
                    "liteagent jobs: Celery is configured; run `celery -A "
                    "liteagent.tasks.celery_app beat` instead.",
                    file=sys.stderr,
                )
                return 2
            runner.start_schedule()
            print("Running the periodic jobs; Ctrl-C stops.", file=sys.stderr)
            await asyncio.Event().wait()
            return 0
        job_id = await runner.enqueue(args.name, **_parse_arguments(args.arguments))
        if isinstance(runner, InProcessJobRunner):
            job = await runner.wait(job_id)
        elif args.wait:
            job = await _poll(runner, job_id)
        else:
            print(f"queued {job_id}")
            return 0
        if job is None:
            return 1
        _print_job(job)
        return 0 if job.status is JobStatus.SUCCEEDED else 1
    finally:
        await runner.aclose()


async def _poll(runner: Any, job_id: str) -> Any:
    while True:
        job = await runner.get(job_id)
        if job is not None and job.status.finished:
            return job
        await asyncio.sleep(0.5)
