#!/bin/sh
# Fuzz every target for SECONDS each (default 120) from the seed corpora,
# one after the other, in a fuzzing build (see meson.build here):
#   tests/fuzz/run.sh [SECONDS] [BUILD_DIR] [WORK_DIR]
# New inputs go to WORK_DIR/<target> (the seeds stay untouched), crashes to
# WORK_DIR/crash-<target>-*, the log to WORK_DIR/<target>.log. Undefined
# behaviour counts as a crash. Exits 1 when any target found something.
set -eu
seconds=${1:-120}
build=${2:-build-fuzz}
work=${3:-/tmp/useg-fuzz}
here=$(dirname "$0")
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
for target in image zip pickle safetensors checkpoint; do
    case $target in
        checkpoint) dict=$work/checkpoint.dict; mkdir -p "$work"
                    cat "$here/zip.dict" "$here/pickle.dict" "$here/safetensors.dict" > "$dict" ;;
        *) dict=$here/$target.dict ;;
    esac
    mkdir -p "$work/$target"
    echo "== $target: $seconds s"
    log=$work/$target.log
    if ! "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -dict="$dict" -artifact_prefix="$work/crash-$target-" -print_final_stats=1 \
        "$work/$target" "$here/corpus/$target" > "$log" 2>&1; then
        status=1
        echo "   FAILED, see $log"
    fi
    grep -E "DONE|number_of_executed_units|ERROR|SUMMARY|runtime error" "$log" || true
done
exit $status
