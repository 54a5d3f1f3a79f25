"""Job contracts, below both the engine and the store.

The one request type that travels from the route to the pipeline (`generation_request`), the
checks it passes once (`request_checks`, `prompt_length`), the claimed and finished job types
and the queue protocols the store implements and the engine consumes (`image_jobs`,
`fine_tunes`), their errors (`queue_errors`, `request_errors`), how outputs are encoded
(`output_encoding`) and the rule for fine-tuned model ids (`model_ids`). This package imports
only `model`, `data` and `train`.
"""
