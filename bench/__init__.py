"""hubbub's benchmark harness: brokers side by side under one load generator.

Run everything with ``.venv/bin/python -m bench run [--quick]``; see bench/README.md.
"""
