"""The OpenAI Images API and Gesso's image extensions: generations, edits, variations, image content,
job status, the image library; their schemas, request checks, job submission and waiting."""
