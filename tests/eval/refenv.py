"""Reference tools for the evaluation tests: a virtual environment with
PyPI packages (pycocotools, faster-coco-eval) over Debian's NumPy/SciPy.

The venv lives in the build directory and is created once (under a file
lock, since meson runs tests in parallel). A test that cannot get its
reference exits 77 so meson reports it as skipped, never as passed.
"""
import fcntl
import os
import subprocess
import sys

SKIP = 77


def skip(msg):
    print("SKIP: " + msg, file=sys.stderr)
    sys.exit(SKIP)


def ensure_venv(venv_dir, packages):
    """Return the venv's python with `packages` importable, creating or
    completing the venv as needed; skip the test when pip cannot."""
    py = os.path.join(venv_dir, "bin", "python")
    os.makedirs(os.path.dirname(os.path.abspath(venv_dir)), exist_ok=True)
    with open(venv_dir + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(py):
            r = subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv_dir],
                               capture_output=True, text=True)
            if r.returncode != 0:
                skip("cannot create a venv at %s: %s" % (venv_dir, r.stderr.strip()))
        missing = [p for p in packages if subprocess.run(
            [py, "-c", "import " + p.replace("-", "_")], capture_output=True).returncode != 0]
        if missing:
            r = subprocess.run([py, "-m", "pip", "install", "-q"] + missing, capture_output=True, text=True)
            if r.returncode != 0:
                skip("pip install %s failed (no network?): %s" % (" ".join(missing), r.stderr.strip()[-300:]))
    return py


def reexec_in_venv(venv_dir, packages):
    """Run this script again under the venv's python unless already there."""
    try:
        for p in packages:
            __import__(p.replace("-", "_"))
        return
    except ImportError:
        pass
    if os.environ.get("USEG_IN_REFENV"):
        skip("reference packages %s not importable in %s" % (packages, venv_dir))
    py = ensure_venv(venv_dir, packages)
    os.environ["USEG_IN_REFENV"] = "1"
    os.execv(py, [py] + sys.argv)
