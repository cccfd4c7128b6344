"""`useg devices`: the --device error paths print one clear line.

Usage: test_devices.py PATH_TO_USEG. Works with and without a GPU: the
listing says whether cuda:0 exists, and `--device cuda` must then open it
(exit 0) or fail with exactly one line naming it (exit 1).
"""
import subprocess
import sys

useg = sys.argv[1]
failures = []


def run(*args):
    p = subprocess.run([useg, "devices", *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def expect(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def one_line_error(rc, err, code, prefix, what):
    lines = err.splitlines()
    expect(rc == code, f"{what}: exit {rc}, expected {code}")
    expect(len(lines) == 1 and lines[0].startswith(prefix) and len(lines[0]) > len(prefix) + 5,
           f"{what}: expected one line starting {prefix!r}, got {err!r}")


rc, out, err = run()
expect(rc == 0 and out.splitlines()[:1] == ["cpu"], f"listing: exit {rc}, output {out!r} {err!r}")
have_gpu = any(line.startswith("cuda:0 ") for line in out.splitlines())
print("listing:", out.strip().replace("\n", " | "))

rc, out, err = run("--device", "cpu")
expect(rc == 0 and out.strip() == "cpu", f"--device cpu: exit {rc}, output {out!r}")

rc, out, err = run("--device", "bogus")
one_line_error(rc, err, 2, "useg devices: bad value 'bogus' for --device", "--device bogus")

rc, out, err = run("--device", "cuda:1023")
one_line_error(rc, err, 1, "useg devices: --device cuda:1023: ", "--device cuda:1023")

rc, out, err = run("--device", "cuda")
if have_gpu:
    expect(rc == 0 and out.startswith("cuda:0 "), f"--device cuda with a GPU: exit {rc}, {out!r} {err!r}")
else:
    one_line_error(rc, err, 1, "useg devices: --device cuda:0: ", "--device cuda without a GPU")
    print("without a GPU:", err.strip())

print(f"devices_cli: {len(failures)} failed")
sys.exit(1 if failures else 0)
