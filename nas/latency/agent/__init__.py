"""Device agent: build a latency table on a remote target (a phone, a board, a server) that has only
the deployment runtime.

    python -m nas.latency.agent pack space=fbnet runtime=onnxruntime dtype=int8 out=job/
    # copy job/ to the device; there: python measure.py       (writes job/result.json)
    python -m nas.latency import=job/result.json               # a fingerprinted, calibrated table

``pack`` takes the options of ``python -m nas.latency`` (space, runtime, dtype, batch_size, threads,
passes, net_passes, min_run_time, net_min_run_time, context_mb, calibrate, validate, seed).
"""
