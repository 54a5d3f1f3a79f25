"""The HTTP service: FastAPI app factory, OpenAI-shaped routers, error mapping, SSE."""
