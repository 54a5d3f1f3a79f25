"""The OpenAI Files API for fine-tune datasets: routes, schemas, the multipart upload reader, the
upload body limit and safe download names."""
