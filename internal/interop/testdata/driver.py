"""What roost's python drivers (slix.py, aiox.py) share: the JSON event
lines the Go tests read, and the arguments that say how to reach the
server."""
import json


def emit(**kw):
    """Print one event as a JSON line, at once: the Go side reads them."""
    print(json.dumps(kw), flush=True)


def add_connection_args(p):
    """Add the options that say where the server is and who logs in."""
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=5222)
    p.add_argument("--direct-tls", action="store_true")
    p.add_argument("--ca", required=True)
    p.add_argument("--jid", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--timeout", type=float, default=15)
