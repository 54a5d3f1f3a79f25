"""The OpenAI fine-tuning API: routes, schemas, response bodies, job changes, the fine-tuning state
the service holds, the fine-tuned models' listing and the audit records of files and fine-tunes."""
