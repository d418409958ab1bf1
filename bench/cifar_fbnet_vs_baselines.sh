#!/usr/bin/env bash
# FBNet searches at three latency targets on CIFAR-10 against the CIFAR forms of MobileNetV2,
# MobileNetV3-Small, ShuffleNetV2 and GhostNet, every net trained with the same budget, then one report
# (accuracy vs latency re-measured in one interleaved session).
#
#   bash bench/cifar_fbnet_vs_baselines.sh DIR [OUT]
#
# DIR holds cifar-10-batches-py/ (python ../shared/datasets/cifar10/make_cifar10.py DIR makes one).
# Environment knobs: TARGETS (ms, default 1.5,3.0,5.0), BASELINES, EPOCHS (8), LIMIT_TRAIN (5000),
# LIMIT_VAL (2000), THREADS (1), SEARCH (1; 0 reuses the searches already in OUT/fbnet_cifar10).
set -euo pipefail
DATA=${1:?usage: bash bench/cifar_fbnet_vs_baselines.sh DIR [OUT]}
OUT=${2:-outputs/bench}
TARGETS=${TARGETS:-1.5,3.0,5.0}
BASELINES=${BASELINES:-mobilenetv2_035,mobilenetv3_small_100,shufflenetv2_x0_5,ghostnet_100}
EPOCHS=${EPOCHS:-8}
LIMIT_TRAIN=${LIMIT_TRAIN:-5000}
LIMIT_VAL=${LIMIT_VAL:-2000}
THREADS=${THREADS:-1}
TRAIN=(data=cifar10 "data.root=$DATA" "data.limit_train=$LIMIT_TRAIN" "data.limit_val=$LIMIT_VAL" "epochs=$EPOCHS"
       "device.threads=$THREADS" "latency_threads=$THREADS")

# 1. one search per target (Hydra multirun of the CIFAR-10 preset)
if [ "${SEARCH:-1}" != 0 ]; then
    python -m nas.search -m +experiment=cifar10_fbnet "data.root=$DATA" "device.threads=$THREADS" \
        "latency.target_ms=$TARGETS" "hydra.sweep.dir=$OUT/fbnet_cifar10"
fi

# 2. train every found arch and every baseline with the same recipe and budget
ARCHS=$(ls "$OUT"/fbnet_cifar10/*/arch.yaml | paste -sd, -)
python -m nas.train -m "arch=$ARCHS" "${TRAIN[@]}" "hydra.sweep.dir=$OUT/found_cifar10"
python -m nas.train -m "model=$BASELINES" "${TRAIN[@]}" "hydra.sweep.dir=$OUT/baselines_cifar10"

# 3. one table and plot, latencies re-measured together
python -m nas.report "$OUT/found_cifar10" "$OUT/baselines_cifar10" measure=true "threads=$THREADS" \
    "out=$OUT/report_cifar10" "title=FBNet (CIFAR-10 proxy search) vs baselines, same training budget"
