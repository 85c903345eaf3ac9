#!/usr/bin/env bash
# `make demo`: the whole CLI pipeline on the sample video Megamind.avi with its shot labels —
# extract features, build a windowed dataset, train RandomForest and LightGBM — then print
# where everything went and the test metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=${TASKML_DEMO_DIR:-data/demo}
# Objects: the pretrained COCO SSD that scripts/fetch_models.sh installs (`make demo` fetches it),
# or TASKML_YOLO_MODEL when set (e.g. /path/to/yolov8n.pt).
YOLO=${TASKML_YOLO_MODEL:-coco-ssd-mobilenet-v2}
mkdir -p "$OUT"

echo "== 1/3 extract_features (detector fusion, objects $YOLO)"
$PY manage.py extract_features --video data/samples/Megamind.avi --labels samples/Megamind_labels.csv \
  --output "$OUT/Megamind.parquet" --detector fusion --yolo-model "$YOLO"

echo "== 2/3 build_task_dataset (1 s windows, 0.25 s step; one video → time-block splits)"
$PY manage.py build_task_dataset --features "$OUT/Megamind.parquet" --output "$OUT/dataset" \
  --window-sec 1.0 --step-sec 0.25 --train-ratio 0.5 --val-ratio 0.25 --test-ratio 0.25

echo "== 3/3 train_task_classifier"
for model in rf lgbm; do
  $PY manage.py train_task_classifier --dataset "$OUT/dataset" --model "$model" \
    --output "$OUT/models/task_classifier_$model.pkl"
done

echo
echo "outputs:"
echo "  features  $OUT/Megamind.parquet"
echo "  dataset   $OUT/dataset/ (X_*.npy, y_*.npy, metadata.json)"
echo "  models    $OUT/models/task_classifier_{rf,lgbm}.pkl with _metrics.json and _meta.json"
$PY - "$OUT" <<'PY'
import json, sys
from pathlib import Path
for path in sorted(Path(sys.argv[1], "models").glob("*_metrics.json")):
    m = json.loads(path.read_text())
    print(f"  {m['model_type']:5} test accuracy {m['accuracy']:.3f}  F1 macro {m['f1_macro']:.3f}  "
          f"({m['test']['support']} test windows; confusion {m['confusion_matrix']})")
PY
echo "Megamind.avi is an 11 s clip: its test split holds only a few windows (see the warnings above), so these figures say the pipeline runs, not how good a model is. Label longer videos of your own for real figures, or use --cv."
