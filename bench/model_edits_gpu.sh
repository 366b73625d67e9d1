#!/usr/bin/env bash
# The model-edit study (docs/model_edits.md) for an 8B instruct model on one 80 GB GPU:
# two DPO adapters (PoliTune's recipe), base + adapters measured in one vLLM run, paired shifts.
# The preference data are fetched by the user (PoliTune's released sets, or any JSONL with
# prompt/chosen/rejected); set LEFT_PREFS and RIGHT_PREFS to files or hub dataset ids.
set -euo pipefail
MODEL=${MODEL:-meta-llama/Meta-Llama-3-8B-Instruct}
LEFT_PREFS=${LEFT_PREFS:?set LEFT_PREFS to a prompt/chosen/rejected file or hub dataset id}
RIGHT_PREFS=${RIGHT_PREFS:?set RIGHT_PREFS to a prompt/chosen/rejected file or hub dataset id}
OUT=${OUT:-runs/model-edits}
python -m socialbias.finetune --model "$MODEL" --data "$LEFT_PREFS" --method dpo --out "$OUT/adapters/left"
python -m socialbias.finetune --model "$MODEL" --data "$RIGHT_PREFS" --method dpo --out "$OUT/adapters/right"
python -m socialbias.eval run --backend vllm --model "$MODEL" \
    --lora left="$OUT/adapters/left" --lora right="$OUT/adapters/right" --out "$OUT/study"
python -m socialbias.eval compare --paired "$OUT/study" --out "$OUT/shifts"
