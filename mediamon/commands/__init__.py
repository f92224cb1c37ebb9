"""Command-line sub-commands, one module each; every module exposes register(app, eval_app)."""
