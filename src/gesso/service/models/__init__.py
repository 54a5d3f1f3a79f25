"""The OpenAI Models API: the models a tenant may use."""
