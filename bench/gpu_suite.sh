#!/usr/bin/env bash
# The GPU suite on a lent GPU machine (issue 15): <= 8 minutes, one JSON, one table.
#
# Before, on a machine with the network (the device has none):
#   python bench/prepare_samples.py                        # token ids -> bench/.samples/
#   python -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl -r bench/gpu_wheels.txt                    # what the device's image lacks (TRL, Tunix, ...)
# Then on the GPU machine, from the checkout (with bench/.samples and .whl carried):
#   bash bench/gpu_suite.sh                                # writes bench/results/gpu_suite_<gpu>.json
#   bash bench/gpu_suite.sh --dry-run                      # the same parts on the CPU, tiny model
# Extra arguments go to bench/gpu_suite.py (--parts, --budget, --name). With $OUT set, the JSON and
# the whole log are copied there too.
set -uo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu_suite_site \
    .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/gpu_suite_site${PYTHONPATH:+:$PYTHONPATH}"
fi
export TOKENIZERS_PARALLELISM=false
log=$(mktemp)
python3 bench/gpu_suite.py "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ -n "${OUT:-}" ]; then
  cp "$log" "$OUT/gpu_suite.log"
  cp bench/results/gpu_suite_*.json "$OUT/" 2>/dev/null
fi
exit "$rc"
