"""A minimal Flask app, served by gunicorn on $PORT."""

import os
import sys

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index() -> str:
    return f"Hello from Python {sys.version.split()[0]} (WEB_CONCURRENCY={os.environ.get('WEB_CONCURRENCY', 'unset')})\n"
