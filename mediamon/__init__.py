"""mediamon: the pipeline package.

`plans` says what a run does (`STAGES`, windows, live/backfill/catch-up plans), `stages` does it
(one function per stage), `runner` executes a plan with one checkpoint mechanism, `services`
wires the connectors every command and DAG task uses; `cli` and `commands/` are the command
line, `orchestration` the Airflow glue.
"""
