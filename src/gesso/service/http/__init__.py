"""App-wide request plumbing: the ASGI middleware (authentication, body limits, allowed hosts, the
drain gate, request ids, the refusal audit), the OpenAI error mapping, the types client values are
checked against, list paging, metrics and the API docs pages."""
