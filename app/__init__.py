"""The lingbridge stakeholder app (installed as `lingbridge.app`; run with `lingbridge app` or `python app/app.py`)."""
