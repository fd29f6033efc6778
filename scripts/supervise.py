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
- SIGTERM or SIGINT (honcho stopping everything, Ctrl-C): passed on to the
  process, waited for; this exits with the process's code.

Standard library only: it starts before, and outlives, anything it runs.
"""

import argparse
import signal
import subprocess
import sys
import time

CONFIG_ERROR = 2  # mysite.config's exit code for a bad environment
LONG_RUN = 60.0  # seconds: a run this long resets the pause and the count


def say(line: str) -> None:
    print(f"supervise: {line}", file=sys.stderr, flush=True)


def supervise(command: list[str], *, pause: float, max_pause: float, give_up_after: int) -> int:
    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    name = " ".join(command[:4])
    wait, short_runs = pause, 0
    while True:
        started = time.monotonic()
        child = subprocess.Popen(command)  # noqa: S603  (the Procfile's own command line)
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
