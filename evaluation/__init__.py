"""Scoring of grounded-reasoning predictions (pure: no kfp, mlflow, kserve or vrt imports).

masks (COCO RLE, IoU) · trace ([SEG] roles) · matching (Hungarian) · vrt_bench · reasonseg ·
predictions (the JSONL contract) · cards/render/report (HTML report) · score (all in one call).
"""
