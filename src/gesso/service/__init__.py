"""The HTTP service: the app (`app.create_app`, run by `server.serve`), the dependencies every
route declares (`deps`), one package per resource (images, files, fine_tuning, organization,
audit, provenance, models, health, console) and the packages they share: `http` (middleware,
errors, client types), `runtime` (the state the app holds) and `policy` (the tenant's governance
applied to a request)."""
