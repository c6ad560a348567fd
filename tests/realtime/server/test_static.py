"""The viewer's files as the server answers them."""

from __future__ import annotations

from realtime.server.static import CSP, VIEWER_DIR, load_static, static_response


def test_viewer_files_are_served_with_their_types_and_the_csp() -> None:
    files = load_static(VIEWER_DIR)
    assert "index.html" in files and "viewer.js" in files
    index = static_response(files, "/")
    assert index.status_code == 200 and index.body == (VIEWER_DIR / "index.html").read_bytes()
    assert index.headers["Content-Type"] == "text/html; charset=utf-8" and index.headers["Content-Security-Policy"] == CSP
    js = static_response(files, "/viewer.js")
    assert js.headers["Content-Type"] == "text/javascript; charset=utf-8" and js.headers["X-Content-Type-Options"] == "nosniff"
    assert static_response(files, "/../pyproject.toml").status_code == 404  # only the folder's own files, by name
    assert static_response(files, "/nope.js").status_code == 404
