"""pydensecrf2, the reference dense CRF, in a virtual environment in the build folder.

The venv is made from Debian's /usr/bin/python3 with --system-site-packages,
so numpy, scipy, PIL and torch come from Debian; `pip install pydensecrf2`
builds densecrf from source (needs g++ and PyPI access; pip fetches Cython
for the build by itself). Made once, under a lock, and reused: the test and
the benchmark share it.
"""
import fcntl
import os
import subprocess

PACKAGE = "pydensecrf2==1.1"


def _imports(python):
    return os.path.exists(python) and subprocess.run(
        [python, "-c", "import pydensecrf.densecrf"], capture_output=True).returncode == 0


def python(build_root):
    """Path of a python that imports pydensecrf, or None after printing why not."""
    venv = os.path.join(build_root, "pydensecrf-venv")
    py = os.path.join(venv, "bin", "python")
    with open(os.path.join(build_root, "pydensecrf-venv.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _imports(py):
            return py
        steps = [["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv],
                 [py, "-m", "pip", "install", "--quiet", PACKAGE]]
        for cmd in steps:
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode:
                tail = (r.stdout + r.stderr).strip().splitlines()[-5:]
                print(f"cannot set up {PACKAGE} in {venv}: {' '.join(cmd)} failed:\n  " + "\n  ".join(tail))
                return None
        if not _imports(py):
            print(f"{PACKAGE} installed in {venv} but `import pydensecrf.densecrf` fails")
            return None
    return py
