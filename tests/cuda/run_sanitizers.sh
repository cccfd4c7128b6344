#!/bin/sh
# Run the CUDA suite under compute-sanitizer: memcheck (out-of-bounds and
# misaligned accesses, leaks of device memory) and racecheck (shared-memory
# hazards in the tiled kernels). For the machine with a GPU.
#
#   tests/cuda/run_sanitizers.sh [BUILD_DIR]     (default: build)
#
# The programs run their small cases only (USEG_CUDA_QUICK=1): the
# sanitizers slow kernels down 10-100x and the small cases already hit
# every boundary (size 1, primes, tile edges). Logs go to
# BUILD_DIR/sanitizers/. Exit status: 0 clean, 1 an error or a failed
# check, 77 when there is no GPU (or no compute-sanitizer) to run on.
set -u
build=${1:-build}
san=$(command -v compute-sanitizer 2>/dev/null || true)
[ -n "$san" ] || san=${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer
if [ ! -x "$san" ]; then
    echo "run_sanitizers: compute-sanitizer not found (PATH, \$CUDA_HOME/bin); skipped"
    exit 77
fi
logs=$build/sanitizers
mkdir -p "$logs"
export USEG_CUDA_QUICK=1
failed=0
skipped=0
for name in runtime ops nn loss index interp gemm linalg attention ncut crf merge; do
    exe=$build/tests/cuda/test_cuda_$name
    if [ ! -x "$exe" ]; then
        echo "run_sanitizers: $exe missing (configure with -Dcuda=enabled and build first)"
        exit 1
    fi
    for tool in memcheck racecheck; do
        extra=""
        [ "$tool" = memcheck ] && extra="--leak-check full"
        log=$logs/$name.$tool.log
        # shellcheck disable=SC2086
        "$san" --tool "$tool" $extra --error-exitcode 99 "$exe" >"$log" 2>&1
        rc=$?
        case $rc in
        0) echo "ok      $tool $name" ;;
        77) echo "skipped $tool $name (no GPU)"; skipped=1 ;;
        *)
            echo "FAILED  $tool $name (exit $rc): see $log"
            grep -m 5 -E "========= (Invalid|Error|Race|.*hazard)|check failed" "$log"
            failed=1
            ;;
        esac
    done
done
[ $failed -eq 0 ] || exit 1
[ $skipped -eq 0 ] || exit 77
exit 0
