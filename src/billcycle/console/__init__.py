"""The operator's console at ``/``: server-rendered pages (Jinja2, htmx served from this
package, no outside asset) over the same domain services as the API dialects.

``app.py`` builds the sub-app, ``session.py`` signs people in (signed cookies, CSRF),
``render.py`` draws pages, ``pages/`` holds one module of routes per area, and
``actions.py`` is the one place every console action is recorded.
"""
