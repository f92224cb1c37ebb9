"""mediamon: connectors, every edge with the outside (HTTP, SQL, archive, Elasticsearch, Kibana).

Each owns one external system, takes explicit settings, and turns that system's failures into
the typed errors of `schemas.errors`. `http/` and `store/` are packages with a module per job.
"""
