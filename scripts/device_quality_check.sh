#!/usr/bin/env bash
# One-shot device check for the quality work (issue 10): timed 50-trial search on 2 CPU cores, the batched-ensemble
# benchmark on CPU and CUDA, then tests/test_search.py. Writes logs under $OUT.
set -u
OUT=${OUT:-/tmp/out}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MULTILABEL_HOME=$OUT/home
L=amazed-suprised,happy-pleased,relaxing-calm,quiet-still,sad-lonely,angry-aggresive
python -c "import torch, optuna; print(torch.__version__, optuna.__version__, torch.cuda.is_available())" 2>&1 | tee $OUT/env.txt
nproc >> $OUT/env.txt
( start=$(date +%s.%N)
  timeout 200 taskset -c 0,1 python -m multilabel search --data tests/data/emotions.csv --labels $L --trials 50 \
      --folds 2 --members 5 --seed 0 --study s50 --out $OUT/ens.pt --quiet
  echo "rc=$? wall_s=$(echo "$(date +%s.%N) - $start" | bc)" ) > $OUT/search50.txt 2>&1 &
SEARCH=$!
timeout 120 taskset -c 2 python benchmarks/bench_ensemble.py --members 5 10 --repeats 2 > $OUT/bench_cpu.txt 2>&1
timeout 150 taskset -c 3,4 python benchmarks/bench_ensemble.py --device cuda --rows 20000 --hidden 512 --epochs 20 \
    --members 5 10 --repeats 2 > $OUT/bench_cuda.txt 2>&1
wait $SEARCH
cat $OUT/env.txt $OUT/search50.txt $OUT/bench_cpu.txt $OUT/bench_cuda.txt
timeout 150 python -m pytest -q -x -p no:cacheprovider tests/test_search.py 2>&1 | tail -5
