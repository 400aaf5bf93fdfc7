"""The large sample app: a WSGI app whose dependencies are the point, not its code."""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"large app\n"]
