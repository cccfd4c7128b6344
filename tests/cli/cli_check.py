"""What the command-line tests share: counted checks and running a useg command.

check() prints "ok   WHAT" or "FAIL WHAT" and counts failures (failures());
run() runs `USEG COMMAND ARGS...` and checks its exit status.
"""
import subprocess

_failures = 0


def check(cond, what):
    global _failures
    print(("ok   " if cond else "FAIL ") + what)
    _failures += 0 if cond else 1


def failures():
    return _failures


def run(useg, command, args, expect, env=None):
    """subprocess.run result of `useg command args`, its exit status checked against `expect`."""
    r = subprocess.run([useg, command] + args, capture_output=True, text=True, env=env)
    shown = " ".join(a if len(a) < 40 else "..." + a[-30:] for a in args)
    check(r.returncode == expect, f"useg {command} {shown}: exit {r.returncode}, want {expect}"
          + ("" if r.returncode == expect else f"\n{r.stdout}{r.stderr}"))
    return r
