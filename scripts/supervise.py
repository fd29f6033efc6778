"""Keep one process of ``make run`` running: restart it when it dies, and say so.

honcho (the Procfile) stops every process as soon as one exits, so one worker
crash would stop the whole site; production restarts the process instead
(compose ``restart: unless-stopped``, Kubernetes Deployments and their
liveness probes). The Procfile runs each Celery process under this script:

    python scripts/supervise.py celery -A mysite worker ...

- The process exits by itself: one line on stderr with its exit code, and it
  starts again after a pause (1 s, doubling up to 30 s; back to 1 s once a run
  lasted a minute).
- Exit code 2 is a configuration error (mysite/config.py): not restarted;
  this exits 2, and honcho stops the rest with the error on screen.
- Five short runs in a row (each under a minute): it gives up with the last
  exit code. A crash loop is a bug to read, not to hide.
- SIGTERM or SIGINT (honcho stopping everything: after Ctrl-C, or SIGTERM to
  honcho, it sends SIGTERM to each process group): passed on to the process,
  once, and waited for; this exits with the process's code. How a worker
  stops in time is the Procfile's and settings' business (README, "make run").
- The process runs in a process group of its own, so it hears only what this
  passes on. honcho signals a whole group: a worker's pool processes would get
  that SIGTERM too and die mid-task (WorkerLostError), and the worker a second
  one. On Linux it is killed when this script dies (PR_SET_PDEATHSIG), so
  honcho's SIGKILL, if it comes to that, still ends everything.

Standard library only: it starts before, and outlives, anything it runs.
"""

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time

CONFIG_ERROR = 2  # mysite.config's exit code for a bad environment
LONG_RUN = 60.0  # seconds: a run this long resets the pause and the count
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def say(line: str) -> None:
    print(f"supervise: {line}", file=sys.stderr, flush=True)


def own_group() -> None:
    """In the child, before it runs the command: a process group of its own,
    and SIGKILL when this script dies (Linux only)."""
    os.setpgid(0, 0)
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def supervise(command: list[str], *, pause: float, max_pause: float, give_up_after: int) -> int:
    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum, frame) -> None:
        nonlocal stopping
        if stopping:
            return  # passed on once: a worker takes a second SIGTERM as "cancel the tasks"
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    name = " ".join(command[:4])
    wait, short_runs = pause, 0
    while True:
        started = time.monotonic()
        # The Procfile's own command line; preexec_fn: no threads here.
        child = subprocess.Popen(command, preexec_fn=own_group)  # noqa: S603, PLW1509
        code = child.wait()
        if stopping:
            return code
        ran = time.monotonic() - started
        if ran >= LONG_RUN:
            wait, short_runs = pause, 0
        short_runs += ran < LONG_RUN
        if code == CONFIG_ERROR:
            say(f"{name!r} exited with {code} (a configuration error): not restarting it")
            return code
        if short_runs >= give_up_after:
            say(f"{name!r} exited with {code}, {short_runs} short runs in a row: giving up")
            return code or 1
        say(f"{name!r} exited with {code} after {ran:.0f} s: restarting it in {wait:g} s")
        deadline = time.monotonic() + wait
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.05)
        if stopping:
            return code
        wait = min(wait * 2, max_pause)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pause", type=float, default=1.0, help="first pause, seconds")
    parser.add_argument("--max-pause", type=float, default=30.0, help="longest pause, seconds")
    parser.add_argument("--give-up-after", type=int, default=5, help="short runs in a row")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to keep running")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")
    return supervise(
        command, pause=args.pause, max_pause=args.max_pause, give_up_after=args.give_up_after
    )


if __name__ == "__main__":
    sys.exit(main())
